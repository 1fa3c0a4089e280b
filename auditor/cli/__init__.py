"""Command line: parse options, wire the stages, map problems to messages and exit codes.

The commands live in the modules beside this one (scan, crawl, store, rules); this module holds
the group and what several commands share.

Exit codes: 0 audited, nothing at or above --fail-on; 1 a finding at or above --fail-on;
2 a usage or input error (the other inputs are still audited and reported).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from .. import __version__

FORMATS = ["terminal", "json", "jsonl", "markdown", "csv", "html"]


def _size(value: str) -> int:
    v = value.strip().upper().replace(" ", "")
    mult = 1
    for suffix, m in (("KB", 1024), ("MB", 1024 ** 2), ("GB", 1024 ** 3), ("K", 1024), ("M", 1024 ** 2), ("B", 1)):
        if v.endswith(suffix):
            v, mult = v[: -len(suffix)], m
            break
    try:
        return int(float(v) * mult)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size; write e.g. 10MB or 500KB") from None


def _judge_options(fn):
    """--model and --rules-only, for every command that audits. They are kept in the click context
    (not passed to the command) so that every command builds its Auditor the same way."""
    def keep(ctx, param, value):
        if value is not None and value is not False:
            ctx.meta["auditor." + param.name] = value
        return value
    fn = click.option("--rules-only", is_flag=True, expose_value=False, callback=keep,
                      help="Decide with the YAML rules alone, without the trained claim judge.")(fn)
    fn = click.option("--model", type=click.Path(dir_okay=False, exists=True), expose_value=False, callback=keep,
                      help="A claim-judge model built by `auditor train` [default: the one bundled].")(fn)
    return fn


def _load_auditor(rules_dir: Optional[str], select=(), ignore=()):
    from ..analyse.judge import ModelError
    from ..analyse.rules import RuleError
    from ..pipeline import BUNDLED, Auditor, SelectionError
    meta = click.get_current_context().meta
    model = None if meta.get("auditor.rules_only") else meta.get("auditor.model", BUNDLED)
    try:
        return Auditor(Path(rules_dir) if rules_dir else None, model=model, select=select, ignore=ignore)
    except RuleError as e:
        click.echo(f"auditor: bad rule file: {e}", err=True)
        sys.exit(2)
    except ModelError as e:
        click.echo(f"auditor: {e} (or audit with --rules-only)", err=True)
        sys.exit(2)
    except SelectionError as e:
        click.echo(f"auditor: {e}", err=True)
        sys.exit(2)


def _ids(values) -> list[str]:
    """--select a,b --select c -> [a, b, c]"""
    return [x.strip() for v in values or () for x in v.split(",") if x.strip()]


def _selection_options(fn):
    """--select / --ignore (categories or rule ids), shared by scan, audit and batch."""
    fn = click.option("--ignore", "ignore_ids", multiple=True, metavar="IDS",
                      help="Leave out these categories or rule ids (comma-separated; repeatable) "
                           "[config: rules.ignore].")(fn)
    fn = click.option("--select", "select_ids", multiple=True, metavar="IDS",
                      help="Report only these categories or rule ids (comma-separated; repeatable) "
                           "[config: rules.select].")(fn)
    return fn


def _auditor_for(rules_dir, config_path, select_ids, ignore_ids):
    """The engine with the rule selection: flags replace the config file's [rules] lists."""
    from ..config import ConfigError, rule_selection
    try:
        conf = rule_selection(config_path)
    except ConfigError as e:
        click.echo(f"auditor: bad configuration: {e}", err=True)
        sys.exit(2)
    select = _ids(select_ids) if select_ids else conf.get("select", [])
    ignore = _ids(ignore_ids) if ignore_ids else conf.get("ignore", [])
    return _load_auditor(rules_dir, select, ignore)


def _rule_info(auditor) -> dict:
    info = {r.id: {"rationale": r.rationale, "references": r.references, "description": r.description,
                   "name": r.name} for r in auditor.rules.rules}
    for cat, cfg in auditor.rules.page_rules.items():
        info[f"page.{cat}"] = {"rationale": " ".join(str(cfg["rationale"]).split()),
                               "references": list(cfg["references"]), "description": cfg["description"]}
    return info


