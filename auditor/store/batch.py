"""Batch audits: thousands of sites from a list, resumable, streamed into the store.

Sites are audited concurrently (a global limit) while each host keeps the crawler's politeness:
all workers share one Crawler, whose per-host gate serialises requests to a host. Inputs are
read lazily and each finished site is written at once and forgotten, so memory does not grow
with the length of the list.
"""
from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import re
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from ..faults import LocalFault, is_local
from ..model import SEVERITIES, internal_error
from .db import Store
from ..acquire.urls import BadURL, start_url


@dataclass
class Target:
    line: int
    url: str            # normalised
    raw: str
    columns: dict


@dataclass
class BadLine:
    line: int
    text: str
    reason: str
    hint: Optional[str] = None          # a likely fix ("http://clinic.example/")

    def message(self, path) -> str:
        hint = f" (did you mean {self.hint}?)" if self.hint else ""
        return f"{path}:{self.line}: {self.reason}: {self.text!r}{hint}; skipped"


class InputError(ValueError):
    """The input list as a whole cannot be read (a CSV without a url column, a broken CSV)."""


def read_targets(path: Path) -> Iterator[Target | BadLine]:
    """One URL per line (blank lines and # comments skipped), or a CSV with a `url` column.

    A line (or CSV row) that is not UTF-8 is reported as a BadLine and the rest is read."""
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        header = next(csv.reader([first]), []) if first else []
        url_col = next((h for h in header if h.strip().lower() == "url"), None)
        if url_col is None and _is_table(path, first, header):
            cols = ", ".join(repr(h.strip()) for h in header if h.strip())
            raise InputError(f"{path}: a CSV list needs a column named 'url' (its columns are {cols}); "
                             f"rename the column that holds the URLs, or give one URL per line")
        seen: set[str] = set()
        try:
            if url_col is not None:
                reader = csv.DictReader(fh)
                for row in reader:
                    line = reader.line_num
                    bad = _undecodable([v for v in row.values() if isinstance(v, str)])
                    if bad:
                        yield BadLine(line, _shown(",".join(v for v in row.values() if isinstance(v, str))), bad)
                        continue
                    raw = (row.get(url_col) or "").strip()
                    cols = {k: v for k, v in row.items() if k != url_col and k is not None}
                    yield _target(line, raw, cols, seen)
            else:
                for line, text in enumerate(fh, 1):
                    raw = text.strip()
                    if not raw or raw.startswith("#"):
                        continue
                    bad = _undecodable([raw])
                    if bad:
                        yield BadLine(line, _shown(raw), bad)
                        continue
                    yield _target(line, raw, {}, seen)
        except csv.Error as e:
            raise InputError(f"{path}: not a readable CSV file ({e})") from None


def _is_table(path: Path, first: str, header: list) -> bool:
    """Whether the file reads as a table (a .csv, or a first line of several fields that is not
    itself a URL), so a missing url column is the problem, not each line."""
    if path.suffix.lower() in (".csv", ".tsv"):
        return True
    line = first.strip()
    if len(header) < 2 or not line or line.startswith("#"):
        return False
    try:
        start_url(line)
        return False
    except BadURL:
        return True


def _undecodable(values) -> Optional[str]:
    for v in values:
        for ch in v:
            if "\udc80" <= ch <= "\udcff":          # a byte that was not UTF-8 (surrogateescape)
                return f"not valid UTF-8 (byte 0x{ord(ch) - 0xdc00:02x}); save the list as UTF-8"
    return None


