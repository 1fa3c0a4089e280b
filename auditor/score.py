"""Turn findings and disclosures into a 0-100 score and a band, every point accounted for.

    points(finding)  = severity_points[severity] x confidence x decay^n
                       (n = how many findings of the same category scored before it, most
                        severe first; the same claim repeated word for word adds nothing)
    category total   = min(sum of its points, category_cap x severity_points[category's worst])
    disclosures      = min(points_each x distinct kinds found, cap)
    selling          = selling_points x the judge's page-voice probability (the page sells a
                       treatment rather than warns or reports; none with the rules alone)
    score            = clamp(sum of category totals + page-level points - disclosures + selling, 0, 100)

The selling term is small (at most selling_points, below any band's width) and exists to rank:
among pages with the same findings, often none, the one that sells a treatment comes first.

The weights come from the rule data (rules/scoring.yml), not from code. Each Finding and
Mitigation gets the points it contributed, and the page's breakdown records the totals.
"""
from __future__ import annotations

import copy
import re

from .model import BANDS, SEVERITIES, Finding, Mitigation, severity_rank

_WS = re.compile(r"\W+")


def fingerprint(f: Finding) -> str:
    """Rule plus normalised evidence: the same claim wherever (and on whichever page) it stands."""
    return f"{f.rule}|{_WS.sub(' ', (f.text or '').lower()).strip()}"


def band(score: float, scoring: dict) -> str:
    th = scoring.get("bands", {})
    b = "low"
    for name in BANDS[1:]:
        if score >= float(th.get(name, 101)):
            b = name
    return b


def score_findings(findings: list[Finding], mitigations: list[Mitigation], scoring: dict,
                   weights: dict | None = None, selling: float | None = None) -> tuple[float, dict]:
    """Set .points on each finding and mitigation; return (score, breakdown). selling: the
    judge's probability that the page sells a treatment (None: no judge, no selling term)."""
    sev_pts = scoring["severity_points"]
    decay = float(scoring.get("repeat_decay", 0.5))
    cap_factor = float(scoring.get("category_cap", 2.0))
    page_pts = scoring.get("page_points", {})
    weights = weights or {}
    by_cat: dict[str, list[Finding]] = {}
    for f in findings:
        f.points = 0.0
        by_cat.setdefault(f.category, []).append(f)
    breakdown: dict = {"categories": {}, "page_level": {}, "disclosures": 0.0}
    total = 0.0
    for cat, fs in sorted(by_cat.items()):
        if cat in page_pts:
            pts = float(page_pts[cat]) * max(f.confidence for f in fs)
            fs[0].points = round(pts, 2)
            breakdown["page_level"][cat] = round(pts, 2)
            total += pts
            continue
        fs.sort(key=lambda f: (-severity_rank(f.severity), -f.confidence, f.start or 0))
        seen, n, sub = set(), 0, 0.0
        worst = max(severity_rank(f.severity) for f in fs)
        cap = cap_factor * float(sev_pts[SEVERITIES[worst]])
        for f in fs:
            fp = fingerprint(f)
            if fp in seen:
                continue
            seen.add(fp)
            base = float(weights.get(f.rule) or sev_pts[f.severity])
            pts = base * f.confidence * decay ** n
            pts = min(pts, max(0.0, cap - sub))
            f.points = round(pts, 2)
            sub += pts
            n += 1
        breakdown["categories"][cat] = round(sub, 2)
        total += sub
    dcfg = scoring.get("disclosures", {})
    kinds = []
    for m in mitigations:
        m.points = 0.0
        if m.kind not in kinds:
            kinds.append(m.kind)
            m.points = float(dcfg.get("points_each", 3))
    credit = min(float(dcfg.get("points_each", 3)) * len(kinds), float(dcfg.get("cap", 10)))
    # a disclosure can only take back points that were given
    credit = min(credit, total)
    breakdown["disclosures"] = round(-credit, 2)
    sells = 0.0
    if selling is not None:
        sells = float(scoring.get("selling_points", 0)) * float(selling)
        breakdown["selling"] = {"probability": round(float(selling), 3), "points": round(sells, 2)}
    score = max(0.0, min(100.0, total - credit + sells))
    breakdown["raw"] = round(total, 2)
    return round(score, 1), breakdown


def site_score(pages: list, scoring: dict, weights: dict) -> float:
    """The page formula applied to a site's distinct claims pooled across its pages."""
    if len(pages) == 1:
        return pages[0].score
    pooled, seen = [], set()
    for p in pages:
        for f in p.findings:
            fp = fingerprint(f)
            if fp not in seen:
                seen.add(fp)
                pooled.append(f)
    mits = [m for p in pages for m in p.mitigations]
    sold = [v for v in map(selling_of, pages) if v is not None]
    score, _ = score_findings([copy.copy(f) for f in pooled], [copy.copy(m) for m in mits], scoring, weights,
                              max(sold) if sold else None)
    return score


def selling_of(page) -> float | None:
    """The page-voice probability a page's score was given (kept in its breakdown), or None."""
    sel = page.breakdown.get("selling") if isinstance(getattr(page, "breakdown", None), dict) else None
    return sel.get("probability") if isinstance(sel, dict) else None
