"""`auditor export`, `history` and `diff`: read past runs back from the store."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import _categories, _load_auditor, _open_store, _report_formats, _rule_info, _writable_dir, main

@main.command(name="export")
@click.argument("run_id", type=int)
@click.option("--db", type=click.Path(dir_okay=False, exists=True), default="auditor-output/auditor.db",
              show_default=True, help="The SQLite store.")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Where to write [default: next to the store, run-N/].")
@click.option("--formats", default="json,markdown,html", show_default=True, help="Per-site report formats.")
def export_cmd(run_id, db, output_dir, formats):
    """Write a run's summary.csv, summary.jsonl, reports/ and index.html again, from the store (no re-crawl)."""
    from ..store.batch import export
    fmts = _report_formats(formats)
    store = _open_store(Path(db))
    if store.run(run_id) is None:
        runs = ", ".join(str(r["id"]) for r in store.runs()) or "none"
        click.echo(f"auditor: no run {run_id} in {db} (runs: {runs})", err=True)
        sys.exit(2)
    out = Path(output_dir) if output_dir else Path(db).parent / f"run-{run_id}"
    _writable_dir(out, "--output-dir")
    auditor = _load_auditor(None)
    info = export(store, run_id, out, list(_categories()), _rule_info(auditor), fmts)
    click.echo(f"auditor: run {run_id}: {info['sites']} sites written to {out}", err=True)


@main.command()
@click.argument("url")
@click.option("--db", type=click.Path(dir_okay=False, exists=True), default="auditor-output/auditor.db",
              show_default=True, help="The SQLite store.")
def history(url, db):
    """List past audits of a site with their scores."""
    from ..acquire.urls import normalise
    store = _open_store(Path(db))
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

    from ..store.batch import diff as _diff
    from ..acquire.urls import normalise
    store = _open_store(Path(db))
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