def _shown(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _target(line, raw, cols, seen) -> Target | BadLine:
    if not raw:
        return BadLine(line, raw, "no URL in this row")
    try:
        url = start_url(raw)                 # as `auditor audit` reads its arguments
    except BadURL as e:
        return BadLine(line, raw, e.reason, e.hint)
    if url in seen:
        return BadLine(line, raw, f"duplicate of an earlier line ({url})")
    seen.add(url)
    return Target(line, url, raw, cols)


def input_key(path: Path) -> str:
    h = hashlib.sha256(str(path.resolve()).encode() + b"\0")
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Stats:
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    pages: int = 0


async def run_batch(auditor, crawler, store: Store, run_id: int, targets, stats: Stats,
                    concurrency: int = 16, on_site: Optional[Callable] = None, include_text: bool = False,
                    extra: Optional[dict] = None, executor=None):
    """Audit every target not yet in the run; each finished site is committed at once.

    With an executor (workers.Pool's process pool), each site's analysis runs in a worker process,
    so the event loop keeps fetching while pages are analysed; fetching, politeness and the store
    stay here, in this one process."""
    done = store.done_urls(run_id)
    queue: asyncio.Queue = asyncio.Queue(maxsize=concurrency * 2)

    async def producer():
        for t in targets:
            if t.url in done:
                stats.skipped += 1
                continue
            await queue.put(t)
        for _ in range(concurrency):
            await queue.put(None)

    def page_seen(res):
        stats.pages += 1

    async def worker():
        while True:
            t = await queue.get()
            if t is None:
                return
            rep = await audit_target(auditor, crawler, t, extra, include_text, page_seen, executor)
            store_site(store, auditor, run_id, t, rep, stats, on_site)

    # the first failure that is not a site's (a local fault, a bug in the store) cancels the rest,
    # so the sites in flight stay unfinished for a resume and nothing fails during shutdown
    tasks: list[asyncio.Task] = []

    async def guarded(coro):
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except BaseException:
            for task in tasks:
                if task is not asyncio.current_task():
                    task.cancel()
            raise

    tasks += [asyncio.create_task(guarded(producer()))]
    tasks += [asyncio.create_task(guarded(worker())) for _ in range(concurrency)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
    if failures:
        raise next((f for f in failures if isinstance(f, LocalFault)), failures[0])


async def audit_target(auditor, crawler, t: Target, extra: Optional[dict] = None, include_text: bool = False,
                       page_seen: Optional[Callable] = None, executor=None):
    """One site of a batch, crawled and analysed: its SiteReport (not yet stored). The local runner
    and the Dask workers (dask_batch.py) both audit a site with this."""
    # a bug met on one site (in the crawler, the extractor or the engine) is that site's
    # error row; a local fault (disk full, permission denied) stops the run unrecorded
    try:
        docs, errors, info = await crawler.crawl_site(t.url, page_seen)
    except Exception as e:
        if is_local(e):
            raise LocalFault(e, str(getattr(crawler.warc, "path", ""))) from e
        docs, errors, info = [], [internal_error(t.url, e)], {}
    info = {k: v for k, v in info.items() if k != "skipped"} | {"skipped_links": len(info.get("skipped", []))}
    site_extra = {"crawl": info, **(extra or {}), "input": t.columns}
    try:
        if executor is not None:
            return await asyncio.get_running_loop().run_in_executor(
                executor, _audit_in_worker, t.url, docs, errors, include_text, site_extra)
        return auditor.audit_site(t.url, docs, errors, include_text=include_text, extra=site_extra)
    except BrokenExecutor:
        raise           # a worker process died (killed, Ctrl-C): the run's fault; the site stays unfinished
    except Exception as e:
        return auditor.audit_site(t.url, [], [*errors, internal_error(t.url, e)], extra=site_extra)


def _audit_in_worker(url, docs, errors, include_text, site_extra):
    from .. import workers
    return workers._auditor.audit_site(url, docs, errors, include_text=include_text, extra=site_extra)


def store_site(store: Store, auditor, run_id: int, t: Target, rep, stats: Stats, on_site: Optional[Callable] = None):
    """One finished site into the store (one transaction), counted and shown."""
    try:
        write_reviewed(store, auditor, run_id, t.line, t.url, t.columns, rep)
    except Exception as e:
        if is_local(e):
            raise LocalFault(e, str(store.path)) from e
        raise
    if rep.pages:
        stats.done += 1
    else:
        stats.failed += 1
    if on_site:
        on_site(t, rep)


def write_reviewed(store: Store, auditor, run_id: int, line, url: str, columns: dict, rep):
    """Store the machine's report with the score that the site's standing dismissals leave; return
    the report as a reader sees it (decisions applied)."""
    import copy

    from ..review import apply
    from .reviews import decisions_for
    decisions = decisions_for(store, url)
    reviewed = None
    shown = rep
    if decisions and rep.pages:
        shown = apply(copy.deepcopy(rep), url, decisions, auditor.rules.scoring, auditor.weights)
        if any(p.dismissed for p in shown.pages):
            reviewed = (shown.score, shown.band)
    store.write_site(run_id, line, url, columns, rep, reviewed=reviewed)
    return shown


def scoring_of(auditor) -> dict:
    """What a run records so that a later dismissal is rescored with the weights the run used."""
    return {"scoring": auditor.rules.scoring, "weights": auditor.weights}


# -- exports ------------------------------------------------------------------------------------
def _slug(url: str, n: int) -> str:
    s = re.sub(r"^https?://", "", url)
    s = re.sub(r"[^A-Za-z0-9.-]+", "_", s).strip("_")[:80]
    return f"{n:05d}-{s or 'site'}"


def export(store: Store, run_id: int, out_dir: Path, categories: list[str], rules_info: dict,
           formats=("json", "markdown", "html"), fallback_scoring: Optional[dict] = None) -> dict:
    """summary.csv, summary.jsonl, reports/ (one file per site and format) and index.html, from the
    store alone, with reviewers' current decisions applied."""
    from ..report import FORMATTERS
    from ..report.html import render_index
    from ..report.text_formats import csv_cell, safe_row

    out_dir = Path(out_dir)
    reports_dir = out_dir / "reports"
    reports_dir.mkdir(parents=True, exist_ok=True)
    run = store.run(run_id)
    rows = list(_summary_rows(store, run_id, categories, fallback_scoring))
    input_cols = []
    for r in rows:
        for k in r["input"]:
            if k not in input_cols:
                input_cols.append(k)
    fields = ["line", "url", *input_cols, "score", "band", *categories, "top_finding", "error", "report"]
    index_rows = []
    with open(out_dir / "summary.csv", "w", encoding="utf-8", newline="") as fc, \
            open(out_dir / "summary.jsonl", "w", encoding="utf-8") as fj:
        w = csv.DictWriter(fc, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
        csv.writer(fc, lineterminator="\n").writerow([csv_cell(f) for f in fields])   # input columns: the user's
        for n, row in enumerate(rows, 1):
            rep = row["report"]
            slug = _slug(row["url"], n)
            for fmt in formats:
                ext = {"json": "json", "markdown": "md", "html": "html"}[fmt]
                with open(reports_dir / f"{slug}.{ext}", "w", encoding="utf-8") as fh:
                    FORMATTERS[fmt]([rep], fh, rules_info)
            report_rel = f"reports/{slug}.html" if "html" in formats else f"reports/{slug}.json"
            flat = {"line": row["line"], "url": row["url"], **row["input"], "score": row["score"],
                    "band": row["band"], **{c: row["counts"].get(c, 0) for c in categories},
                    "top_finding": row["top"], "error": row["error"], "report": report_rel}
            w.writerow(safe_row(flat))
            fj.write(json.dumps({"line": row["line"], "url": row["url"], "input": row["input"], "score": row["score"],
                                 "band": row["band"], "counts": row["counts"], "top_finding": row["top"],
                                 "error": row["error"], "report": report_rel}, ensure_ascii=False) + "\n")
            index_rows.append({"target": row["url"], "score": row["score"], "band": row["band"], "input": row["input"],
                               "counts": row["counts"], "error": row["error"], "report": report_rel,
                               "top": row["top"], "top_severity": row["top_severity"]})
    if "html" in formats:
        (out_dir / "index.html").write_text(
            render_index(index_rows, f"Batch audit: {run['input']} (run {run_id})", categories, input_cols,
                         tool=_run_tool(run)), encoding="utf-8")
    return {"sites": len(rows), "dir": str(out_dir)}


def _run_tool(run) -> dict:
    return {"name": "auditor", "version": run["tool_version"], "rules_version": run["rules_version"]}


def claim_counts(findings) -> dict[str, int]:
    """Distinct claims (category and normalised evidence) per category: how history, diff, the
    summaries and the store's views all count."""
    from ..review import review_key
    keys: dict[str, set] = {}
    for f in findings:
        keys.setdefault(f.category, set()).add(review_key(f.category, f.text))
    return {c: len(k) for c, k in keys.items()}


def _summary_rows(store: Store, run_id: int, categories: list[str], fallback_scoring: Optional[dict] = None):
    from .reviews import reviewed_report
    for s in store.sites(run_id):
        rep = reviewed_report(store, s, fallback_scoring)
        findings = list(rep.findings())
        top = max(findings, key=lambda f: (SEVERITIES.index(f.severity), f.points or 0), default=None)
        failed = s["status"] == "failed"
        yield {"line": s["line"], "url": s["url"], "input": json.loads(s["input_json"] or "{}"),
               "score": None if failed else rep.score, "band": None if failed else rep.band, "error": s["error"],
               "counts": claim_counts(findings), "top": f"{top.category}: {top.text}" if top else None,
               "top_severity": top.severity if top else None, "report": rep}


def count_lines(path: Path) -> int:
    n = 0
    for t in read_targets(path):
        if isinstance(t, Target):
            n += 1
    return n
