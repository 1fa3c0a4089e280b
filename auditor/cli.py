"""Command line: parse options, wire the stages, map problems to messages and exit codes.

Exit codes: 0 audited, nothing at or above --fail-on; 1 a finding at or above --fail-on;
2 a usage or input error (the other inputs are still audited and reported).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from . import __version__
from .model import SEVERITIES, Error, severity_rank

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


def _load_auditor(rules_dir: Optional[str]):
    from .pipeline import Auditor
    from .rules import RuleError
    try:
        return Auditor(Path(rules_dir) if rules_dir else None)
    except RuleError as e:
        click.echo(f"auditor: bad rule file: {e}", err=True)
        sys.exit(2)


def _rule_info(auditor) -> dict:
    info = {r.id: {"rationale": r.rationale, "references": r.references, "description": r.description,
                   "name": r.name} for r in auditor.rules.rules}
    for cat, cfg in auditor.rules.page_rules.items():
        info[f"page.{cat}"] = {"rationale": " ".join(str(cfg["rationale"]).split()),
                               "references": list(cfg["references"]), "description": cfg["description"]}
    return info


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
      auditor rules --check            validate rule files and run their examples

    Add --help to any command for its options and exit codes.
    """


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="terminal", show_default=True,
              help="Output format: a terminal summary, one JSON report (an array for several inputs), "
                   "JSON lines (one report per input, in input order), markdown, CSV (one row per finding), or one self-contained HTML report.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), help="Exit 1 when a finding of this severity or worse exists.")
@click.option("--include-text", is_flag=True, help="Put each page's audited text in the report.")
@click.option("--max-size", default="10MB", show_default=True, help="Skip files larger than this (e.g. 50MB).")
@click.option("--encoding-errors", type=click.Choice(["strict", "replace"]), default="strict", show_default=True,
              help="Bytes that are not UTF-8: report the position and skip (strict), or decode with U+FFFD.")
@click.option("--rules", "rules_dir", type=click.Path(file_okay=False, exists=True),
              help="A folder of rule files to use instead of the bundled rules.")
def scan(paths, fmt, output, fail_on, include_text, max_size, encoding_errors, rules_dir):
    """Audit local files: .txt (UTF-8), .html/.htm, folders (recursively), .warc.gz, or - for stdin.

    \b
    Examples:
      auditor scan samples/
      auditor scan --format jsonl page1.txt page2.html > reports.jsonl
      auditor scan --format markdown --output report.md clinic.html
      curl -s https://example.com | auditor scan -
    """
    from .report import FORMATTERS
    from .sources import ReadOptions, iter_inputs

    opts = ReadOptions(max_bytes=_size(max_size), encoding_errors=encoding_errors)
    auditor = _load_auditor(rules_dir)
    state = {"errors": 0, "worst": -1}

    def reports():
        for item in iter_inputs(list(paths), opts):
            if isinstance(item, Error):
                state["errors"] += 1
                click.echo(f"auditor: {item.reason}", err=True)
                yield auditor.site(item.target, [], [item])
                continue
            if isinstance(item, tuple) and item[0] == "warc":
                yield from _warc_reports(auditor, item[1], include_text, state)
                continue
            page = auditor.page(item, include_text=include_text)
            for f in page.findings:
                state["worst"] = max(state["worst"], severity_rank(f.severity))
            yield auditor.site(item.target, [page])

    out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        FORMATTERS[fmt](reports(), out, _rule_info(auditor))
    finally:
        if output:
            out.close()
    if state["errors"]:
        sys.exit(2)
    if fail_on and state["worst"] >= severity_rank(fail_on):
        sys.exit(1)


def _warc_reports(auditor, path, include_text, state):
    """One site report per audited site in the archive, rebuilt exactly as the live run built it."""
    from .warc import read_sites
    for target, docs, errors in read_sites(path):
        if errors and not docs:
            state["errors"] += 1
            for e in errors:
                click.echo(f"auditor: {e.reason}", err=True)
        rep = auditor.audit_site(target, docs, errors, include_text=include_text, extra={"source": str(path)})
        for f in rep.findings():
            state["worst"] = max(state["worst"], severity_rank(f.severity))
        yield rep


