"""Crawler settings: defaults, a TOML file, then command-line flags, in that order of precedence.

The default file is $AUDITOR_CONFIG, else $XDG_CONFIG_HOME/auditor/config.toml (usually
~/.config/auditor/config.toml). Every key is also a flag of `auditor audit` and `auditor batch`.

    [crawl]
    user_agent = "auditor/0.1 (+https://example.org/about-our-audits)"
    contact = "https://example.org/about-our-audits"
    delay = 1.0            # seconds between requests to one host (at least; Crawl-delay may ask more)
    jitter = 0.5           # up to this many seconds added at random
    max_pages = 20
    depth = 1
    max_bytes = 5000000    # per response body, after decompression
    timeout = 30           # total seconds for one request
    connect_timeout = 10
    read_timeout = 20
    max_redirects = 5
    retries = 2
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
from typing import Optional

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
    timeout: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_redirects: int = 5
    retries: int = 2
    max_retry_after: float = 60.0
    obey_robots: bool = True
    sitemap: bool = False
    only_url: bool = False
    output_dir: str = "auditor-output"
    warc: bool = True
    max_query_params: int = 4
    include: tuple = ()               # URL regexes: follow only links matching one (wget --accept-regex)
    exclude: tuple = ()               # URL regexes: never follow links matching one (--reject-regex)
    max_sitemaps: int = 10            # sitemap files read per site (an index counts as one)
    allowed_types: tuple = field(default=("text/html", "application/xhtml+xml", "text/plain"))

    @property
    def agent(self) -> str:
        """An honest User-Agent: the tool, its version and where to read about (or object to) it."""
        return self.user_agent or f"auditor/{__version__} (clinic-marketing audit; +{self.contact})"

    @property
    def product_token(self) -> str:
        return "auditor"


class ConfigError(ValueError):
    pass


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


_TYPES = {"str": (str,), "float": (int, float), "int": (int,), "bool": (bool,), "tuple": (list, tuple)}


def _typed(p: Path, name: str, value, declared: str):
    ok = _TYPES.get(declared, (object,))
    if isinstance(value, bool) and declared != "bool" or not isinstance(value, ok):
        want = {"str": "a string", "float": "a number", "int": "a whole number", "bool": "true or false",
                "tuple": "a list"}.get(declared, declared)
        raise ConfigError(f"{p}: {name} must be {want}, not {value!r}")
    if declared == "tuple" and not all(isinstance(x, str) for x in value):
        raise ConfigError(f"{p}: {name} must be a list of strings")
    return tuple(value) if declared == "tuple" else value


def rule_selection(path: Optional[str] = None) -> dict:
    """The [rules] section: {"select": [...], "ignore": [...]} (lists of categories or rule ids)."""
    p, data = _read(path)
    section = data.get("rules", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{p}: [rules] must be a table")
    out = {}
    for k, v in section.items():
        if k not in ("select", "ignore"):
            raise ConfigError(f"{p}: unknown setting rules.{k} (known: ignore, select)")
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ConfigError(f"{p}: rules.{k} must be a list of categories or rule ids")
        out[k] = list(v)
    return out


def load(path: Optional[str] = None, **overrides) -> CrawlConfig:
    """Defaults, then the TOML file (an explicit path must exist), then the non-None overrides."""
    cfg = CrawlConfig()
    p, data = _read(path)
    if data:
        section = data.get("crawl", {k: v for k, v in data.items() if k != "rules"})
        known = {f.name: f for f in fields(CrawlConfig)}
        values = {}
        for k, v in section.items():
            if k not in known or k == "allowed_types":
                raise ConfigError(f"{p}: unknown setting {k!r} (known: "
                                  f"{', '.join(sorted(n for n in known if n != 'allowed_types'))})")
            values[k] = _typed(p, k, v, str(known[k].type))
        cfg = replace(cfg, **values)
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    import re
    for name in ("include", "exclude"):
        for rx in getattr(cfg, name):
            try:
                re.compile(rx)
            except re.error as e:
                raise ConfigError(f"{name} pattern {rx!r} is not a regular expression ({e})") from None
    for name in ("delay", "jitter", "timeout", "connect_timeout", "read_timeout"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name} must not be negative")
    if cfg.max_pages < 1 or cfg.depth < 0 or cfg.max_bytes < 1:
        raise ConfigError("max_pages must be at least 1, depth at least 0 and max_bytes positive")
    return cfg
