"""The built-in formatters: terminal summary, json, jsonl, markdown and csv."""
from __future__ import annotations

import csv
import json
import re
from collections import Counter
from typing import Iterable, TextIO

from ..model import SEVERITIES, SiteReport
from . import formatter

BAND_READING = {
    "low": "few or no documented red flags",
    "moderate": "some red flags; read the findings",
    "high": "many red flags, several serious",
    "severe": "pervasive, serious red flags",
}


def tool_line(tool: dict) -> str:
    """Which tool, rules and model produced a report, from whatever keys its `tool` holds:
    "auditor 0.1.0, rules 5a9e6cf20106, model judge-2"."""
    tool = tool or {}
    head = " ".join(str(tool[k]) for k in ("name", "version") if tool.get(k)) or "auditor"
    rest = [f"{k[:-len('_version')] if k.endswith('_version') else k} {v}" for k, v in tool.items()
            if k not in ("name", "version") and v not in (None, "")]
    return ", ".join([head, *rest])


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def review_note(f) -> str:
    """'confirmed by J. Doe (2026-11-02): reason' for a decided finding, else ''."""
    r = f.review or {}
    if not r:
        return ""
    when = (r.get("decided_at") or "")[:10]
    reason = f": {r['reason']}" if r.get("reason") else ""
    return f"{r.get('decision')} by {r.get('reviewer')} ({when}){reason}"


@formatter("json")
def to_json(reports: Iterable[SiteReport], out: TextIO, rules: dict) -> None:
    items = [r.to_dict() for r in reports]
    json.dump(items[0] if len(items) == 1 else items, out, indent=2, ensure_ascii=False)
    out.write("\n")


@formatter("jsonl")
def to_jsonl(reports: Iterable[SiteReport], out: TextIO, rules: dict) -> None:
    for r in reports:
        out.write(json.dumps(r.to_dict(), ensure_ascii=False))
        out.write("\n")
        out.flush()


# OWASP "CSV injection": a spreadsheet runs a cell that starts with one of these as a formula
# (=HYPERLINK(...) from page text would run when a regulator opens the file)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A value as a CSV cell that a spreadsheet shows as text: strings that could start a formula
    get a leading ' (OWASP's advice); numbers and None are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_row(row: dict) -> dict:
    return {k: csv_cell(v) for k, v in row.items()}


CSV_FIELDS = ["target", "page", "category", "rule", "severity", "confidence", "points", "start", "end",
              "region", "text", "sentence", "review", "review_reason", "reviewer", "error", "tool"]


@formatter("csv")
def to_csv(reports: Iterable[SiteReport], out: TextIO, rules: dict) -> None:
    w = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in reports:
        tool = tool_line(r.tool)
        for p in r.pages:
            for f in [*p.findings, *p.dismissed]:
                rv = f.review or {}
                w.writerow(safe_row({"target": r.target, "page": p.url, "category": f.category, "rule": f.rule,
                                     "severity": f.severity, "confidence": f.confidence, "points": f.points,
                                     "start": f.start, "end": f.end, "region": f.region, "text": f.text,
                                     "sentence": f.sentence or "", "review": rv.get("decision", ""),
                                     "review_reason": rv.get("reason", ""), "reviewer": rv.get("reviewer", ""),
                                     "tool": tool}))
        for e in r.errors:          # an input or page not audited keeps a row, with the reason
            w.writerow(safe_row({"target": r.target, "page": e.target, "error": e.reason, "tool": tool}))
        out.flush()


# Page text is hostile: raw HTML (<img src=...> is a tracking pixel where a renderer allows HTML)
# and link or image syntax ([x](javascript:...)) must reach the report as text. & < > become
# entities; the characters that open links, images, code and emphasis (and | of tables) are
# backslash-escaped, the backslash first; every line break (\r too) becomes a space, so no page
# text can start a line of its own.
_MD_ESCAPE = re.compile(r"([\\`*_\[\]|~])")


def _md(s) -> str:
    s = " ".join(str(s or "").split())
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_ESCAPE.sub(r"\\\1", s)