def _crawl_options(fn):
    """Options shared by `audit` and `batch`: every config-file setting is also a flag."""
    opts = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="TOML config file (default: $AUDITOR_CONFIG or ~/.config/auditor/config.toml)."),
        click.option("--max-pages", type=int, help="Pages per site, the start page included [config: 20]."),
        click.option("--depth", type=int, help="Link depth from the start page [config: 1]."),
        click.option("--sitemap", is_flag=True, default=None, help="Also seed pages from /sitemap.xml."),
        click.option("--only-url", is_flag=True, default=None, help="Audit just the given page, follow no links."),
        click.option("--ignore-robots", is_flag=True, default=False,
                     help="Do not obey robots.txt (loud, and recorded in the report)."),
        click.option("--user-agent", help="User-Agent to send [config: auditor/VERSION (+contact)]."),
        click.option("--contact", help="Contact URL named in the User-Agent."),
        click.option("--delay", type=float, help="Seconds between requests to one host, at least [config: 1]."),
        click.option("--jitter", type=float, help="Up to this many random seconds added to the delay [config: 0.5]."),
        click.option("--timeout", type=float, help="Total seconds for one request [config: 30]."),
        click.option("--max-size", "max_bytes", help="Largest body after decompression, e.g. 5MB [config: 5MB]."),
        click.option("--retries", type=int, help="Retries on 429 and 5xx [config: 2]."),
        click.option("--output-dir", type=click.Path(file_okay=False),
                     help="Where the WARC archive (and batch files) go [config: auditor-output]."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _crawl_config(config_path, ignore_robots, max_bytes, **kw):
    from .config import ConfigError, load
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


@main.command()
@click.argument("urls", nargs=-1, required=True)
@_crawl_options
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="terminal", show_default=True,
              help="Output format (as for scan).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), help="Exit 1 when a finding of this severity or worse exists.")
@click.option("--include-text", is_flag=True, help="Put each page's audited text in the report.")
@click.option("--rules", "rules_dir", type=click.Path(file_okay=False, exists=True),
              help="A folder of rule files to use instead of the bundled rules.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
def audit(urls, fmt, output, fail_on, include_text, rules_dir, quiet, config_path, ignore_robots, max_bytes, **kw):
    """Crawl and audit sites: each URL's page plus up to --max-pages same-site pages.

    Every request and response is kept in a WARC file under --output-dir; `auditor scan` of that
    file re-audits the archived pages offline. Exit codes: 0 complete; 1 a finding at or above
    --fail-on; 2 a usage or configuration error; 3 partial (a page or site could not be fetched).

    \b
    Examples:
      auditor audit https://clinic.example/
      auditor audit --max-pages 5 --format html -o clinic.html https://clinic.example/
      auditor audit --only-url --format json https://clinic.example/stem-cells
    """
    from .report import FORMATTERS
    cfg = _crawl_config(config_path, ignore_robots, max_bytes, **kw)
    auditor = _load_auditor(rules_dir)
    reports, partial = _run_audit(auditor, list(urls), cfg, include_text, quiet)
    out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        FORMATTERS[fmt](reports, out, _rule_info(auditor))
    finally:
        if output:
            out.close()
    worst = max((severity_rank(f.severity) for r in reports for f in r.findings()), default=-1)
    if fail_on and worst >= severity_rank(fail_on):
        sys.exit(1)
    if partial:
        sys.exit(3)


def _run_audit(auditor, urls, cfg, include_text, quiet):
    import asyncio
    from .crawl import Crawler
    from .warc import WarcLog

    warc_path = Path(cfg.output_dir) / f"auditor-{_stamp()}.warc.gz"
    warc = WarcLog(warc_path, {"operator": cfg.contact, "http-header-user-agent": cfg.agent,
                               "robots": "obey" if cfg.obey_robots else "ignore"}) if cfg.warc else None

    def progress(res):
        if not quiet:
            what = res.error or f"HTTP {res.status}"
            click.echo(f"  {res.final_url or res.url}: {what}", err=True)

    async def one(crawler, sem, url):
        async with sem:
            if not quiet:
                click.echo(f"auditor: auditing {url}", err=True)
            return await crawler.crawl_site(url, progress)

    async def run():
        crawler = Crawler(cfg, warc)
        try:
            sem = asyncio.Semaphore(4)
            return await asyncio.gather(*(one(crawler, sem, u) for u in urls))
        finally:
            await crawler.aclose()

    try:
        results = asyncio.run(run())
    finally:
        if warc:
            warc.close()
    reports, partial = [], False
    for url, (docs, errors, info) in zip(urls, results):
        info = {k: v for k, v in info.items() if k != "skipped"} | {"skipped_links": len(info.get("skipped", []))}
        extra = {"crawl": info, "robots": "obeyed" if cfg.obey_robots else "IGNORED (--ignore-robots)",
                 "user_agent": cfg.agent}
        if warc:
            extra["warc"] = str(warc_path)
        rep = auditor.audit_site(url, docs, errors, include_text=include_text, extra=extra)
        partial = partial or bool(errors)
        reports.append(rep)
    if warc and not quiet:
        click.echo(f"auditor: evidence archived in {warc_path}", err=True)
    return reports, partial


def _db_path(db, output_dir) -> Path:
    return Path(db) if db else Path(output_dir or "auditor-output") / "auditor.db"


@main.command()
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False))
@_crawl_options
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite store [default: OUTPUT_DIR/auditor.db].")
@click.option("--concurrency", type=click.IntRange(1, 256), default=16, show_default=True,
              help="Sites audited at once (each host still gets one request at a time).")
