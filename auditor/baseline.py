"""`scan --baseline REPORT.json`: report only the findings an earlier report did not have.

As bandit's and ruff's baselines: a finding is known when the earlier report has a finding on the
same page with the same category and normalised evidence text (offsets and rule ids may change).
Known findings leave the report and its score, so --fail-on fails only on new ones.
"""
from __future__ import annotations

import json
from pathlib import Path

from .model import SiteReport
from .review import review_key
from .score import band, score_findings, selling_of, site_score


class BaselineError(ValueError):
    pass


def load(path: Path) -> set[tuple[str, str]]:
    """(page URL, review key) of every finding in a JSON report, an array of them, or JSON lines."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BaselineError(f"{path}: cannot read the baseline ({getattr(e, 'strerror', None) or e})") from None
    try:
        data = json.loads(text)
        reports = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        try:
            reports = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise BaselineError(f"{path}: not a JSON report from `auditor scan --format json` ({e})") from None
    keys = set()
    for rep in reports:
        if not isinstance(rep, dict) or rep.get("schema") != "clinic-audit-report/1":
            raise BaselineError(f"{path}: not an auditor report (no \"schema\": \"clinic-audit-report/1\")")
        for page in rep.get("pages", []):
            for f in page.get("findings", []) + page.get("dismissed_by_review", []):
                keys.add((page.get("url"), review_key(f.get("category", ""), f.get("text"))))
    return keys


def apply(report: SiteReport, known: set[tuple[str, str]], scoring: dict, weights: dict) -> int:
    """Drop known findings from the report and rescore it; the number dropped."""
    dropped = 0
    for p in report.pages:
        kept = [f for f in p.findings if (p.url, review_key(f.category, f.text)) not in known]
        if len(kept) != len(p.findings):
            dropped += len(p.findings) - len(kept)
            voice = p.breakdown.get("voice")
            p.findings = kept
            p.score, p.breakdown = score_findings(kept, p.mitigations, scoring, weights, selling_of(p))
            p.breakdown["voice"] = voice
            p.band = band(p.score, scoring)
    if dropped:
        report.score = site_score(report.pages, scoring, weights)
        report.band = band(report.score, scoring)
    return dropped
