"""Reviewers' decisions in the store: record them, read them back, apply them to stored reports.

A decision row is never updated: a new decision on the same claim is a new row, and the latest
one counts (the `current_decisions` view), so the store keeps who decided what, when and why.
"""
from __future__ import annotations

import json
from typing import Optional

from ..model import SiteReport, now_iso, report_from_dict
from ..review import DECISIONS, apply
from .db import Store


class ReviewError(LookupError):
    pass


def decisions_for(store: Store, site: str) -> dict[str, dict]:
    """review_key -> the current decision on that claim of the site."""
    rows = store.db.execute("SELECT review_key, decision, reason, reviewer, decided_at FROM current_decisions"
                            " WHERE site=?", (site,)).fetchall()
    return {r["review_key"]: {"decision": r["decision"], "reason": r["reason"], "reviewer": r["reviewer"],
                              "decided_at": r["decided_at"]} for r in rows}


def run_scoring(store: Store, run_id: int, fallback: Optional[dict] = None) -> tuple[dict, dict]:
    """(scoring, weights) the run was scored with, so a rescore after a dismissal uses the same weights."""
    row = store.db.execute("SELECT scoring FROM runs WHERE id=?", (run_id,)).fetchone()
    if row and row["scoring"]:
        data = json.loads(row["scoring"])
        return data["scoring"], data.get("weights", {})
    fallback = fallback or {}
    return fallback.get("scoring", {}), fallback.get("weights", {})


def reviewed_report(store: Store, site_row, fallback: Optional[dict] = None) -> SiteReport:
    """A stored site's report with the current decisions applied."""
    rep = report_from_dict(json.loads(site_row["report_json"]))
    decisions = decisions_for(store, site_row["url"])
    if decisions and rep.pages:
        scoring, weights = run_scoring(store, site_row["run_id"], fallback)
        apply(rep, site_row["url"], decisions, scoring, weights)
    return rep


def resolve(store: Store, ids: list[str]) -> list[dict]:
    """The claims that finding ids (or unique prefixes of at least 4 characters) name."""
    out, seen = [], set()
    for raw in ids:
        fid = raw.strip().lower()
        if len(fid) < 4 or any(c not in "0123456789abcdef" for c in fid):
            raise ReviewError(f"{raw!r} is not a finding id (ids are hex, as `auditor review` lists them)")
        rows = store.db.execute(
            "SELECT f.review_id, s.url AS site, f.review_key, f.category, f.rule, f.text FROM findings f"
            " JOIN sites s ON s.id=f.site_id WHERE f.review_id LIKE ? GROUP BY f.review_id ORDER BY MAX(f.id) DESC",
            (fid + "%",)).fetchall()
        if not rows:
            raise ReviewError(f"no finding {raw} in {store.path}; `auditor review --db {store.path}` lists them")
        if len(rows) > 1:
            raise ReviewError(f"finding id {raw} is ambiguous: " + ", ".join(r["review_id"] for r in rows[:5]))
        r = dict(rows[0])
        if r["review_id"] not in seen:
            seen.add(r["review_id"])
            out.append(r)
    return out


def record(store: Store, claims: list[dict], decision: str, reason: str, reviewer: str,
           fallback: Optional[dict] = None) -> str:
    """Store one decision per claim (in one transaction) and refresh the reviewed scores they change."""
    if decision not in DECISIONS:
        raise ValueError(decision)
    when = now_iso()
    db = store.db
    db.execute("BEGIN IMMEDIATE")
    try:
        for c in claims:
            db.execute("INSERT INTO decisions (site, review_key, review_id, category, rule, evidence, decision, reason,"
                       " reviewer, decided_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (c["site"], c["review_key"], c["review_id"], c["category"], c["rule"], c["text"], decision,
                        reason, reviewer, when))
        for site in sorted({c["site"] for c in claims}):
            _refresh(store, site, fallback)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return when


def _refresh(store: Store, site: str, fallback: Optional[dict]):
    """Recompute the reviewed score of every stored audit of a site (NULL when nothing is dismissed)."""
    for row in store.db.execute("SELECT * FROM sites WHERE url=? AND status='done'", (site,)).fetchall():
        rep = reviewed_report(store, row, fallback)
        if any(p.dismissed for p in rep.pages):
            store.db.execute("UPDATE sites SET reviewed_score=?, reviewed_band=? WHERE id=?",
                             (rep.score, rep.band, row["id"]))
        else:
            store.db.execute("UPDATE sites SET reviewed_score=NULL, reviewed_band=NULL WHERE id=?", (row["id"],))


def pending(store: Store, site: Optional[str] = None, category: Optional[str] = None,
            band: Optional[str] = None) -> list[dict]:
    """Claims without a decision in each site's latest audit, one entry per claim (with its pages)."""
    sql = ("SELECT f.* FROM finding_reviews f JOIN site_summary a ON a.audit=f.audit"
           " WHERE f.decision='undecided'")
    args: list = []
    if site:
        sql += " AND f.site=?"
        args.append(site)
    if category:
        sql += " AND f.category=?"
        args.append(category)
    if band:
        sql += " AND a.band=?"
        args.append(band)
    sql += " ORDER BY f.site, f.finding_row"
    claims: dict[str, dict] = {}
    for r in store.db.execute(sql, args):
        c = claims.get(r["finding_id"])
        if c is None:
            claims[r["finding_id"]] = {
                "id": r["finding_id"], "site": r["site"], "audited_at": r["audited_at"], "category": r["category"],
                "rule": r["rule"], "severity": r["severity"], "text": r["text"], "sentence": r["sentence"],
                "page": r["page"], "pages": [r["page"]], "review_key": r["review_key"]}
        elif r["page"] not in c["pages"]:
            c["pages"].append(r["page"])
    from ..model import SEVERITIES
    return sorted(claims.values(), key=lambda c: (c["site"], -SEVERITIES.index(c["severity"]), c["category"]))
