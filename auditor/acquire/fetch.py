"""Byte-level helpers for fetched bodies: bounded decompression and charset decoding.

Shared by the live crawler and the WARC reader, so a page re-audited from the archive is decoded
exactly as it was when fetched.
"""
from __future__ import annotations

import re
import zlib
from typing import Optional

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)


class TooLarge(Exception):
    pass


class Decoder:
    """Undoes Content-Encoding (gzip, deflate, br) chunk by chunk, never past `limit` bytes out."""

    def __init__(self, encoding: str, limit: int):
        self.limit = limit
        self.out = 0
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
        if self.kind in ("identity", ""):
            return self._count(chunk)
        if self.kind == "br":
            return self._count(self._br.process(chunk))
        if self.kind == "deflate" and self._z is None:
            self._z = zlib.decompressobj() if chunk[:1] == b"\x78" else zlib.decompressobj(-zlib.MAX_WBITS)
        parts, data = [], chunk
        while True:
            room = self.limit - self.out + 1
            piece = self._z.decompress(data, room)
            parts.append(self._count(piece))
            data = self._z.unconsumed_tail
            if not data:
                break
        return b"".join(parts)

    def _count(self, piece: bytes) -> bytes:
        self.out += len(piece)
        if self.out > self.limit:
            raise TooLarge(self.out)
        return piece


def charset_from_header(content_type: str) -> Optional[str]:
    m = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type or "", re.I)
    return m.group(1) if m else None


def decode_body(body: bytes, content_type: str = "") -> tuple[str, str]:
    """(text, charset used): the header's charset, then a <meta> charset, then detection.

    A declared charset that does not decode the bytes is not trusted; if nothing decodes cleanly
    the text is decoded as UTF-8 with replacement characters (and the charset says so).
    """
    tried = []
    for cs in (charset_from_header(content_type), _meta_charset(body)):
        if cs and cs.lower() not in tried:
            tried.append(cs.lower())
            try:
                return body.decode(cs), cs.lower()
            except (UnicodeDecodeError, LookupError):
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


def _meta_charset(body: bytes) -> Optional[str]:
    m = _META_CHARSET.search(body[:4096])
    return m.group(1).decode("ascii", "ignore") if m else None
