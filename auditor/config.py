"""Crawler settings: defaults, a TOML file, then command-line flags, in that order of precedence.

The default file is $AUDITOR_CONFIG, else $XDG_CONFIG_HOME/auditor/config.toml (usually
~/.config/auditor/config.toml). The main keys are also flags of `auditor audit` and `auditor batch`.

    [crawl]
    user_agent = "auditor/0.1 (+https://example.org/about-our-audits)"
    contact = "https://example.org/about-our-audits"
    delay = 1.0            # seconds between requests to one host (at least; Crawl-delay may ask more)
    jitter = 0.5           # up to this many seconds added at random
    max_pages = 20
    depth = 1
    max_bytes = 5000000    # per response body, after decompression
    timeout = 600          # seconds for a whole site: every request and wait; then what was fetched is kept
    request_timeout = 30   # total seconds for one request
    connect_timeout = 10
    read_timeout = 20
    max_redirects = 5
    retries = 2
    max_crawl_delay = 30   # a robots.txt Crawl-delay above this: the site is not crawled ("crawl-delay too long")
    allow_private = false  # may the start host be on a loopback/private address (never any other host)
    output_dir = "auditor-output"
    include = ["/treatments/", "/stem-cell"]   # only follow URLs matching one of these regexes
    exclude = ["/blog/"]                      # never follow URLs matching one of these

    [rules]                # for scan, audit and batch, as ruff's select / ignore
    select = ["guarantee", "fda.approved-therapy"]   # categories or rule ids; empty = all
    ignore = ["testimonial"]

A value of the wrong type, an unknown key or a bad regular expression is a ConfigError that names
the file and the key.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Optional, get_origin, get_type_hints

from . import __version__

DEFAULT_CONTACT = "https://github.com/auditor-project/auditor#crawler"


@dataclass(frozen=True)
class CrawlConfig:
    user_agent: str = ""
    contact: str = DEFAULT_CONTACT
    delay: float = 1.0
    jitter: float = 0.5
    max_pages: int = 20
    depth: int = 1
    max_bytes: int = 5_000_000
    timeout: float = 600.0            # the whole site
    request_timeout: float = 30.0     # one request
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_redirects: int = 5
    retries: int = 2
    max_retry_after: float = 60.0
    max_crawl_delay: float = 30.0
    allow_private: bool = False
    obey_robots: bool = True
    sitemap: bool = False
    only_url: bool = False
    output_dir: str = "auditor-output"
    warc: bool = True
    max_query_params: int = 4
    include: tuple[str, ...] = ()     # URL regexes: follow only links matching one (wget --accept-regex)
    exclude: tuple[str, ...] = ()     # URL regexes: never follow links matching one (--reject-regex)
    max_sitemaps: int = 10            # sitemap files read per site (an index counts as one)
    allowed_types: tuple[str, ...] = field(default=("text/html", "application/xhtml+xml", "text/plain"))

    @property
    def agent(self) -> str:
        """An honest User-Agent: the tool, its version and where to read about (or object to) it."""
        return self.user_agent or f"auditor/{__version__} (clinic-marketing audit; +{self.contact})"

    @property
    def product_token(self) -> str:
        return "auditor"


class ConfigError(ValueError):
    pass


def _typed(path: Path, key: str, value):
    """A TOML value checked against its field's type (pydantic, strict: "20" is not a number,
    1 is a float), so a wrong type is named with its key instead of failing later."""
    from pydantic import TypeAdapter, ValidationError
    try:
        return TypeAdapter(get_type_hints(CrawlConfig)[key]).validate_python(value, strict=True)
    except ValidationError as e:
        msg = e.errors()[0]["msg"]
        raise ConfigError(f"{path}: {key} = {value!r}: {msg[:1].lower()}{msg[1:]}") from None


def default_path() -> Path:
    env = os.environ.get("AUDITOR_CONFIG")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "auditor" / "config.toml"


def _read(path: Optional[str]) -> tuple[Path, dict]:
    p = Path(path) if path else default_path()
    if path and not p.exists():
        raise ConfigError(f"{p}: no such config file")
    if not p.exists():
        return p, {}
    try:
        return p, tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: {e}") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read ({e.strerror or e})") from None


@dataclass(frozen=True)
class RuleSelection:
    """The [rules] section, as ruff's select / ignore: categories or rule ids."""
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)


def _typed(path: Path, model: type, key: str, value, label: str = ""):
    """A TOML value checked against its field's type in `model` (pydantic, strict: "20" is not a
    number, 1 is a float), so a wrong type is named with its key instead of failing later."""
    from pydantic import TypeAdapter, ValidationError
    declared = get_type_hints(model)[key]
    if isinstance(value, list) and get_origin(declared) is tuple:     # TOML has arrays, the settings tuples
        value = tuple(value)
    try:
        return TypeAdapter(declared).validate_python(value, strict=True)
    except ValidationError as e:
        msg = e.errors()[0]["msg"]
        raise ConfigError(f"{path}: {label}{key} = {value!r}: {msg[:1].lower()}{msg[1:]}") from None


def _section(path: Path, data: dict, name: str, model: type, label: str = "") -> dict:
    """A table's values, each checked against `model`'s fields; an unknown key names the known ones."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [{name}] must be a table of settings")
    known = {f.name for f in fields(model)}
    values = {}
    for k, v in data.items():
        if k not in known:
            raise ConfigError(f"{path}: unknown setting {label + k!r} (known: {', '.join(sorted(known))})")
        values[k] = _typed(path, model, k, v, label)
    return values


def rule_selection(path: Optional[str] = None) -> dict:
    """The [rules] section: {"select": [...], "ignore": [...]} (lists of categories or rule ids)."""
    p, data = _read(path)
    values = _section(p, data.get("rules", {}), "rules", RuleSelection, "rules.")
    return {k: list(v) for k, v in values.items()}


def load(path: Optional[str] = None, **overrides) -> CrawlConfig:
    """Defaults, then the TOML file (an explicit path must exist), then the non-None overrides."""
    cfg = CrawlConfig()
    p, data = _read(path)
    if data:
        section = data.get("crawl", {k: v for k, v in data.items() if k != "rules"})
        values = _section(p, section, "crawl", CrawlConfig)
        cfg = replace(cfg, **values)
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    import re
    for name in ("include", "exclude"):
        for rx in getattr(cfg, name):
            try:
                re.compile(rx)
            except re.error as e:
                raise ConfigError(f"{name} pattern {rx!r} is not a regular expression ({e})") from None
    for name in ("delay", "jitter", "timeout", "request_timeout", "connect_timeout", "read_timeout",
                 "max_crawl_delay"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name} must not be negative")
    if cfg.timeout <= 0 or cfg.request_timeout <= 0:
        raise ConfigError("timeout (a whole site) and request_timeout (one request) must be positive")
    if cfg.max_pages < 1 or cfg.depth < 0 or cfg.max_bytes < 1:
        raise ConfigError("max_pages must be at least 1, depth at least 0 and max_bytes positive")
    return cfg
