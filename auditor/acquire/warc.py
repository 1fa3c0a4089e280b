"""Evidence in a standard web archive: every request and response of a run, gzip per record (warcio).

Response records hold the body exactly as audited (after any Content-Encoding was undone; the
original encoding is kept in an `X-Auditor-Original-Content-Encoding` header) so that the record's
payload hash is the SHA-256 the report gives. Audited pages carry `WARC-Auditor-Target` (the site
the user asked for), which lets `auditor scan RUN.warc.gz` rebuild the same site reports offline.
A body cut on purpose at a limit (robots.txt) says so with the standard `WARC-Truncated: length`.

When a site is finished, a metadata record (`WARC-Auditor-Site-End`) lists its audited pages'
record ids and its errors. A crawl killed part-way leaves no such record, so the reader can tell
a finished site from a partial copy; the warcinfo record says the file has these records.
The reader (warcread.py) rebuilds each site from them.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from .. import __version__
from ..model import Document, Error, now_iso

TARGET = "WARC-Auditor-Target"
AUDITED = "WARC-Auditor-Audited"
SITE_END = "WARC-Auditor-Site-End"
SITE_RECORDS = "auditor-site-end-records"     # warcinfo field: this file marks finished sites
DROP_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


def warc_date(iso: str) -> str:
    return iso.replace("+00:00", "Z")


class WarcLog:
    """Appends records to one .warc.gz file; safe to call from the crawler's tasks."""

    def __init__(self, path: Path, info: Optional[dict] = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")
        self._writer = WARCWriter(self._fh, gzip=True)
        self._lock = threading.Lock()
        fields = {"software": f"auditor/{__version__}", "format": "WARC File Format 1.1", SITE_RECORDS: "yes"}
        fields.update(info or {})
        with self._lock:
            self._writer.write_record(self._writer.create_warcinfo_record(self.path.name, fields))
            self._fh.flush()

    def request(self, url: str, method: str, headers: dict, when: str) -> str:
        parts = url.split("/", 3)
        path = "/" + (parts[3] if len(parts) > 3 else "")
        http = StatusAndHeaders(f"{method} {path} HTTP/1.1", list(headers.items()), is_http_request=True)
        rec = self._writer.create_warc_record(url, "request", http_headers=http,
                                              warc_headers_dict={"WARC-Date": warc_date(when)})
        return self._write(rec)

    def response(self, url: str, status: int, reason: str, headers: list, body: bytes, when: str,
                 target: Optional[str] = None, audited: bool = False, concurrent_to: Optional[str] = None,
                 truncated: bool = False) -> str:
        kept = [(k, v) for k, v in headers if k.lower() not in DROP_HEADERS]
        enc = [v for k, v in headers if k.lower() == "content-encoding"]
        if enc:
            kept.append(("X-Auditor-Original-Content-Encoding", ", ".join(enc)))
        kept.append(("Content-Length", str(len(body))))
        http = StatusAndHeaders(f"{status} {reason or ''}".strip(), kept, protocol="HTTP/1.1")
        extra = {"WARC-Date": warc_date(when)}
        if target:
            extra[TARGET] = target
        if audited:
            extra[AUDITED] = "yes"
        if concurrent_to:
            extra["WARC-Concurrent-To"] = concurrent_to
        if truncated:
            extra["WARC-Truncated"] = "length"
        rec = self._writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                              http_headers=http, warc_headers_dict=extra)
        return self._write(rec)

    def site_end(self, target: str, start_url: str, page_records: list[str], errors: list[Error]) -> str:
        """The record that says a site's crawl finished: its audited pages (record ids, in crawl
        order) and its errors, as JSON."""
        payload = json.dumps({"target": target, "start_url": start_url, "pages": page_records,
                              "errors": [e.to_dict() for e in errors]}, ensure_ascii=False).encode("utf-8")
        rec = self._writer.create_warc_record(
            start_url, "metadata", payload=io.BytesIO(payload), length=len(payload),
            warc_content_type="application/json",
            warc_headers_dict={"WARC-Date": warc_date(now_iso("milliseconds")), TARGET: target, SITE_END: "yes"})
        return self._write(rec)

    def _write(self, rec) -> str:
        with self._lock:
            self._writer.write_record(rec)
            self._fh.flush()
        return rec.rec_headers.get_header("WARC-Record-ID")

    def close(self):
        with self._lock:
            self._fh.close()


# -- reading back -------------------------------------------------------------------------------
class _Iterator(ArchiveIterator):
    """warcio's iterator, noting whether the last gzip member ended properly before it closes
    (a cut file otherwise just ends, as if complete)."""

    ended_cleanly: Optional[bool] = None

    def close(self):
        if self.reader is not None and self.ended_cleanly is None:
            d = self.reader.decompressor
            self.ended_cleanly = d is None or bool(getattr(d, "eof", True))
        super().close()


