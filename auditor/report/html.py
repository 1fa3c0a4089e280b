"""The HTML report: one self-contained file a reviewer can read, print and attach to a case file.

Page text is hostile input. Everything from a page reaches the template as plain strings and
Jinja2 escapes it (autoescape on); the evidence is highlighted by splitting its sentence into
before / match / after in Python, never by building markup from page text. A Content-Security-
Policy forbids every script (and every fetch), so even a slip in escaping could not run one.
"""
from __future__ import annotations

import secrets
from collections import Counter
from importlib import resources
from typing import Iterable, TextIO
from urllib.parse import urlparse

from ..model import SEVERITIES, SiteReport
from . import formatter
from .text_formats import BAND_READING, review_note, tool_line

SEVERITY_COLOURS = {"critical": "#7a0019", "high": "#b34700", "medium": "#6b5900", "low": "#36574d"}


def _load(name: str):
    text = (resources.files("auditor.report") / "templates" / name).read_text(encoding="utf-8")
    return text, None, lambda: True


_ENV = None


def env():
    """The Jinja2 environment, built on first use: importing jinja2 cost every scan ~30 ms of
    start-up, HTML output or not."""
    global _ENV
    if _ENV is None:
        from jinja2 import Environment, FunctionLoader, select_autoescape
        e = Environment(loader=FunctionLoader(_load), autoescape=select_autoescape(default=True, default_for_string=True),
                        trim_blocks=True, lstrip_blocks=True)
        e.filters["safe_url"] = safe_url
        e.filters["review_note"] = _review_filter
        _ENV = e
    return _ENV


def safe_url(url) -> str | None:
    """A link target only for http(s) URLs; anything else (javascript:, data:) is shown as text."""
    if not isinstance(url, str):
        return None
    try:
        scheme = urlparse(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None




def _review_filter(review) -> str:
    class _F:   # review_note reads a finding's .review
        pass
    f = _F()
    f.review = review
    return review_note(f)




def split_evidence(sentence: str | None, text: str) -> tuple[str, str, str]:
    """(before, evidence, after) of the finding's sentence, for highlighting. Evidence cut short
    (analyse/evidence.py) ends in an ellipsis that its sentence window does not hold."""
    if sentence and text and text.endswith("…") and text[:-1] in sentence:
        text = text[:-1]
    if sentence and text and text in sentence:
        i = sentence.index(text)
        return sentence[:i], text, sentence[i + len(text):]
    return "", text or "", ""


def chart(findings) -> dict:
    """Bars per category, segments per severity, sized for an inline SVG."""
    counts: dict[str, Counter] = {}
    for f in findings:
        counts.setdefault(f.category, Counter())[f.severity] += 1
    rows, y, scale = [], 0, 28
    widest = max((sum(c.values()) for c in counts.values()), default=1)
    unit = min(scale, 420 / max(widest, 1))
    order = sorted(counts, key=lambda c: (-max(SEVERITIES.index(s) for s in counts[c]), -sum(counts[c].values()), c))
    for cat in order:
        x, segs = 0, []
        for sev in reversed(SEVERITIES):
            n = counts[cat][sev]
            if n:
                segs.append({"x": x, "w": n * unit, "n": n, "severity": sev, "colour": SEVERITY_COLOURS[sev]})
                x += n * unit
        rows.append({"category": cat, "y": y, "segments": segs, "total": sum(counts[cat].values()),
                     "label": ", ".join(f"{counts[cat][s]} {s}" for s in reversed(SEVERITIES) if counts[cat][s])})
        y += 30
    return {"rows": rows, "height": max(y, 30), "width": 700}


def render_site(report: SiteReport, rules: dict) -> str:
    pages = []
    for p in report.pages:
        groups: dict[str, list] = {}
        for f in sorted(p.findings, key=lambda f: (-SEVERITIES.index(f.severity), f.start or 0)):
            info = rules.get(f.rule, {})
            before, mark, after = split_evidence(f.sentence, f.text)
            groups.setdefault(f.category, []).append({
                "f": f, "before": before, "mark": mark, "after": after,
                "rationale": info.get("rationale", ""), "references": info.get("references", []),
                "description": info.get("description", ""), "review": review_note(f),
            })
        cats = sorted(groups, key=lambda c: -max(SEVERITIES.index(x["f"].severity) for x in groups[c]))
        pages.append({"p": p, "groups": [(c, groups[c]) for c in cats],
                      "chart": chart(p.findings) if len(report.pages) > 1 else None})
    findings = list(report.findings())
    return env().get_template("report.html.j2").render(
        r=report, pages=pages, chart=chart(findings), n_findings=len(findings),
        counts=Counter(f.severity for f in findings), reading=BAND_READING.get(report.band, "not audited"),
        tool_line=tool_line(report.tool),
        severities=list(reversed(SEVERITIES)), colours=SEVERITY_COLOURS, nonce=secrets.token_hex(8))


def render_index(rows: list[dict], title: str, categories: list[str], input_cols=(), tool=None) -> str:
    """The batch index: one row per site (target, the input CSV's own columns, score, band, claims
    per category, the top finding, report link), made to fit a 1280 px screen."""
    return env().get_template("index.html.j2").render(
        rows=sorted(rows, key=lambda r: -(r.get("score") or 0)), title=title, categories=categories,
        input_cols=list(input_cols), tool_line=tool_line(tool) if tool else "", nonce=secrets.token_hex(8))


def _title(doc: str) -> str:
    return doc.partition("<title>")[2].partition("</title>")[0]


@formatter("html")
def to_html(reports: Iterable[SiteReport], out: TextIO, rules: dict) -> None:
    """One self-contained document; several targets follow one another in it."""
    reports = list(reports)
    docs = [render_site(r, rules) for r in reports]
    if len(docs) == 1:
        out.write(docs[0])
    else:
        # several reports: each is a complete document, so join their bodies under one head, after
        # a summary table that links to each
        head, _, _ = docs[0].partition("<body>")
        head = head.replace(f"<title>{_title(docs[0])}</title>", f"<title>Audit of {len(docs)} inputs</title>")
        bodies = [f'<div id="report-{n}">' + d.partition("<body>")[2].rpartition("</body>")[0] + "</div>"
                  for n, d in enumerate(docs, 1)]
        rows = [{"n": n, "r": r, "findings": sum(1 for _ in r.findings()),
                 "dismissed": sum(len(p.dismissed) for p in r.pages)} for n, r in enumerate(reports, 1)]
        # highest score first; inputs not audited (score None) last
        rows.sort(key=lambda row: -1 if row["r"].score is None else row["r"].score, reverse=True)
        summary = env().get_template("summary.html.j2").render(
            rows=rows,
            tools=list(dict.fromkeys(tool_line(r.tool) for r in reports)))
        out.write(head + "<body>" + summary + "<hr class=\"between\">".join(bodies) + "</body></html>\n")
    out.flush()