def _crawl_options(fn):
    """Options shared by `audit` and `batch`: every config-file setting is also a flag."""
    opts = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="TOML config file (default: $AUDITOR_CONFIG or ~/.config/auditor/config.toml)."),
        click.option("--max-pages", type=int, help="Pages per site, the start page included [config: 20]."),
        click.option("--depth", type=int, help="Link depth from the start page [config: 1]."),
        click.option("--sitemap", is_flag=True, default=None,
                     help="Also seed pages from the site's sitemaps (robots.txt Sitemap: lines, else /sitemap.xml; "
                          "gzip and sitemap indexes read, within limits)."),
        click.option("--include", multiple=True, metavar="REGEX",
                     help="Follow only URLs matching this regex (repeatable; as wget --accept-regex) "
                          "[config: include]. The start page is always audited."),
        click.option("--exclude", multiple=True, metavar="REGEX",
                     help="Never follow URLs matching this regex (repeatable; as wget --reject-regex) "
                          "[config: exclude]."),
        click.option("--only-url", is_flag=True, default=None, help="Audit just the given page, follow no links."),
        click.option("--ignore-robots", is_flag=True, default=False,
                     help="Do not obey robots.txt (loud, and recorded in the report)."),
        click.option("--allow-private", is_flag=True, default=None,
                     help="Let the start host be on a loopback or private address (recorded in the report); "
                          "no other host may be."),
        click.option("--user-agent", help="User-Agent to send [config: auditor/VERSION (+contact)]."),
        click.option("--contact", help="Contact URL named in the User-Agent."),
        click.option("--delay", type=float, help="Seconds between requests to one host, at least [config: 1]."),
        click.option("--jitter", type=float, help="Up to this many random seconds added to the delay [config: 0.5]."),
        click.option("--timeout", type=float,
                     help="Seconds one whole site may take, requests and waits included; what was fetched "
                          "by then is kept [config: 600]."),
        click.option("--max-size", "max_bytes", help="Largest body after decompression, e.g. 5MB [config: 5MB]."),
        click.option("--retries", type=int, help="Retries on 429 and 5xx [config: 2]."),
        click.option("--output-dir", type=click.Path(file_okay=False),
                     help="Where the WARC archive (and batch files) go [config: auditor-output]."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _crawl_config(config_path, ignore_robots, max_bytes, **kw):
    from ..config import ConfigError, load
    for name in ("include", "exclude"):       # multiple=True gives () when absent: keep the config's
        kw[name] = tuple(kw.get(name) or ()) or None
    if max_bytes is not None:
        kw["max_bytes"] = _size(max_bytes)
    if ignore_robots:
        kw["obey_robots"] = False
        click.echo("auditor: WARNING: --ignore-robots: robots.txt will NOT be obeyed; "
                   "this is recorded in every report of this run", err=True)
    try:
        return load(config_path, **kw)
    except ConfigError as e:
        click.echo(f"auditor: bad configuration: {e}", err=True)
        sys.exit(2)


def _db_path(db, output_dir) -> Path:
    return Path(db) if db else Path(output_dir or "auditor-output") / "auditor.db"


def _fail(message: str):
    """One line on stderr, exit 2: a usage or input error."""
    click.echo(f"auditor: {message}", err=True)
    sys.exit(2)


def _open_store(path: Path):
    from ..store.db import Store, StoreError
    try:
        return Store(path)
    except StoreError as e:
        _fail(f"{e}; give --db the auditor.db of an earlier run, or a new file name")


REPORT_FORMATS = {"json": "json", "markdown": "md", "html": "html"}     # per-site files, and their extension


def _report_formats(value: str, option: str = "--formats") -> tuple:
    fmts = tuple(dict.fromkeys(f.strip() for f in value.split(",") if f.strip()))
    bad = [f for f in fmts if f not in REPORT_FORMATS]
    if bad or not fmts:
        problem = f"{option} {value!r}: unknown format {bad[0]!r}" if bad else f"{option} is empty"
        _fail(f"{problem}; choose from {', '.join(REPORT_FORMATS)} (summary.csv is always written)")
    return fmts


def _writable_dir(path, what: str) -> None:
    """Fail now, not after the audit, when `path` (a folder, perhaps still to be made) cannot be
    written: the nearest folder that exists must be a writable folder."""
    import os
    p = Path(path).resolve()
    probe = p
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        _fail(f"{what} {path}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        _fail(f"{what} {path}: the folder {probe} is not writable")


def _write_reports(formatter, reports, output, rule_info) -> None:
    """Format reports to -o FILE or stdout; a file that cannot be written is one line and exit 2."""
    from ..faults import describe
    try:
        out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout
        try:
            formatter(reports, out, rule_info)
        finally:
            if output:
                out.close()
    except OSError as e:
        if not output:
            raise
        _fail(f"cannot write {output}: {describe(e)}")


def _output_file(output) -> None:
    """-o FILE: its folder must exist and be writable before anything is audited."""
    import os
    if output is None:
        return
    parent = Path(output).resolve().parent
    if not parent.is_dir():
        _fail(f"-o {output}: the folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        _fail(f"-o {output}: the folder {parent} is not writable")


def _stamp() -> str:
    from datetime import datetime, timezone
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _categories():
    from ..analyse.rules import CATEGORIES, PAGE_CATEGORIES
    return (*CATEGORIES, *PAGE_CATEGORIES)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="auditor")
def main():
    """Find documented red flags in the marketing of stem cell and regenerative-medicine clinics.

    \b
    Start with:
      auditor scan samples/            audit local text and HTML files (or a .warc.gz)
      auditor audit URL                crawl a site politely and audit it, keeping a WARC
      auditor batch clinics.txt        audit a list of sites, resumably, into a SQLite store
      auditor history URL / diff URL   past audits of a site, and what changed
      auditor review --site URL        confirm or dismiss a site's findings, with reasons
      auditor rules --check            validate rule files and run their examples

    Add --help to any command for its options and exit codes.
    """



# the commands register themselves on `main`
from . import crawl, judge, review, rules, scan, store  # noqa: E402,F401
