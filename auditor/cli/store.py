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
    from ..store.batch import scoring_of
    info = export(store, run_id, out, list(_categories()), _rule_info(auditor), fmts, scoring_of(auditor))
    click.echo(f"auditor: run {run_id}: {info['sites']} sites written to {out}", err=True)


@main.command()
@click.argument("url")
@click.option("--db", type=click.Path(dir_okay=False, exists=True), default="auditor-output/auditor.db",
              show_default=True, help="The SQLite store.")
@click.option("--json", "as_json", is_flag=True, help="Print the audits as a JSON array.")
def history(url, db, as_json):
    """List past audits of a site (by `audit` or `batch`) with their scores and findings.

    Findings are distinct claims (category and evidence text) that no reviewer dismissed, counted
    as `diff` counts them; "score" is after review, "machine" before it.
    """
    import json as _json

    from ..acquire.urls import normalise
    from ..store.history import history as _history
    store = _open_store(Path(db))
    rows = _history(store, normalise(url) or url)
    if not rows:
        click.echo(f"auditor: no audits of {url} in {db}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(_json.dumps(rows, indent=2, ensure_ascii=False))
        return
    click.echo(f"{'run':>4}  {'kind':5}  {'audited at':20}  {'score':>5}  {'machine':>7}  {'band':8}  "
               f"{'findings':>8}  {'confirmed':>9}  {'dismissed':>9}  rules")
    for r in rows:
        score = f"{r['score']:g}" if r["score"] is not None else "-"
        machine = f"{r['machine_score']:g}" if r["machine_score"] is not None else "-"
        state = r["band"] or f"FAILED: {r['error']}"
        click.echo(f"{r['run']:>4}  {r['run_kind']:5}  {r['audited_at']:20}  {score:>5}  {machine:>7}  {state:8}  "
                   f"{r['findings']:>8}  {r['confirmed']:>9}  {r['dismissed']:>9}  {r['rules_version']}")


def _since(value: str | None) -> str | None:
    """--since as the ISO time the store compares with: a date means the end of that day (UTC)."""
    from datetime import datetime, timezone
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write YYYY-MM-DD or an ISO time such as "
                                 "2026-06-01T12:00:00Z", param_hint="--since") from None
    if len(value.strip()) == 10:
        when = when.replace(hour=23, minute=59, second=59)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@main.command()
@click.argument("url")
@click.option("--db", type=click.Path(dir_okay=False, exists=True), default="auditor-output/auditor.db",
              show_default=True, help="The SQLite store.")
@click.option("--since", help="Compare the latest audit with the last one on or before this date "
                              "(YYYY-MM-DD, or an ISO time).")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
def diff(url, db, since, as_json):
    """What changed between a site's last two audits: findings added, removed by the clinic, and
    dismissed by review. Findings are matched by category and evidence text, not by position, so
    edits elsewhere on a page do not show as changes.

    Exit codes (as `git diff --exit-code`): 0 no finding was added; 1 findings were added;
    2 a usage error or fewer than two audits.
    """
    import json as _json

    from ..acquire.urls import normalise
    from ..store.history import diff as _diff
    cutoff = _since(since)
    store = _open_store(Path(db))
    try:
        d = _diff(store, normalise(url) or url, cutoff)
    except LookupError as e:
        click.echo(f"auditor: {e}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(_json.dumps(d, indent=2, ensure_ascii=False))
        sys.exit(1 if d["added"] else 0)
    a, b = d["from"], d["to"]
    if cutoff:
        click.echo(f"compared with run {a['run']} ({a['audited_at']}), the last audit on or before {cutoff}")
    click.echo(f"{d['url']}: run {a['run']} ({a['audited_at']}, score {a['score']}) -> "
               f"run {b['run']} ({b['audited_at']}, score {b['score']})")
    for sign, key, label in (("+", "added", ""), ("-", "removed", "removed by the clinic")):
        for f in d[key]:
            note = f"  [{f['decision']} by {f['reviewer']}]" if f["decision"] != "undecided" else ""
            click.echo(f"{sign} {f['severity']:8} {f['rule']:32} {f['text']!r}  ({f['page']}){note}")
    for f in d["dismissed_by_review"]:
        where = "still on the site" if f["still_on_site"] else "no longer on the site"
        click.echo(f"~ {f['severity']:8} {f['rule']:32} {f['text']!r}  dismissed by review "
                   f"({f['reviewer']}: {f['reason']}; {where})")
    click.echo(f"{len(d['added'])} added, {len(d['removed'])} removed by the clinic, "
               f"{len(d['dismissed_by_review'])} dismissed by review, {d['unchanged']} unchanged")
    sys.exit(1 if d["added"] else 0)
