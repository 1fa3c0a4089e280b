"""`auditor review`: list findings without a decision, confirm or dismiss them (on the command line
or one by one on a terminal), and export the decisions as a labelled corpus for the judge."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ..model import BANDS
from . import main

DB_HELP = "The SQLite store [default: auditor-output/auditor.db]."


def _store(db):
    from ..store.db import Store
    path = Path(db or "auditor-output/auditor.db")
    if not path.exists():
        click.echo(f"auditor: no store at {path}; run `auditor audit URL` or `auditor batch FILE` first, "
                   "or name one with --db", err=True)
        sys.exit(2)
    try:
        return Store(path)
    except Exception as e:
        click.echo(f"auditor: cannot open the store {path}: {e}", err=True)
        sys.exit(2)


def _reviewer(by):
    import getpass
    if by:
        return by
    try:
        return os.environ.get("AUDITOR_REVIEWER") or getpass.getuser()
    except Exception:
        return "unknown"


def _fallback():
    from ..pipeline import Auditor
    from ..store.batch import scoring_of
    return scoring_of(Auditor())


def _site(url):
    from ..acquire.urls import normalise
    return (normalise(url) or url) if url else None


@main.group(invoke_without_command=True)
@click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
@click.option("--site", help="Only this site (the URL it was audited as).")
@click.option("--category", help="Only findings of this category.")
@click.option("--band", type=click.Choice(BANDS), help="Only sites in this band.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON (for scripts).")
@click.option("--list", "as_list", is_flag=True, help="Print the list even on a terminal (no questions).")
@click.pass_context
def review(ctx, db, site, category, band, as_json, as_list):
    """Review findings: confirm or dismiss each, with a reason that holds across re-audits.

    Without a subcommand, lists the findings of each site's latest audit that have no decision yet.
    With --site on a terminal it steps through them instead: confirm, dismiss (with a reason),
    skip or quit; each answer is saved at once.

    A decision is keyed by the site, the category and the evidence text, so it holds when the site
    is audited again and when a rule is renamed. A dismissed finding leaves the score; reports,
    export, history and diff list it under "dismissed by review" with its reason.

    \b
    Examples:
      auditor review --site https://clinic.example/
      auditor review --json --band severe
      auditor review dismiss 3a9c12ab45 --reason "quotes an FDA warning letter"
      auditor review confirm 51be07d2c1 7d00e3a9f4 --reason "offers exosomes" --by "J. Doe"
      auditor review export-labels reviewed-corpus/
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..store.reviews import pending
    from . import _categories
    if category and category not in _categories():
        raise click.BadParameter(f"unknown category {category!r}; categories: {', '.join(_categories())}",
                                 param_hint="--category")
    store = _store(db)
    claims = pending(store, _site(site), category, band)
    if site and not as_json and not as_list and sys.stdin.isatty() and sys.stdout.isatty():
        _interactive(store, claims, _reviewer(None))
        return
    if as_json:
        click.echo(json.dumps([{k: v for k, v in c.items() if k != "review_key"} for c in claims], indent=2,
                              ensure_ascii=False))
        return
    sites = {c["site"] for c in claims}
    click.echo(f"{len(claims)} finding{'' if len(claims) == 1 else 's'} without a decision on {len(sites)} "
               f"site{'' if len(sites) == 1 else 's'}")
    last = None
    for c in claims:
        if c["site"] != last:
            click.echo(f"\n{c['site']}  (audited {c['audited_at']})")
            last = c["site"]
        more = f"  (+{len(c['pages']) - 1} more page{'' if len(c['pages']) == 2 else 's'})" if len(c["pages"]) > 1 else ""
        click.echo(f"  {c['id']}  {c['severity']:8} {c['category']:23} {_short(c['text'], 70)!r}  {c['page']}{more}")
    if claims:
        click.echo("\nauditor review confirm|dismiss ID... --reason TEXT records a decision.")


def _short(text, n):
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _decide(decision):
    @click.argument("ids", nargs=-1, required=True)
    @click.option("--reason", required=decision == "dismissed", help="Why (required to dismiss).")
    @click.option("--by", "by", help="Reviewer's name [default: $AUDITOR_REVIEWER or the login name].")
    @click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
    def cmd(ids, reason, by, db):
        from ..store.reviews import ReviewError, record, resolve
        store = _store(db)
        if reason is not None and not reason.strip():
            raise click.BadParameter("must not be empty", param_hint="--reason")
        try:
            claims = resolve(store, list(ids))
        except ReviewError as e:
            click.echo(f"auditor: {e}", err=True)
            sys.exit(2)
        who = _reviewer(by)
        record(store, claims, decision, (reason or "").strip(), who, _fallback())
        for c in claims:
            click.echo(f"{decision} {c['review_id']} ({c['category']}: {_short(c['text'], 60)!r}) on {c['site']}")
    verb = "confirm" if decision == "confirmed" else "dismiss"
    cmd.__doc__ = (f"{verb.capitalize()} findings by id (as `auditor review` lists them; a unique prefix will do)."
                   + ("\n\nA dismissed finding leaves the score but stays listed, with the reason."
                      if verb == "dismiss" else ""))
    return review.command(name=verb)(cmd)


