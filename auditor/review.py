"""Reviewers' decisions applied to a report: confirmed findings say so, dismissed ones leave the score.

A decision is keyed by the finding's site, category and normalised evidence text, not by its rule
or its offsets, so it holds when the site is audited again and when a rule is renamed or replaced
(by another rule or a trained judge) that finds the same evidence. This module is pure: the store
keeps the decisions (store/reviews.py), the formatters show what this module sets.
"""
from __future__ import annotations

import hashlib
import re
from typing import Optional

from .model import PageResult, SiteReport
from .score import band, score_findings, selling_of, site_score

DECISIONS = ("confirmed", "dismissed")
_WS = re.compile(r"\W+")


def normalise_evidence(text: Optional[str]) -> str:
    return _WS.sub(" ", (text or "").lower()).strip()


def review_key(category: str, text: Optional[str]) -> str:
    """Category plus normalised evidence: what a decision is about, whichever rule found it."""
    return f"{category}|{normalise_evidence(text)}"


def finding_id(site: str, key: str) -> str:
    """A short id a reviewer can type; the same claim on the same site keeps it across audits."""
    return hashlib.sha256(f"{site}\0{key}".encode("utf-8")).hexdigest()[:10]


def apply(report: SiteReport, site: str, decisions: dict[str, dict], scoring: dict,
          weights: Optional[dict] = None) -> SiteReport:
    """Mark each decided finding; move dismissed ones to `dismissed_by_review` and rescore.

    `decisions` maps review_key -> {decision, reason, reviewer, decided_at}. The report is changed in
    place and returned. A report with no decided finding comes back as it was.
    """
    if not decisions:
        return report
    weights = weights or {}
    claims: dict[str, set] = {"confirmed": set(), "dismissed": set(), "undecided": set()}
    changed = False
    for p in report.pages:
        kept = []
        for f in p.findings:
            key = review_key(f.category, f.text)
            d = decisions.get(key)
            if d is None:
                claims["undecided"].add(key)
                kept.append(f)
                continue
            f.review = {"id": finding_id(site, key), **d}
            claims[d["decision"]].add(key)
            if d["decision"] == "dismissed":
                f.points = 0.0
                p.dismissed.append(f)
            else:
                kept.append(f)
        if len(kept) != len(p.findings):
            p.findings = kept
            _rescore_page(p, scoring, weights)
            changed = True
    if changed:
        report.score = site_score(report.pages, scoring, weights) if report.pages else report.score
        report.band = band(report.score, scoring)
    # distinct claims, as history and diff count them
    report.extra["review"] = {k: len(v) for k, v in claims.items()}
    return report


def _rescore_page(p: PageResult, scoring: dict, weights: dict) -> None:
    voice = p.breakdown.get("voice") if isinstance(p.breakdown, dict) else None
    p.score, p.breakdown = score_findings(p.findings, p.mitigations, scoring, weights, selling_of(p))
    if voice is not None:
        p.breakdown["voice"] = voice
    p.band = band(p.score, scoring)