@dataclass
class _FileIndex:
    """What the first pass learns of one file: its finished sites and the targets it holds."""

    path: Path
    marks_sites: bool = False
    ends: list = field(default_factory=list)          # [(target, marker record id, payload)]
    targets: list = field(default_factory=list)       # targets with audited pages, first-seen order
    errors: list = field(default_factory=list)


def read_sites(paths, max_bytes: Optional[int] = None) -> Iterator[tuple[str, list[Document], list[Error]]]:
    """(target, audited pages, errors) per site of one WARC file or of several.

    The files of one batch run (`run-N-STAMP.warc.gz` in one folder: a resumed run writes one
    per resume) are read as one archive, in the order given; other files each stand alone. In an
    archive each site is rebuilt once: from its last finished copy (the pages its end-of-site
    record lists, with its errors), else from its last partial copy, marked incomplete. Files
    written before end-of-site records existed give every site as complete, as they always did.
    A body larger than `max_bytes` is an error, not read; a cut or corrupt file is reported.
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    runs: dict[tuple, list[Path]] = {}
    for p in paths:
        m = _BATCH_WARC.match(p.name)
        runs.setdefault((str(p.parent.resolve()), m.group(1)) if m else (str(p),), []).append(p)
    for group in runs.values():
        yield from _read_archive(group, max_bytes)


_BATCH_WARC = re.compile(r"^(run-\d+)-\d{8}T\d{6}Z\.warc(?:\.gz)?$")


def _read_archive(paths: list[Path], max_bytes: Optional[int]):
    index = [_index(p) for p in paths]
    winner: dict[str, tuple[int, Optional[str]]] = {}     # target -> (file, end record id or None)
    for i, ix in enumerate(index):
        for target in ix.targets if not ix.marks_sites else ():
            winner[target] = (i, None)                       # an older file: complete as it stands
        for target, rec_id, _ in ix.ends:
            winner[target] = (i, rec_id)
    partial: dict[str, int] = {}
    for i, ix in enumerate(index):
        for target in ix.targets:
            if target not in winner:
                partial[target] = i
    sites = 0
    for i, ix in enumerate(index):
        for item in _rebuild(i, ix, winner, partial, max_bytes):
            sites += item[0] != str(ix.path)
            yield item
    if not sites and not any(ix.errors for ix in index):
        where = str(paths[0]) if len(paths) == 1 else f"{paths[0]} (and {len(paths) - 1} more)"
        yield where, [], [Error(where, f"{where}: no audited pages in this WARC file")]


class _Reading:
    """One pass over a file: its records, with a truncated or unreadable file noted in `errors`.

    warcio writes decompression errors to stderr and carries on; they are caught here (stderr is
    redirected only while warcio itself reads: `with reading.quiet():` around content reads) and
    reported as one error of the file."""

    def __init__(self, path: Path):
        self.path = path
        self.errors: list[Error] = []
        self._stderr = io.StringIO()

    def quiet(self):
        return contextlib.redirect_stderr(self._stderr)

    def records(self):
        it = None
        try:
            with open(self.path, "rb") as fh:
                it = _Iterator(fh)
                records = iter(it)
                while True:
                    with self.quiet():
                        rec = next(records, None)
                    if rec is None:
                        break
                    yield rec
        except Exception as e:
            self.errors.append(Error(str(self.path), f"{self.path}: not a readable WARC file ({type(e).__name__}: "
                                                     f"{e}); the records before the damage are used"))
            return
        if (it is not None and it.ended_cleanly is False) or self._stderr.getvalue():
            self.errors.append(Error(str(self.path), f"{self.path}: truncated or corrupt: the file ends inside a "
                                                     "record; sites whose records were cut are reported as "
                                                     "incomplete"))


def _index(path: Path) -> _FileIndex:
    ix = _FileIndex(path)
    seen: set[str] = set()
    reading = _Reading(path)
    for rec in reading.records():
        h = rec.rec_headers
        if rec.rec_type == "warcinfo":
            with reading.quiet():
                info = rec.content_stream().read(65536)
            ix.marks_sites = ix.marks_sites or f"{SITE_RECORDS}: yes".encode() in info
        elif rec.rec_type == "metadata" and h.get_header(SITE_END) == "yes":
            try:
                with reading.quiet():
                    payload = json.loads(rec.content_stream().read(16 << 20))
                ix.ends.append((h.get_header(TARGET), h.get_header("WARC-Record-ID"), payload))
            except ValueError:
                continue           # a cut end record: the site counts as unfinished
        elif rec.rec_type == "response" and h.get_header(AUDITED) == "yes":
            target = h.get_header(TARGET) or h.get_header("WARC-Target-URI")
            if target not in seen:
                seen.add(target)
                ix.targets.append(target)
    ix.errors = reading.errors
    return ix


def _rebuild(i: int, ix: _FileIndex, winner: dict, partial: dict, max_bytes: Optional[int]):
    from .fetch import binary_reason, decode_body   # the same decoding the live run used
    wanted = {payload_id: set(p.get("pages") or []) for _, payload_id, p in ix.ends}
    ends = {rec_id: payload for _, rec_id, payload in ix.ends}
    pages: dict[str, dict[str, Document]] = {}       # target -> record id -> page
    problems: dict[str, list[Error]] = {}            # target -> pages that could not be used
    reading = _Reading(ix.path)
    for rec in reading.records():
        h = rec.rec_headers
        if rec.rec_type == "metadata" and h.get_header(SITE_END) == "yes":
            target, rec_id = h.get_header(TARGET), h.get_header("WARC-Record-ID")
            if winner.get(target) != (i, rec_id) or rec_id not in ends:
                continue
            payload = ends[rec_id]
            listed = payload.get("pages") or []
            got = pages.pop(target, {})
            unusable = problems.pop(target, [])
            docs = [got[r] for r in listed if r in got]
            errs = [Error(**e) for e in payload.get("errors") or []] + unusable
            if len(listed) > len(docs) + len(unusable):
                errs.append(Error(target, f"{len(listed) - len(docs) - len(unusable)} archived page(s) of this "
                                          f"site are missing from {ix.path}"))
            yield target, docs, errs
            continue
        if rec.rec_type != "response" or h.get_header(AUDITED) != "yes":
            continue
        url = h.get_header("WARC-Target-URI")
        target = h.get_header(TARGET) or url
        rec_id = h.get_header("WARC-Record-ID")
        win = winner.get(target)
        if win and win[0] == i and win[1] is not None:
            if rec_id not in wanted.get(win[1], ()):
                continue                    # a page of an earlier, unfinished copy
        elif not (win == (i, None) or partial.get(target) == i):
            continue                        # this site is rebuilt from another file
        limit = max_bytes if max_bytes is not None else 1 << 62
        with reading.quiet():
            body = _read_upto(rec.content_stream(), limit + 1)
        if len(body) > limit:
            problems.setdefault(target, []).append(Error(url, (
                f"archived body larger than the {limit:,}-byte limit (--max-size); not audited")))
            continue
        if rec.raw_stream.limit > 0:
            problems.setdefault(target, []).append(Error(url, "archived record is cut short (truncated file); "
                                                              "not audited"))
            continue
        http = rec.http_headers
        ctype = (http.get_header("Content-Type") or "text/html") if http else "text/html"
        binary = binary_reason(body, ctype)
        if binary:
            problems.setdefault(target, []).append(Error(url, binary))
            continue
        status = int(http.get_statuscode()) if http else None
        text, _ = decode_body(body, ctype)
        pages.setdefault(target, {})[rec_id] = Document(
            target=target, url=url, content=body, text=text,
            content_type="text/plain" if ctype.split(";")[0].strip().lower() == "text/plain" else "text/html",
            status=status, fetched_at=_iso(h.get_header("WARC-Date")),
            sha256=hashlib.sha256(body).hexdigest(), warc_record_id=rec_id)
    for target in list(pages) + [t for t in problems if t not in pages]:
        docs = list(pages.pop(target, {}).values())
        errs = problems.pop(target, [])
        if winner.get(target) != (i, None):
            errs.append(Error(target, f"incomplete in {ix.path}: the crawl of this site was stopped before it "
                                      f"finished (no end-of-site record); {len(docs)} archived page(s) audited"))
        yield target, docs, errs
    if reading.errors or ix.errors:
        yield str(ix.path), [], reading.errors or ix.errors


def _read_upto(stream, n: int) -> bytes:
    """At most n bytes, read 1 MiB at a time (one big read would hold two copies of n bytes)."""
    parts, got = [], 0
    while got < n:
        piece = stream.read(min(1 << 20, n - got))
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)


def _iso(warc_dt: Optional[str]) -> Optional[str]:
    if not warc_dt:
        return None
    try:
        return datetime.fromisoformat(warc_dt.replace("Z", "+00:00")).astimezone(timezone.utc).isoformat().replace(
            "+00:00", "Z")
    except ValueError:
        return warc_dt
