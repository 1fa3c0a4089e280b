"""A site's past audits and what changed between two of them, read from the store's views.

Both count the same thing: distinct claims (category and normalised evidence text) that no
reviewer dismissed, so the findings `history` gives for an audit are the `added` plus `unchanged`
that `diff` gives when that audit is the newer one.
"""
from __future__ import annotations

from typing import Optional

from .db import Store


def history(store: Store, url: str) -> list[dict]:
    rows = store.db.execute(
        "SELECT a.*, r.rules_version, r.tool_version FROM audit_summary a JOIN runs r ON r.id=a.run"
        " WHERE a.site=? ORDER BY a.audited_at, a.audit", (url,)).fetchall()
    keep = ("audit", "run", "run_kind", "audited_at", "status", "score", "band", "machine_score", "pages", "error",
            "findings", "confirmed", "dismissed", "undecided", "rules_version", "tool_version")
    return [{k: r[k] for k in keep} for r in rows]


def _claims(store: Store, audit: int) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in store.db.execute("SELECT * FROM finding_reviews WHERE audit=? ORDER BY finding_row", (audit,)):
        out.setdefault(r["review_key"], {
            "id": r["finding_id"], "rule": r["rule"], "category": r["category"], "severity": r["severity"],
            "text": r["text"], "page": r["page"], "decision": r["decision"], "reason": r["reason"],
            "reviewer": r["reviewer"], "decided_at": r["decided_at"]})
    return out


def diff(store: Store, url: str, since: Optional[str] = None) -> dict:
    """Claims added, removed by the clinic, dismissed by review and unchanged between two audits:
    the latest, and the one before it (or the last one on or before `since`)."""
    audits = [a for a in history(store, url) if a["status"] == "done"]
    if len(audits) < 2:
        raise LookupError(f"{url}: {len(audits)} completed audit(s) in the store; a diff needs two")
    new = audits[-1]
    if since:
        older = [a for a in audits[:-1] if a["audited_at"] <= since]
        if not older:
            raise LookupError(f"{url}: no audit on or before {since} (the first is from {audits[0]['audited_at']})")
        old = older[-1]
    else:
        old = audits[-2]
    a, b = _claims(store, old["audit"]), _claims(store, new["audit"])
    counted_a = {k for k, c in a.items() if c["decision"] != "dismissed"}
    counted_b = {k for k, c in b.items() if c["decision"] != "dismissed"}
    dismissed = []
    for k in sorted(set(a) | set(b)):
        c = b.get(k) or a[k]
        if c["decision"] == "dismissed":
            dismissed.append({**c, "still_on_site": k in b})

    def end(x):
        return {"run": x["run"], "audited_at": x["audited_at"], "score": x["score"],
                "machine_score": x["machine_score"], "findings": x["findings"]}
    return {"url": url, "since": since, "from": end(old), "to": end(new),
            "added": [b[k] for k in b if k in counted_b - counted_a],
            "removed": [a[k] for k in a if k in counted_a - counted_b],
            "dismissed_by_review": dismissed,
            "unchanged": len(counted_a & counted_b)}
