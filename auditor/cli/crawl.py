"""`auditor audit` and `auditor batch`: crawl sites politely, keep the evidence, store the results."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..faults import LocalFault, describe, is_local
from ..model import SEVERITIES, internal_error, severity_rank
from . import (FORMATS, _auditor_for, _categories, _crawl_config, _crawl_options, _db_path, _fail, _judge_options,
               _open_store, _output_file, _report_formats, _rule_info, _selection_options, _stamp, _writable_dir,
               _write_reports, main)
from .runs import _AuditRecord, _BatchProgress


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
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite store [default: OUTPUT_DIR/auditor.db].")
@_selection_options
@_judge_options
@click.option("--workers", "-j", type=click.IntRange(min=1), default=None,
              help="Processes that analyse the crawled sites, one site each [default: the number of cores, at "
                   "most one per URL]; the report's order does not change.")
def audit(urls, fmt, output, fail_on, include_text, rules_dir, quiet, db, select_ids, ignore_ids, config_path,
          ignore_robots, max_bytes, workers, **kw):
    """Crawl and audit sites: each URL's page plus up to --max-pages same-site pages.

    Every request and response is kept in a WARC file under --output-dir; `auditor scan` of that
    file re-audits the archived pages offline. URLs must be absolute http:// or https:// URLs
    (read as `batch` reads its list).

    The run goes into the store (--db) as a batch's does, so `history`, `diff` and `review` work
    after it; reviewers' decisions already in the store are applied to the report. The store is
    locked only while the audit writes into it; if another run (a batch) holds it for more than a
    few seconds, the report is still printed, one line says the audit was not recorded, and the
    exit code is the audit's own.

    Exit codes: 0 complete; 1 a finding at or above --fail-on; 2 a usage or configuration error,
    or a local fault such as a full disk; 3 partial (a page or site could not be fetched).

    \b
    Examples:
      auditor audit https://clinic.example/
      auditor audit --max-pages 5 --format html -o clinic.html https://clinic.example/
      auditor audit --only-url --format json https://clinic.example/stem-cells
    """
    from ..acquire.urls import BadURL, start_url
    from ..report import FORMATTERS
    bad = 0
    for u in urls:                      # read as `batch` reads its list, before anything is written
        try:
            start_url(u)
        except BadURL as e:
            click.echo(f"auditor: {u!r}: {e}", err=True)
            bad += 1
    if bad:
        sys.exit(2)
    _output_file(output)
    cfg = _crawl_config(config_path, ignore_robots, max_bytes, **kw)
    if cfg.warc:
        _writable_dir(cfg.output_dir, "--output-dir")
    auditor = _auditor_for(rules_dir, config_path, select_ids, ignore_ids)
    recorder = _AuditRecord(_db_path(db, cfg.output_dir))      # a --db that is not a store fails here
    reports, partial = _run_audit(auditor, list(urls), cfg, include_text, quiet, rules_dir, workers)
    reports = recorder.write(auditor, list(urls), reports, cfg, quiet)
    _write_reports(FORMATTERS[fmt], reports, output, _rule_info(auditor))
    worst = max((severity_rank(f.severity) for r in reports for f in r.findings()), default=-1)
    if fail_on and worst >= severity_rank(fail_on):
        sys.exit(1)
    if partial:
        sys.exit(3)


def _analyse_site(auditor, item):
    """One crawled site's report (in a worker process with --workers > 1); a bug met on the site is
    its error, not the run's."""
    url, docs, errors, extra, include_text = item
    try:
        return auditor.audit_site(url, docs, errors, include_text=include_text, extra=extra)
    except Exception as e:
        return auditor.audit_site(url, [], [*errors, internal_error(url, e)], extra=extra)