@click.option("--fresh", is_flag=True, help="Start a new run instead of resuming this file's last run.")
@click.option("--formats", default="json,markdown,html", show_default=True,
              help="Per-site report formats written to OUTPUT_DIR/run-N/reports/.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--verbose", "-v", is_flag=True, help="A line per finished site on stderr.")
@click.option("--rules", "rules_dir", type=click.Path(file_okay=False, exists=True),
              help="A folder of rule files to use instead of the bundled rules.")
def batch(input_file, db, concurrency, fresh, formats, quiet, verbose, rules_dir, config_path, ignore_robots,
          max_bytes, **kw):
    """Audit every site listed in INPUT_FILE, resumably, into the store.

    INPUT_FILE is one URL per line (blank lines and # comments ignored) or a CSV with a `url`
    column (other columns, such as a clinic name or state, are kept with the results). Invalid
    lines are reported with their line number and skipped.

    Each site is committed to the SQLite store as soon as it finishes; after Ctrl-C or a crash,
    run the same command again to resume (finished sites are skipped; --fresh starts over).
    Writes summary.csv, summary.jsonl, reports/ and index.html under OUTPUT_DIR/run-N/.
    Exit codes: 0 every site audited; 2 usage or input error; 3 some sites failed (see summary);
    130 interrupted (resume by running it again).

    \b
    Examples:
      auditor batch clinics.txt
      auditor batch --concurrency 32 --max-pages 10 --output-dir out clinics.csv
      auditor export 3 --db out/auditor.db
    """
    import asyncio

    from .batch import BadLine, Stats, Target, count_lines, export, input_key, read_targets, run_batch
    from .crawl import Crawler
    from .store import Store
    from .warc import WarcLog

    cfg = _crawl_config(config_path, ignore_robots, max_bytes, **kw)
    fmts = tuple(f.strip() for f in formats.split(",") if f.strip())
    bad_fmt = [f for f in fmts if f not in ("json", "markdown", "html")]
    if bad_fmt:
        raise click.BadParameter(f"unknown format {bad_fmt[0]!r} (json, markdown, html)", param_hint="--formats")
    path = Path(input_file)
    for item in read_targets(path):
        if isinstance(item, BadLine):
            click.echo(f"auditor: {path}:{item.line}: {item.reason}: {item.text!r}; skipped", err=True)
    total = count_lines(path)
    if total == 0:
        click.echo(f"auditor: {path}: no URLs to audit", err=True)
        sys.exit(2)
    auditor = _load_auditor(rules_dir)
    store = Store(_db_path(db, cfg.output_dir))
    options = {k: v for k, v in vars(cfg).items() if k != "allowed_types"}
    run_id, resumed = store.open_run(str(path), input_key(path), auditor.tool, options, fresh)
    stats = Stats(total=total)
    out_dir = Path(cfg.output_dir) / f"run-{run_id}"
    if resumed:
        click.echo(f"auditor: resuming run {run_id} ({len(store.done_urls(run_id))} of {total} sites done)", err=True)
    warc = WarcLog(out_dir / f"run-{run_id}-{_stamp()}.warc.gz",
                   {"operator": cfg.contact, "http-header-user-agent": cfg.agent}) if cfg.warc else None
    targets = (t for t in read_targets(path) if isinstance(t, Target))
    extra = {"robots": "obeyed" if cfg.obey_robots else "IGNORED (--ignore-robots)", "user_agent": cfg.agent,
             "run": run_id}
    if warc:
        extra["warc"] = str(warc.path)
    show = not quiet and sys.stderr.isatty()
    progress = _BatchProgress(stats, show, verbose)

    async def go():
        crawler = Crawler(cfg, warc)
        try:
            await run_batch(auditor, crawler, store, run_id, targets, stats, concurrency, progress.site, extra=extra)
        finally:
            await crawler.aclose()

    interrupted = False
    with progress:
        try:
            asyncio.run(go())
        except KeyboardInterrupt:
            interrupted = True
    if warc:
        warc.close()
    if interrupted:
        click.echo(f"auditor: interrupted; {len(store.done_urls(run_id))} of {total} sites are saved in run "
                   f"{run_id}. Run the same command again to resume.", err=True)
        sys.exit(130)
    store.finish_run(run_id)
    info = export(store, run_id, out_dir, list(_categories()), _rule_info(auditor), fmts)
    failed = store.db.execute("SELECT COUNT(*) FROM sites WHERE run_id=? AND status='failed'", (run_id,)).fetchone()[0]
    click.echo(f"auditor: run {run_id}: {info['sites']} sites ({failed} failed); reports in {out_dir}", err=True)
    store.close()
    sys.exit(3 if failed else 0)


