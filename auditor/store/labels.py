"""Reviewers' decisions as a labelled corpus in the devset's format, so the judge can learn from them.

    OUT/texts/NAME.txt       each reviewed page's audited text, exactly as the engine read it
    OUT/labels.jsonl         {"doc": "texts/NAME.txt", "kind": K}
                             {"doc": ..., "category": C, "quote": Q}   a confirmed finding
                             {"doc": ..., "category": "none", "quote": Q}   a dismissed one
                             {"doc": ..., "category": "ambiguous", "quote": Q}   not decided yet
                             {"doc": ..., "category": C, "page": true}   a confirmed page-level one
    OUT/index-reviewed.tsv   file, kind, source (the page URL), chars

Each quote is an exact substring found exactly once in its text: the finding's evidence,
lengthened a word at a time on both sides until it is unique. The texts come from the store
(kept, compressed, when the findings were stored), not from the WARC: the WARC may have moved,
and extracting it again with another version could give a text the offsets no longer fit.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

from .db import Store

MAX_QUOTE = 600


class ExportError(ValueError):
    pass


def unique_quote(text: str, start: int, end: int) -> Optional[str]:
    """The shortest run of whole words around text[start:end] that occurs once in text."""
    s, e = start, end
    while True:
        q = text[s:e].strip()
        if q and text.find(q) == text.rfind(q):
            return q if len(q) <= MAX_QUOTE else None
        if (s == 0 and e == len(text)) or e - s > MAX_QUOTE:
            return None
        if s > 0:
            s -= 1
            while s > 0 and text[s - 1].isspace():
                s -= 1
            while s > 0 and not text[s - 1].isspace():
                s -= 1
        if e < len(text):
            e += 1
            while e < len(text) and text[e].isspace():
                e += 1
            while e < len(text) and not text[e].isspace():
                e += 1


def _span(text: str, f) -> Optional[tuple[int, int]]:
    s, e, t = f["start"], f["end"], f["text"] or ""
    if isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= len(text):
        return s, e
    i = text.find(t) if t else -1
    return (i, i + len(t)) if i >= 0 else None


def _name(url: str, sha: str) -> str:
    slug = re.sub(r"^https?://", "", url or "page")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", slug).strip("-").lower()[:60] or "page"
    return f"r_{slug}_{sha[:8]}.txt"


def export_labels(store: Store, out: Path, site: Optional[str] = None, kind: str = "clinic",
                  force: bool = False) -> dict:
    out = Path(out)
    if (out / "labels.jsonl").exists() and not force:
        raise ExportError(f"{out} already holds an export (labels.jsonl); pass --force to replace it")
    sql = ("SELECT p.id, p.url, p.text_sha256, s.id AS site_id, s.url AS site, s.input_json FROM pages p JOIN sites s ON s.id=p.site_id"
           " WHERE s.status='done' AND EXISTS (SELECT 1 FROM findings f JOIN current_decisions d"
           " ON d.site=s.url AND d.review_key=f.review_key WHERE f.page_id=p.id)")
    args: list = []
    if site:
        sql += " AND s.url=?"
        args.append(site)
    sql += " ORDER BY p.id DESC"       # the latest audit of a text speaks for it
    pages: dict[str, dict] = {}
    no_text: set = set()
    for r in store.db.execute(sql, args):
        if not r["text_sha256"]:
            no_text.add((r["site"], r["url"]))
            continue
        pages.setdefault(r["text_sha256"], dict(r))
    if not pages and not no_text:
        where = f" for {site}" if site else ""
        raise ExportError(f"no reviewed findings in {store.path}{where}; `auditor review` records decisions")
    texts_dir = out / "texts"
    texts_dir.mkdir(parents=True, exist_ok=True)
    if force:
        for old in texts_dir.glob("r_*.txt"):
            old.unlink()
    counts = {"texts": 0, "labels": 0, "confirmed": 0, "dismissed": 0, "ambiguous": 0, "not_unique": 0,
              "no_text": len(no_text)}
    labels, index = [], []
    for sha, pg in sorted(pages.items(), key=lambda kv: (kv[1]["site"], kv[1]["url"], kv[0])):
        text = store.text(sha)
        if text is None:
            counts["no_text"] += 1
            continue
        name = _name(pg["url"], sha)
        doc = f"texts/{name}"
        page_kind = json.loads(pg["input_json"] or "{}").get("kind") or kind
        rows = [dict(r) for r in store.db.execute(
            'SELECT f.category, f.text, f.start, f."end", f.review_key, d.decision FROM findings f'
            " LEFT JOIN current_decisions d ON d.site=? AND d.review_key=f.review_key WHERE f.page_id=?"
            " ORDER BY f.start", (pg["site"], pg["id"]))]
        rows += _site_wide(store, pg, text, {r["review_key"] for r in rows})
        mine, seen = [], set()
        for f in rows:
            label = {"confirmed": f["category"], "dismissed": "none"}.get(f["decision"], "ambiguous")
            if f["start"] is None:                   # a page-level finding
                if f["decision"] == "dismissed":
                    continue                         # no label: a page-level finding here counts as wrong
                row = {"doc": doc, "category": f["category"], "page": True}
                if label == "ambiguous":
                    row["ambiguous"] = True
            else:
                span = _span(text, f)
                quote = unique_quote(text, *span) if span else None
                if quote is None:
                    counts["not_unique"] += 1
                    continue
                row = {"doc": doc, "category": label, "quote": quote}
            key = json.dumps(row, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            mine.append(row)
            counts[{"none": "dismissed", "ambiguous": "ambiguous"}.get(label, "confirmed")] += 1
        if not mine:
            continue
        (texts_dir / name).write_text(text, encoding="utf-8", newline="")
        labels.append({"doc": doc, "kind": page_kind})
        labels.extend(mine)
        index.append((name, page_kind, pg["url"], len(text)))
        counts["texts"] += 1
    counts["labels"] = sum(1 for r in labels if "kind" not in r)
    with open(out / "labels.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for r in labels:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(out / "index-reviewed.tsv", "w", encoding="utf-8", newline="\n") as fh:
        fh.write("file\tkind\tsource\tchars\n")
        for name, k, src, n in index:
            fh.write(f"{name}\t{_tsv(k)}\t{_tsv(src)}\t{n}\n")
    return counts


def _site_wide(store: Store, pg: dict, text: str, have: set) -> list[dict]:
    """Findings of text that stands on most of the site's pages (navigation, footer) are reported on
    the first page only; the same block on this page carries the same claim, so it is labelled too
    (else the judge would learn that the claim is no claim here)."""
    from ..review import review_key
    row = store.db.execute("SELECT report_json FROM sites WHERE id=?", (pg["site_id"],)).fetchone()
    report = json.loads(row[0]) if row else {}
    decisions = {r["review_key"]: r["decision"] for r in store.db.execute(
        "SELECT review_key, decision FROM current_decisions WHERE site=?", (pg["site"],))}
    out = []
    for p in report.get("pages", []):
        for f in p.get("findings", []):
            key = review_key(f["category"], f.get("text"))
            sentence, ev = f.get("sentence") or "", f.get("text") or ""
            if key in have or "site-wide" not in (f.get("note") or "") or not ev or ev not in sentence:
                continue
            off, i = sentence.index(ev), text.find(sentence)
            while i >= 0:
                out.append({"category": f["category"], "text": ev, "start": i + off, "end": i + off + len(ev),
                            "review_key": key, "decision": decisions.get(key)})
                i = text.find(sentence, i + 1)
            have.add(key)
    return out


def _tsv(v: str) -> str:
    return re.sub(r"[\t\r\n]+", " ", str(v))