def _run_audit(auditor, urls, cfg, include_text, quiet, rules_dir=None, workers=None):
    import asyncio
    from ..acquire.crawl import Crawler
    from ..acquire.warc import WarcLog
    from ..workers import cores
    warc_path = Path(cfg.output_dir) / f"auditor-{_stamp()}.warc.gz"

    def stop(e):
        """A local fault (disk full, permission denied) ends the run: one line, exit 2."""
        click.echo(f"auditor: stopped: {describe(e, str(warc_path))}; nothing was reported. Free space "
                   f"(or fix the permissions) and run it again.", err=True)
        sys.exit(2)

    try:
        warc = WarcLog(warc_path, {"operator": cfg.contact, "http-header-user-agent": cfg.agent,
                                   "robots": "obey" if cfg.obey_robots else "ignore"}) if cfg.warc else None
    except OSError as e:
        stop(e)

    def progress(res):
        if not quiet:
            what = res.error or f"HTTP {res.status}"
            click.echo(f"  {res.final_url or res.url}: {what}", err=True)

    async def one(crawler, sem, url):
        async with sem:
            if not quiet:
                click.echo(f"auditor: auditing {url}", err=True)
            try:
                return await crawler.crawl_site(url, progress)
            except Exception as e:          # a bug met on one site is that site's error
                if is_local(e):
                    raise LocalFault(e, str(warc_path)) from e
                return [], [internal_error(url, e)], {}

    async def run():
        crawler = Crawler(cfg, warc)
        try:
            sem = asyncio.Semaphore(4)
            return await asyncio.gather(*(one(crawler, sem, u) for u in urls))
        finally:
            await crawler.aclose()

    try:
        results = asyncio.run(run())
        if warc:
            warc.close()
    except LocalFault as e:
        stop(e)
    except OSError as e:
        if not is_local(e):
            raise
        stop(e)
    items = []
    for url, (docs, errors, info) in zip(urls, results):
        info = {k: v for k, v in info.items() if k != "skipped"} | {"skipped_links": len(info.get("skipped", []))}
        extra = {"crawl": info, "robots": "obeyed" if cfg.obey_robots else "IGNORED (--ignore-robots)",
                 "user_agent": cfg.agent}
        if warc:
            extra["warc"] = str(warc_path)
        items.append((url, docs, errors, extra, include_text))
    reports, partial = [], False
    with _analysis_pool(auditor, rules_dir, min(workers or cores(), len(items))) as pool:
        for _, rep in pool.ordered(_analyse_site, items):
            partial = partial or bool(rep.errors)
            reports.append(rep)
    if warc and not quiet:
        click.echo(f"auditor: evidence archived in {warc_path}", err=True)
    return reports, partial


@main.command()
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False))
@_crawl_options
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite store [default: OUTPUT_DIR/auditor.db].")
@click.option("--concurrency", type=click.IntRange(1, 256), default=16, show_default=True,
              help="Sites audited at once (each host still gets one request at a time).")
@click.option("--fresh", is_flag=True, help="Start a new run instead of resuming this file's last run.")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Audit on a Dask cluster (tcp://HOST:8786; extra auditor[dask]): one task per host, results "
                   "stored here as they return. WARCs go to --output-dir, which the workers must share.")
@click.option("--formats", default="json,markdown,html", show_default=True,
              help="Per-site report formats written to OUTPUT_DIR/run-N/reports/.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--verbose", "-v", is_flag=True, help="A line per finished site on stderr.")
@click.option("--rules", "rules_dir", type=click.Path(file_okay=False, exists=True),
              help="A folder of rule files to use instead of the bundled rules.")
@_selection_options
@_judge_options
@click.option("--workers", "-j", type=click.IntRange(min=1), default=None,
              help="Processes that analyse the fetched sites [default: the number of cores]; fetching and "
                   "per-host politeness stay in one process, the store and its order do not change.")
