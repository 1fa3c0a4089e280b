"""`auditor scan`: audit local files, standard input and WARC archives."""
from __future__ import annotations

import sys

import click

from ..model import SEVERITIES, Error, internal_error, severity_rank
from . import (FORMATS, _auditor_for, _judge_options, _output_file, _rule_info, _selection_options, _size,
               _write_reports, main)


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
@_selection_options
@click.option("--baseline", type=click.Path(dir_okay=False),
              help="An earlier JSON report: report only findings it does not have (as bandit's baseline).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="TOML config file for [rules] select / ignore (default: $AUDITOR_CONFIG or "
                   "~/.config/auditor/config.toml).")
@_judge_options
@click.option("--workers", "-j", type=click.IntRange(min=1), default=None,
              help="Processes that analyse files in parallel [default: the number of cores]; "
                   "the output order does not change.")
def scan(paths, fmt, output, fail_on, include_text, max_size, encoding_errors, rules_dir, select_ids, ignore_ids,
         baseline, config_path, workers):
    """Audit local files: .txt (UTF-8), .html/.htm, folders (recursively), .warc.gz, or - for stdin.

    \b
    Examples:
      auditor scan samples/
      auditor scan --format jsonl page1.txt page2.html > reports.jsonl
      auditor scan --format markdown --output report.md clinic.html
      curl -s https://example.com | auditor scan -
      auditor scan --select guarantee,fda-misstatement pages/
      auditor scan --format json pages/ > before.json; auditor scan --baseline before.json pages/
    """
    from ..report import FORMATTERS
    from ..acquire.sources import ReadOptions, iter_inputs

    opts = ReadOptions(max_bytes=_size(max_size), encoding_errors=encoding_errors)
    _output_file(output)
    auditor = _auditor_for(rules_dir, config_path, select_ids, ignore_ids)
    known = None
    if baseline:
        from ..baseline import BaselineError, load
        try:
            known = load(baseline)
        except BaselineError as e:
            click.echo(f"auditor: {e}", err=True)
            sys.exit(2)
    state = {"errors": 0, "worst": -1}

    def failed(target, error):
        state["errors"] += 1
        click.echo(f"auditor: {error.reason}" if error.reason.startswith(f"{target}:")
                   else f"auditor: {target}: {error.reason}", err=True)
        return auditor.site(target, [], [error])

    def filtered(rep):
        if known is not None:
            from ..baseline import apply
            n = apply(rep, known, auditor.rules.scoring, auditor.weights)
            rep.extra["baseline"] = {"file": str(baseline), "known_findings_left_out": n}
        for f in rep.findings():
            state["worst"] = max(state["worst"], severity_rank(f.severity))
        return rep

    from functools import partial
    from ..workers import Pool, build, cores
    meta = click.get_current_context().meta      # --model / --rules-only, as _load_auditor read them
    model = None if meta.get("auditor.rules_only") else meta.get("auditor.model", "bundled")
    pool = Pool(auditor, partial(build, rules_dir, model, sorted(auditor.select), sorted(auditor.ignore)),
                workers or cores())

    def reports():
        # files go to the worker pool; errors and WARC archives are handled here, in input order
        done = pool.ordered(_page, ((item, include_text) for item in iter_inputs(list(paths), opts)),
                            local=lambda it: isinstance(it[0], (Error, tuple)))
        for (item, _), page in done:
            if isinstance(item, Error):
                yield failed(item.target, item)
                continue
            if isinstance(item, tuple) and item[0] == "warc":
                where = ", ".join(map(str, item[1]))
                try:
                    yield from map(filtered, _warc_reports(auditor, item[1], include_text, state, opts.max_bytes))
                except Exception as e:      # a bug met in one archive: its error report, then the next input
                    yield failed(where, internal_error(where, e))
                continue
            if isinstance(page, Error):     # a bug met on one input is that input's error report
                yield failed(item.target, page)
                continue
            yield filtered(auditor.site(item.target, [page]))

    with pool:
        _write_reports(FORMATTERS[fmt], reports(), output, _rule_info(auditor))
    if state["errors"]:
        sys.exit(2)
    if fail_on and state["worst"] >= severity_rank(fail_on):
        sys.exit(1)


def _page(auditor, job):
    """One file's PageResult, or its error (run in a worker: what it returns is pickled)."""
    item, include_text = job
    try:
        return auditor.page(item, include_text=include_text)
    except Exception as e:
        return internal_error(item.target, e)


def _warc_reports(auditor, paths, include_text, state, max_bytes=None):
    """One site report per audited site in the archives (the WARC files of one folder or of
    consecutive arguments are read together), rebuilt exactly as the live run built it."""
    from ..acquire.warc import read_sites
    source = ", ".join(map(str, paths))
    for target, docs, errors in read_sites(paths, max_bytes):
        if errors and not docs:
            state["errors"] += 1
            for e in errors:
                click.echo(f"auditor: {e.reason}", err=True)
        # the caller counts the worst severity, after the baseline has left known findings out
        yield auditor.audit_site(target, docs, errors, include_text=include_text, extra={"source": source})