_decide("confirmed")
_decide("dismissed")


def _interactive(store, claims, who):
    """One finding at a time: its sentence with the evidence marked, then c / d / s / q."""
    from rich.console import Console
    from rich.markup import escape

    from ..store.reviews import record
    con = Console(highlight=False)
    if not claims:
        con.print("No findings without a decision for this site.")
        return
    fallback = _fallback()
    done = {"confirmed": 0, "dismissed": 0, "skipped": 0}
    colours = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan"}
    for n, c in enumerate(claims, 1):
        con.print()
        con.print(f"[bold]{n}/{len(claims)}[/]  [{colours[c['severity']]}]{c['severity']}[/]  "
                  f"{escape(c['category'])}  [dim]{escape(c['rule'])}  id {c['id']}[/]")
        con.print(f"[dim]page:[/] {escape(c['page'] or '')}" +
                  (f" [dim](and {len(c['pages']) - 1} more)[/]" if len(c["pages"]) > 1 else ""))
        sentence, text = c["sentence"] or c["text"], c["text"] or ""
        if text and text in sentence:
            i = sentence.index(text)
            con.print("  " + escape(sentence[:i]) + f"[reverse]{escape(text)}[/]" + escape(sentence[i + len(text):]))
        else:
            con.print("  " + escape(sentence))
        try:
            while True:
                answer = click.prompt("[c]onfirm, [d]ismiss, [s]kip, [q]uit", default="s",
                                      show_default=False).strip().lower()[:1]
                if answer in ("c", "d", "s", "q"):
                    break
            if answer == "q":
                break
            if answer == "s":
                done["skipped"] += 1
                continue
            reason = ""
            while answer == "d" and not reason:
                reason = click.prompt("Reason for dismissing", default="", show_default=False).strip()
            if answer == "c":
                reason = click.prompt("Reason (optional)", default="", show_default=False).strip()
        except (click.Abort, EOFError):
            con.print()
            break
        decision = "confirmed" if answer == "c" else "dismissed"
        claim = {"review_id": c["id"], "site": c["site"], "review_key": c["review_key"], "category": c["category"],
                 "rule": c["rule"], "text": c["text"]}
        record(store, [claim], decision, reason, who, fallback)
        done[decision] += 1
        con.print(f"[green]saved:[/] {decision}")
    left = len(claims) - done["confirmed"] - done["dismissed"]
    con.print(f"{done['confirmed']} confirmed, {done['dismissed']} dismissed, {done['skipped']} skipped; "
              f"{left} without a decision")


@review.command(name="export-labels")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
@click.option("--site", help="Only this site's reviewed pages.")
@click.option("--kind", default="clinic", show_default=True,
              help="The page kind written to the index and labels (an input CSV's `kind` column wins).")
@click.option("--force", is_flag=True, help="Replace an earlier export in OUT_DIR.")
def export_labels(out_dir, db, site, kind, force):
    """Write reviewed pages and their decisions as a labelled corpus in the devset's format.

    OUT_DIR gets texts/*.txt (each page's audited text exactly), labels.jsonl and
    index-reviewed.tsv (file, kind, source, chars). A confirmed finding becomes a label of its
    category, a dismissed one `none`; a finding on the same page with no decision yet becomes
    `ambiguous`, so it counts neither way. Each quote is found exactly once in its text.
    """
    from ..store.labels import ExportError, export_labels as _export
    store = _store(db)
    try:
        info = _export(store, Path(out_dir), _site(site), kind, force)
    except ExportError as e:
        click.echo(f"auditor: {e}", err=True)
        sys.exit(2)
    click.echo(f"auditor: {info['texts']} page text{'' if info['texts'] == 1 else 's'}, {info['labels']} labels "
               f"({info['confirmed']} confirmed, {info['dismissed']} none, {info['ambiguous']} ambiguous) "
               f"written to {out_dir}", err=True)
    if info["no_text"]:
        click.echo(f"auditor: {info['no_text']} reviewed page(s) were audited before the store kept page texts; "
                   "audit them again to export them", err=True)
    if info["not_unique"]:
        click.echo(f"auditor: {info['not_unique']} finding(s) left out: their text repeats the whole way through "
                   "the page, so no quote is found only once", err=True)