def batch(input_file, db, concurrency, fresh, dask_address, formats, quiet, verbose, rules_dir, select_ids, ignore_ids,
          config_path, ignore_robots, max_bytes, workers, **kw):
    """Audit every site listed in INPUT_FILE, resumably, into the store.

    INPUT_FILE is one URL per line (blank lines and # comments ignored) or a CSV with a `url`
    column (other columns, such as a clinic name or state, are kept with the results). URLs are
    read as `audit` reads them: absolute http:// or https:// URLs. Invalid lines (no scheme, not
    UTF-8, duplicates) are reported with their line number and a likely fix, and skipped.

    Each site is committed to the SQLite store as soon as it finishes; after Ctrl-C or a crash,
    run the same command again to resume (finished sites are skipped; --fresh starts over).
    A local fault (disk full, permission denied) stops the run, leaving the sites in flight for
    the resume. A batch holds its store for the whole run: a second batch on it exits 2, naming
    the first; an `audit` meanwhile prints its report but is not recorded.
    Writes summary.csv, summary.jsonl, reports/ and index.html under OUTPUT_DIR/run-N/.
    Exit codes: 0 every site audited; 2 usage or input error, local fault, or store in use;
    3 some sites failed (see summary); 130 interrupted (resume by running it again).

    \b
    Examples:
      auditor batch clinics.txt
      auditor batch --concurrency 32 --max-pages 10 --output-dir out clinics.csv
      auditor export 3 --db out/auditor.db
    """
    from ..store.batch import BadLine, InputError, count_lines, read_targets
    from ..store.lock import StoreBusy, StoreLock

    cfg = _crawl_config(config_path, ignore_robots, max_bytes, **kw)
    fmts = _report_formats(formats)
    _writable_dir(cfg.output_dir, "--output-dir")
    path = Path(input_file)
    try:
        for item in read_targets(path):
            if isinstance(item, BadLine):
                click.echo(f"auditor: {item.message(path)}", err=True)
    except InputError as e:
        click.echo(f"auditor: {e}", err=True)
        sys.exit(2)
    total = count_lines(path)
    if total == 0:
        click.echo(f"auditor: {path}: no URLs to audit", err=True)
        sys.exit(2)
    client = _dask_client(dask_address) if dask_address else None
    db_path = _db_path(db, cfg.output_dir)
    lock = StoreLock(db_path, kind="batch")
    try:
        lock.acquire()              # one writer per store, held for the whole run
    except StoreBusy as e:
        _fail(f"{e}; wait for it to finish, or give this run another --output-dir (or --db)")
    except OSError as e:
        _fail(f"cannot create or lock the store {db_path}: {describe(e, str(lock.path))}")
    try:
        _batch_run(db_path, path, total, rules_dir, (config_path, select_ids, ignore_ids), cfg, fmts, fresh,
                   concurrency, quiet, verbose, client, workers)
    finally:
        lock.release()
        if client is not None:
            client.close()


def _analysis_pool(auditor, rules_dir, workers=None):
    """The process pool that analyses crawled sites (workers.py), its pipeline built once per worker."""
    from functools import partial
    from ..workers import Pool, build, cores
    meta = click.get_current_context().meta      # --model / --rules-only, as _load_auditor read them
    model = None if meta.get("auditor.rules_only") else meta.get("auditor.model", "bundled")
    return Pool(auditor, partial(build, rules_dir, model, sorted(auditor.select), sorted(auditor.ignore)),
                workers or cores())


def _dask_client(address):
    from ..store.dask_batch import DaskMissing, SchedulerUnreachable, connect
    try:
        return connect(address)
    except (DaskMissing, SchedulerUnreachable) as e:
        _fail(str(e))


