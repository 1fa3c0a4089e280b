"""Byte-level helpers for fetched bodies: bounded decompression and charset decoding.

Shared by the live crawler and the WARC reader, so a page re-audited from the archive is decoded
exactly as it was when fetched.
"""
from __future__ import annotations

import re
import zlib
from typing import Optional

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)


STEP = 64 * 1024      # most bytes one decompression call may produce


class TooLarge(Exception):
    pass


class Decoder:
    """Undoes Content-Encoding (gzip, deflate, br) chunk by chunk, never past `limit` bytes out.

    Every encoding is decompressed in steps of at most STEP bytes and counted as it goes, so a
    bomb (a few KB that inflate to gigabytes) costs at most `limit` plus one step of memory.
    Past the limit `feed` raises TooLarge, or, with `truncate`, returns what fits and sets
    `truncated` (robots.txt is read up to a limit, not refused).
    """

    def __init__(self, encoding: str, limit: int, truncate: bool = False):
        self.limit = limit
        self.out = 0
        self.truncate = truncate
        self.truncated = False
        enc = (encoding or "identity").lower().strip()
        self.kind = enc
        if enc in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._z = None          # zlib-wrapped or raw: decided on the first chunk
        elif enc == "br":
            import brotli
            self._br = brotli.Decompressor()
        elif enc not in ("identity", ""):
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")

    def feed(self, chunk: bytes) -> bytes:
        if self.truncated:
            return b""
        if self.kind in ("identity", ""):
            return self._count(chunk)
        parts = []
        if self.kind == "br":
            data = chunk
            while not self.truncated:
                # with a limit, brotli stops at STEP bytes and must then be called with no new
                # input until it can accept more
                piece = self._br.process(data, output_buffer_limit=STEP)
                data = b""
                parts.append(self._count(piece))
                if self._br.can_accept_more_data() or self._br.is_finished() or not piece:
                    break
            return b"".join(parts)
        if self.kind == "deflate" and self._z is None:
            self._z = zlib.decompressobj() if chunk[:1] == b"\x78" else zlib.decompressobj(-zlib.MAX_WBITS)
        data = chunk
        while not self.truncated:
            piece = self._z.decompress(data, STEP)
            parts.append(self._count(piece))
            data = self._z.unconsumed_tail
            if not data:
                break
        return b"".join(parts)

    def finish(self) -> bytes:
        """Output zlib may still hold once the input has ended (each call bounded by STEP)."""
        parts = []
        if getattr(self, "_z", None) is not None:
            while not self.truncated:
                piece = self._z.decompress(b"", STEP)
                if not piece:
                    break
                parts.append(self._count(piece))
        return b"".join(parts)

    def _count(self, piece: bytes) -> bytes:
        if self.out + len(piece) > self.limit:
            if not self.truncate:
                raise TooLarge(self.out + len(piece))
            piece = piece[: self.limit - self.out]
            self.truncated = True
        self.out += len(piece)
        return piece


def charset_from_header(content_type: str) -> Optional[str]:
    m = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type or "", re.I)
    return m.group(1) if m else None


BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# WHATWG reads these labels as windows-1252 (a superset that browsers use for all three)
_LABELS = {"iso-8859-1": "windows-1252", "latin1": "windows-1252", "latin-1": "windows-1252",
           "l1": "windows-1252", "us-ascii": "windows-1252", "ascii": "windows-1252"}
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")   # WHATWG MIME sniffing's binary bytes
_MARKUP = re.compile(rb"<(?:!doctype|html|head|body|title|meta|div|p|a|br|span|table|h[1-6]|script|style)[\s>/]",
                     re.I)


def bom(body: bytes) -> Optional[tuple[int, str]]:
    """(length, encoding) of a byte order mark at the start, or None."""
    for mark, enc in BOMS:
        if body.startswith(mark):
            return len(mark), enc
    return None


def binary_reason(body: bytes, content_type: str = "") -> Optional[str]:
    """Why a body served as text is really binary (control bytes and no markup), or None.

    A byte order mark or a declared UTF-16/32 charset explains NUL bytes, so those are text."""
    if bom(body) or (charset_from_header(content_type) or "").lower().startswith(("utf-16", "utf-32")):
        return None
    if not _BINARY.search(body[:1024]) or _MARKUP.search(body[:4096]):
        return None
    mime = (content_type or "text").split(";")[0].strip() or "text"
    return f"binary content (control bytes, no markup) served as {mime}; not audited"


def decode_body(body: bytes, content_type: str = "") -> tuple[str, str]:
    """(text, charset used), the way browsers decode (WHATWG) with one repair for wrong labels.

    A byte order mark wins. Then the header's charset, then a <meta> charset: one that decodes
    the bytes is used. One that does not is still used, with U+FFFD for the bad bytes, when it
    decodes most of the page's non-ASCII text (a UTF-8 page with a few bad bytes); when it
    decodes none or little of it the label is wrong (latin-1 text labelled UTF-8) and the
    charset is detected instead.
    """
    mark = bom(body)
    if mark:
        return body[mark[0]:].decode(mark[1], errors="replace"), mark[1]
    tried = []
    for cs in (charset_from_header(content_type), _meta_charset(body)):
        cs = _LABELS.get((cs or "").lower(), (cs or "").lower())
        if cs and cs not in tried:
            tried.append(cs)
            try:
                return body.decode(cs), cs
            except UnicodeDecodeError:
                if _mostly_decodes(body, cs):
                    return body.decode(cs, errors="replace"), f"{cs} (with replacements)"
            except LookupError:
                continue
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # detection needs text to go on; a short page falls back to windows-1252, the web's default
    # for undeclared Western text (WHATWG), which decodes any byte but five
    if len(body) >= 4096:
        from charset_normalizer import from_bytes
        best = from_bytes(body[:200_000]).best()
        if best is not None and best.encoding:
            return body.decode(best.encoding, errors="replace"), best.encoding
    try:
        return body.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        return body.decode("utf-8", errors="replace"), "utf-8 (with replacements)"


def _mostly_decodes(body: bytes, charset: str) -> bool:
    """True when the charset decodes at least as many non-ASCII characters as it has bad bytes
    (each bad byte becomes a lone surrogate under surrogateescape, so both can be counted)."""
    text = body.decode(charset, errors="surrogateescape")
    bad = good = 0
    for ch in text:
        if ch >= "\x80":
            if "\udc80" <= ch <= "\udcff":
                bad += 1
            else:
                good += 1
    return good >= bad


def _meta_charset(body: bytes) -> Optional[str]:
    m = _META_CHARSET.search(body[:4096])
    return m.group(1).decode("ascii", "ignore") if m else None