@formatter("markdown")
def to_markdown(reports: Iterable[SiteReport], out: TextIO, rules: dict) -> None:
    for r in reports:
        out.write(f"# Audit of {_md(r.target)}\n\n")
        if r.audited:
            out.write(f"**Score {r.score:g}/100, band {r.band}**: {BAND_READING[r.band]}.  \n")
        else:
            out.write(f"**Not audited**: {_md(r.not_audited_reason())}.  \n")
        out.write(f"Audited {r.audited_at} with {_md(tool_line(r.tool))}.\n\n")
        for e in r.errors:
            out.write(f"> **Error** {_md(e.target)}: {_md(e.short_reason())}\n\n")
        for p in r.pages:
            if len(r.pages) > 1:
                out.write(f"## Page {_md(p.url)} (score {p.score:g})\n\n")
            meta = [f"{k}: `{p.meta[k]}`" for k in ("status", "fetched_at", "sha256", "warc_record_id") if p.meta.get(k)]
            if meta:
                out.write("; ".join(meta) + "\n\n")
            by_cat: dict = {}
            for f in p.findings:
                by_cat.setdefault(f.category, []).append(f)
            if not by_cat:
                out.write("No red flags found.\n\n")
            for cat, fs in sorted(by_cat.items(), key=lambda kv: -max(SEVERITIES.index(f.severity) for f in kv[1])):
                out.write(f"### {cat} ({len(fs)})\n\n")
                for f in fs:
                    info = rules.get(f.rule, {})
                    where = f"chars {f.start}-{f.end}" if f.start is not None else "page-level"
                    out.write(f"- **{f.severity}** `{f.rule}` ({where}, confidence {f.confidence:g}, "
                              f"{f.points:g} points): \"{_md(f.text)}\"\n")
                    if f.sentence and f.sentence != f.text:
                        out.write(f"  - sentence: {_md(f.sentence)}\n")
                    if f.note and f.start is None:
                        out.write(f"  - why: {_md(f.note)}\n")
                    if info.get("rationale"):
                        out.write(f"  - rationale: {_md(info['rationale'])}\n")
                    for ref in info.get("references", [])[:2]:
                        out.write(f"  - reference: {_md(ref)}\n")
                    if f.review:
                        out.write(f"  - review: {_md(review_note(f))}\n")
                out.write("\n")
            if p.dismissed:
                out.write(f"### Dismissed by review ({len(p.dismissed)}, not scored)\n\n")
                for f in p.dismissed:
                    out.write(f"- {f.category} `{f.rule}`: \"{_md(f.text)}\", {_md(review_note(f))}\n")
                out.write("\n")
            if p.mitigations:
                out.write("### Disclosures found\n\n")
                for m in p.mitigations:
                    out.write(f"- {_md(m.kind)}: \"{_md(m.text)}\"\n")
                out.write("\n")
            if p.suppressed:
                out.write("### Dismissed matches (context)\n\n")
                for s in p.suppressed:
                    cue = f" (cue: \"{_md(s.cue.text)}\")" if s.cue else ""
                    out.write(f"- {s.category}: \"{_md(s.text)}\", {s.reason}{cue}\n")
                out.write("\n")
        out.flush()


# control characters from a page (ESC sequences can retitle or rewrite a terminal) are shown as ?
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _tty(s) -> str:
    return _CONTROL.sub("?", str(s))


@formatter("terminal")
def to_terminal(reports: Iterable[SiteReport], out: TextIO, rules: dict) -> None:
    """A line per target (its score, or why it was not audited); under it each error and each
    finding, under the page it is on when the target has several pages or was redirected; last,
    the tool that produced them. Colour by severity on a terminal (rich), plain text when piped or
    when NO_COLOR is set; control characters from pages are shown as ?."""
    from rich.console import Console
    from rich.markup import escape
    tty = hasattr(out, "isatty") and out.isatty()
    con = Console(file=out, highlight=False, soft_wrap=True, force_terminal=tty or None,
                  no_color=not tty or None, emoji=False)

    def say(markup: str) -> None:
        # the page's own control characters go before rich adds its colour codes
        con.print(_tty(markup))

    style = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan"}
    tools: list[str] = []
    for r in reports:
        if tool_line(r.tool) not in tools:
            tools.append(tool_line(r.tool))
        if not r.audited:
            say(f"[bold]{escape(r.target)}[/]: [red]not audited:[/] {escape(r.not_audited_reason())}")
            for e in r.errors:
                if e.target != r.target:
                    say(f"  [red]error:[/] {escape(e.target)}: {escape(e.short_reason())}")
            out.flush()
            continue
        counts = Counter(f.category for f in r.findings())
        n = sum(counts.values())
        band_style = {"severe": "bold red", "high": "red", "moderate": "yellow", "low": "green"}.get(r.band, "")
        line = (f"[bold]{escape(r.target)}[/]: score [{band_style}]{r.score:g} ({r.band})[/], "
                f"{plural(n, 'finding')}")
        if counts:
            line += ": " + ", ".join(f"{escape(c)} {k}" for c, k in counts.most_common())
        say(line)
        dismissed = sum(len(p.dismissed) for p in r.pages)
        if dismissed:
            say(f"  {plural(dismissed, 'finding')} dismissed by review, not scored")
        for e in r.errors:
            say(f"  [red]error:[/] {escape(e.target)}: {escape(e.short_reason())}")
        named = len(r.pages) > 1 or any(p.url != r.target for p in r.pages)
        pad = "    " if named else "  "
        for p in r.pages:
            if named:
                say(f"  page [underline]{escape(p.url)}[/]: score {p.score:g} ({p.band}), "
                    f"{plural(len(p.findings), 'finding')}")
            for f in sorted(p.findings, key=lambda f: (-SEVERITIES.index(f.severity), f.start or 0)):
                where = f"@{f.start}" if f.start is not None else "page"
                snippet = f.text if len(f.text) <= 90 else f.text[:87] + "..."
                mark = f"  [green]({escape(f.review['decision'])})[/]" if f.review else ""
                say(f"{pad}[{style[f.severity]}]{f.severity:8}[/] {escape(f.rule):32} {where:>7}  "
                    f"{escape(snippet)}{mark}")
            for f in p.dismissed:
                rv = f.review or {}
                why = f"{rv.get('reviewer')}, {(rv.get('decided_at') or '')[:10]}: {rv.get('reason')}"
                say(f"{pad}[dim]dismissed by review: {escape(f.rule)} {escape(f.text)} ({escape(why)})[/]")
            if p.suppressed:
                say(f"{pad}[dim]({plural(len(p.suppressed), 'match', 'matches')} dismissed by context; "
                    "--format markdown lists them)[/]")
        out.flush()
    for t in tools:
        say(f"[dim]produced by {escape(t)}[/]")
    out.flush()