def _batch_run(db_path, path, total, rules_dir, selection, cfg, fmts, fresh, concurrency, quiet, verbose,
               client=None, workers=None):
    import asyncio

    from ..acquire.crawl import Crawler
    from ..acquire.warc import WarcLog
    from ..store.batch import Stats, Target, export, input_key, read_targets, run_batch, scoring_of

    store = _open_store(db_path)          # a --db that is not a store fails before spaCy loads
    auditor = _auditor_for(rules_dir, *selection)
    options = {k: v for k, v in vars(cfg).items() if k != "allowed_types"}
    run_id, resumed = store.open_run(str(path), input_key(path), auditor.tool, options, fresh,
                                     scoring=scoring_of(auditor))
    stats = Stats(total=total)
    out_dir = Path(cfg.output_dir) / f"run-{run_id}"
    if resumed:
        click.echo(f"auditor: resuming run {run_id} ({len(store.done_urls(run_id))} of {total} sites done)", err=True)

    def stopped(e):
        """A local fault (disk full, permission denied): stop, keep the sites in flight unfinished."""
        try:
            saved = f"{len(store.done_urls(run_id))} of {total} sites are saved in run {run_id}"
        except Exception:
            saved = f"the sites finished before are saved in run {run_id}"
        click.echo(f"auditor: stopped: {describe(e)}; {saved}, the sites in flight are not. Free space (or fix "
                   f"the permissions) and run the same command again to resume.", err=True)
        sys.exit(2)

    try:
        warc = WarcLog(out_dir / f"run-{run_id}-{_stamp()}.warc.gz",
                       {"operator": cfg.contact, "http-header-user-agent": cfg.agent}) if cfg.warc and not client else None
    except OSError as e:
        stopped(LocalFault(e, str(out_dir)))
    targets = (t for t in read_targets(path) if isinstance(t, Target))
    extra = {"robots": "obeyed" if cfg.obey_robots else "IGNORED (--ignore-robots)", "user_agent": cfg.agent,
             "run": run_id}
    if warc:
        extra["warc"] = str(warc.path)
    show = not quiet and sys.stderr.isatty()
    progress = _BatchProgress(stats, show, verbose)

    pool = _analysis_pool(auditor, rules_dir, workers)

    async def go():
        crawler = Crawler(cfg, warc)
        try:
            await run_batch(auditor, crawler, store, run_id, targets, stats, concurrency, progress.site, extra=extra,
                            executor=pool._executor() if pool.workers > 1 else None)
        finally:
            await crawler.aclose()
            pool.close()

    from concurrent.futures import BrokenExecutor

    from ..store.dask_batch import SchedulerLost
    interrupted, fault, lost = False, None, None
    with progress:
        try:
            if client is not None:          # the workers write the WARCs, this process the store
                _dask_run(client, auditor, store, run_id, targets, stats, progress, cfg, rules_dir, extra, out_dir)
            else:
                asyncio.run(go())
        except KeyboardInterrupt:
            interrupted = True
        except LocalFault as e:
            fault = e
        except SchedulerLost as e:
            lost = e
        except BrokenExecutor:
            click.echo(f"auditor: an analysis worker process died (killed, or out of memory); "
                       f"{len(store.done_urls(run_id))} of {total} sites are saved in run {run_id}. Run the same "
                       f"command again to resume (--workers 1 analyses in this process).", err=True)
            sys.exit(2)
    if lost is not None:
        click.echo(f"auditor: {lost}; {len(store.done_urls(run_id))} of {total} sites are saved in run {run_id}. "
                   f"Start the scheduler again and run the same command to resume.", err=True)
        sys.exit(2)
    if fault is not None:
        stopped(fault)
    try:
        if warc:
            warc.close()
        if interrupted:
            click.echo(f"auditor: interrupted; {len(store.done_urls(run_id))} of {total} sites are saved in run "
                       f"{run_id}. Run the same command again to resume.", err=True)
            sys.exit(130)
        store.finish_run(run_id)
        info = export(store, run_id, out_dir, list(_categories()), _rule_info(auditor), fmts, scoring_of(auditor))
    except Exception as e:
        if not is_local(e):
            raise
        stopped(e)
    failed = store.db.execute("SELECT COUNT(*) FROM sites WHERE run_id=? AND status='failed'", (run_id,)).fetchone()[0]
    click.echo(f"auditor: run {run_id}: {info['sites']} sites ({failed} failed); reports in {out_dir}", err=True)
    store.close()
    sys.exit(3 if failed else 0)


def _dask_run(client, auditor, store, run_id, targets, stats, progress, cfg, rules_dir, extra, out_dir):
    from ..pipeline import BUNDLED
    from ..store.dask_batch import run_dask, spec_for
    meta = click.get_current_context().meta
    model = None if meta.get("auditor.rules_only") else meta.get("auditor.model", BUNDLED)
    run_dask(client, auditor, store, run_id, targets, stats, spec_for(cfg, auditor, rules_dir, model, extra, out_dir),
             progress.site, lambda: click.echo("auditor: no Dask worker has joined the scheduler yet; waiting", err=True))