def _stamp() -> str:
    from datetime import datetime, timezone
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _categories():
    from .rules import CATEGORIES, PAGE_CATEGORIES
    return (*CATEGORIES, *PAGE_CATEGORIES)


class _BatchProgress:
    """A live rich display on a terminal; nothing (or a line per site with --verbose) otherwise."""

    def __init__(self, stats, show: bool, verbose: bool):
        self.stats, self.show, self.verbose = stats, show, verbose
        self._progress = None

    def __enter__(self):
        if self.show:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)
            self._progress = Progress(TextColumn("[bold]auditing"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                      TimeRemainingColumn(), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task("sites", total=self.stats.total, detail="")
        return self

    def site(self, target, rep):
        s = self.stats
        if self._progress is not None:
            elapsed = self._progress.tasks[0].elapsed or 1e-9
            rate = (s.done + s.failed) / elapsed
            self._progress.update(self._task, completed=s.done + s.failed + s.skipped,
                                  detail=f"{s.failed} failed · {s.pages} pages · {rate:.1f} sites/s")
        if self.verbose:
            state = f"score {rep.score:g} ({rep.band})" if rep.pages else "FAILED: " + "; ".join(
                e.reason for e in rep.errors[:2])
            click.echo(f"  {target.url}: {state}", err=True)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)


@main.command(name="export")
@click.argument("run_id", type=int)
@click.option("--db", type=click.Path(dir_okay=False, exists=True), default="auditor-output/auditor.db",
              show_default=True, help="The SQLite store.")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Where to write [default: next to the store, run-N/].")
@click.option("--formats", default="json,markdown,html", show_default=True, help="Per-site report formats.")
def export_cmd(run_id, db, output_dir, formats):
    """Write a run's summary.csv, summary.jsonl, reports/ and index.html again, from the store (no re-crawl)."""
    from .batch import export
    from .store import Store
    store = Store(Path(db))
    if store.run(run_id) is None:
        runs = ", ".join(str(r["id"]) for r in store.runs()) or "none"
        click.echo(f"auditor: no run {run_id} in {db} (runs: {runs})", err=True)
        sys.exit(2)
    out = Path(output_dir) if output_dir else Path(db).parent / f"run-{run_id}"
    auditor = _load_auditor(None)
    info = export(store, run_id, out, list(_categories()), _rule_info(auditor),
                  tuple(f.strip() for f in formats.split(",") if f.strip()))
    click.echo(f"auditor: run {run_id}: {info['sites']} sites written to {out}", err=True)


@main.command()
@click.argument("url")
@click.option("--db", type=click.Path(dir_okay=False, exists=True), default="auditor-output/auditor.db",
              show_default=True, help="The SQLite store.")
def history(url, db):
    """List past audits of a site with their scores."""
    from .store import Store
    from .urls import normalise
    store = Store(Path(db))
    rows = store.history(normalise(url) or url)
    if not rows:
        click.echo(f"auditor: no audits of {url} in {db}", err=True)
        sys.exit(2)
    click.echo(f"{'run':>4}  {'audited at':20}  {'score':>5}  {'band':8}  {'findings':>8}  rules")
    for r in rows:
        score = f"{r['score']:g}" if r["score"] is not None else "-"
        state = r["band"] or f"FAILED: {r['error']}"
        click.echo(f"{r['run_id']:>4}  {r['audited_at']:20}  {score:>5}  {state:8}  {r['n_findings']:>8}  "
                   f"{r['rules_version']}")


@main.command()
@click.argument("url")
@click.option("--db", type=click.Path(dir_okay=False, exists=True), default="auditor-output/auditor.db",
              show_default=True, help="The SQLite store.")
@click.option("--since", help="Compare the latest audit with the last one on or before this date (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
def diff(url, db, since, as_json):
    """Findings added and removed between a site's last two audits (matched by rule and evidence text,
    not by position, so edits elsewhere on a page do not show as changes)."""
    import json as _json

    from .batch import diff as _diff
    from .store import Store
    from .urls import normalise
    store = Store(Path(db))
    try:
        d = _diff(store, normalise(url) or url, since + "T23:59:59Z" if since and len(since) == 10 else since)
    except LookupError as e:
        click.echo(f"auditor: {e}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(_json.dumps(d, indent=2, ensure_ascii=False))
        return
    click.echo(f"{d['url']}: run {d['from']['run']} ({d['from']['audited_at']}, score {d['from']['score']}) -> "
               f"run {d['to']['run']} ({d['to']['audited_at']}, score {d['to']['score']})")
    for sign, key in (("+", "added"), ("-", "removed")):
        for f in d[key]:
            click.echo(f"{sign} {f['severity']:8} {f['rule']:32} {f['text']!r}  ({f['page']})")
    click.echo(f"{len(d['added'])} added, {len(d['removed'])} removed, {d['unchanged']} unchanged")


@main.command()
@click.option("--check", "check", is_flag=True, help="Validate the rule files and run every rule's examples.")
@click.argument("rules_dir", required=False, type=click.Path(file_okay=False))
@click.option("--category", help="Only rules of this category.")
def rules(check, rules_dir, category):
    """List the rules (id, category, severity, description), or --check a folder of rule files.

    \b
    Examples:
      auditor rules
      auditor rules --check              check the bundled rules
      auditor rules --check my-rules/    check your own rule files
    """
    from .checks import run_examples
    from .rules import RuleError, load_rules

    try:
        rs = load_rules(Path(rules_dir) if rules_dir else None)
        from .pipeline import Auditor
        auditor = Auditor(ruleset=rs)
    except RuleError as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    if not check:
        for r in rs.rules:
            if category and r.category != category:
                continue
            click.echo(f"{r.id:36} {r.category:20} {r.severity:8} {r.description}")
        for cat, cfg in rs.page_rules.items():
            if not category or category == cat:
                click.echo(f"{'page.' + cat:36} {cat:20} {cfg['severity']:8} {cfg['description']}")
        return
    failures, total = run_examples(auditor, category)
    for msg in failures:
        click.echo(msg)
    n_rules = len([r for r in rs.rules if not category or r.category == category])
    click.echo(f"{len(rs.files)} files, {n_rules} rules, {total} examples: "
               f"{total - len(failures)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
