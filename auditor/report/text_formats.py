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
              "region", "text", "sentence", "error"]


@formatter("csv")
def to_csv(reports: Iterable[SiteReport], out: TextIO, rules: dict) -> None:
    w = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in reports:
        for p in r.pages:
            for f in p.findings:
                w.writerow(safe_row({"target": r.target, "page": p.url, "category": f.category, "rule": f.rule,
                            "severity": f.severity, "confidence": f.confidence, "points": f.points,
                            "start": f.start, "end": f.end, "region": f.region, "text": f.text,
                            "sentence": f.sentence or ""}))
        for e in r.errors:          # an input or page not audited keeps a row, with the reason
            w.writerow(safe_row({"target": r.target, "page": e.target, "error": e.reason}))
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
        out.write(f"Audited {r.audited_at} with auditor {r.tool.get('version')} "
                  f"(rules {r.tool.get('rules_version')}).\n\n")
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
    finding, under the page it is on when the target has several pages or was redirected."""
    for r in reports:
        if not r.audited:
            out.write(_tty(f"{r.target}: not audited: {r.not_audited_reason()}") + "\n")
            for e in r.errors:
                if e.target != r.target:
                    out.write(_tty(f"  error: {e.target}: {e.short_reason()}") + "\n")
            out.flush()
            continue
        counts = Counter(f.category for f in r.findings())
        line = f"{r.target}: score {r.score:g} ({r.band}), {sum(counts.values())} findings"
        if counts:
            line += ": " + ", ".join(f"{c} {n}" for c, n in counts.most_common())
        out.write(_tty(line) + "\n")
        for e in r.errors:
            out.write(_tty(f"  error: {e.target}: {e.short_reason()}") + "\n")
        named = len(r.pages) > 1 or any(p.url != r.target for p in r.pages)
        for p in r.pages:
            if named:
                out.write(_tty(f"  page {p.url}: score {p.score:g} ({p.band}), {len(p.findings)} findings") + "\n")
            for f in sorted(p.findings, key=lambda f: -SEVERITIES.index(f.severity)):
                where = f"@{f.start}" if f.start is not None else "page"
                snippet = f.text if len(f.text) <= 90 else f.text[:87] + "..."
                out.write(_tty(f"  {'  ' if named else ''}{f.severity:8} {f.rule:32} {where:>7}  {snippet}") + "\n")
            if p.suppressed:
                out.write(f"  {'  ' if named else ''}({len(p.suppressed)} matches dismissed by context; "
                          f"--format markdown lists them)\n")
        out.flush()
