"""Evidence in a standard web archive: every request and response of a run, gzip per record (warcio).

Response records hold the body exactly as audited (after any Content-Encoding was undone; the
original encoding is kept in an `X-Auditor-Original-Content-Encoding` header) so that the record's
payload hash is the SHA-256 the report gives. Audited pages carry `WARC-Auditor-Target` (the site
the user asked for), which lets `auditor scan RUN.warc.gz` rebuild the same site reports offline.
"""
from __future__ import annotations

import hashlib
import io
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from .. import __version__
from ..model import Document, Error

TARGET = "WARC-Auditor-Target"
AUDITED = "WARC-Auditor-Audited"
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
        fields = {"software": f"auditor/{__version__}", "format": "WARC File Format 1.1"}
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
                 target: Optional[str] = None, audited: bool = False, concurrent_to: Optional[str] = None) -> str:
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
        rec = self._writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                              http_headers=http, warc_headers_dict=extra)
        return self._write(rec)

    def _write(self, rec) -> str:
        with self._lock:
            self._writer.write_record(rec)
            self._fh.flush()
        return rec.rec_headers.get_header("WARC-Record-ID")

    def close(self):
        with self._lock:
            self._fh.close()


def read_sites(path: Path) -> Iterator[tuple[str, list[Document], list[Error]]]:
    """(target, audited pages, errors) per site, in the order the sites first appear in the file."""
    from .fetch import decode_body   # the same decoding the live run used
    sites: dict[str, list[Document]] = {}
    errors: list[Error] = []
    try:
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type != "response":
                    continue
                h = rec.rec_headers
                if h.get_header(AUDITED) != "yes":
                    continue
                url = h.get_header("WARC-Target-URI")
                target = h.get_header(TARGET) or url
                body = rec.content_stream().read()
                http = rec.http_headers
                ctype = (http.get_header("Content-Type") or "text/html") if http else "text/html"
                status = int(http.get_statuscode()) if http else None
                text, charset = decode_body(body, ctype)
                sites.setdefault(target, []).append(Document(
                    target=target, url=url, content=body, text=text,
                    content_type="text/plain" if ctype.split(";")[0].strip().lower() == "text/plain" else "text/html",
                    status=status, fetched_at=_iso(h.get_header("WARC-Date")),
                    sha256=hashlib.sha256(body).hexdigest(), warc_record_id=h.get_header("WARC-Record-ID")))
    except Exception as e:   # a truncated or corrupt archive: report it, keep what was read
        errors.append(Error(str(path), f"{path}: not a readable WARC file ({type(e).__name__}: {e})"))
    if not sites and not errors:
        errors.append(Error(str(path), f"{path}: no audited pages in this WARC file"))
    for target, docs in sites.items():
        yield target, docs, []
    if errors:
        yield str(path), [], errors


def _iso(warc_dt: Optional[str]) -> Optional[str]:
    if not warc_dt:
        return None
    try:
        return datetime.fromisoformat(warc_dt.replace("Z", "+00:00")).astimezone(timezone.utc).isoformat().replace(
            "+00:00", "Z")
    except ValueError:
        return warc_dt
