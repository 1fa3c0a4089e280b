"""Acquire documents from local paths and standard input for `auditor scan`.

Each input yields either a Document or an Error with a one-line reason that says how to fix it;
one bad input never stops the others.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

from .extract import looks_like_html
from .fetch import bom
from ..model import Document, Error

TEXT_SUFFIXES = {".txt": "text/plain", ".text": "text/plain", ".md": "text/plain",
                 ".html": "text/html", ".htm": "text/html", ".xhtml": "text/html"}


class InputError(Exception):
    pass


@dataclass
class ReadOptions:
    max_bytes: int = 10 * 1024 * 1024
    encoding_errors: str = "strict"     # or "replace"


def human(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def decode(data: bytes, where: str, errors: str = "strict") -> str:
    """UTF-8, or the encoding a byte order mark names (UTF-16 files from Windows editors)."""
    mark = bom(data)
    if mark:
        try:
            return data[mark[0]:].decode(mark[1], errors=errors)
        except UnicodeDecodeError as e:
            raise InputError(f"{where}: not valid {mark[1].upper()} at byte {e.start + mark[0]}, though it starts "
                             "with that byte order mark; pass --encoding-errors replace to decode anyway") from None
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        raise InputError(f"{where}: not valid UTF-8 at byte {e.start} (0x{data[e.start]:02x}); "
                         "convert it to UTF-8, or pass --encoding-errors replace to decode anyway") from None


def check_bytes(data: bytes, where: str, opts: ReadOptions):
    if not data:
        raise InputError(f"{where}: empty file, nothing to audit")
    if b"\x00" in data[:8192] and not bom(data):
        raise InputError(f"{where}: binary file (NUL bytes), not text or HTML; skipped")


def load_document(target: str, path: Path, data: bytes, opts: ReadOptions) -> Document:
    check_bytes(data, str(path), opts)
    text = decode(data, str(path), opts.encoding_errors)
    # a known extension says what the file is; any other is sniffed, as standard input is
    ctype = TEXT_SUFFIXES.get(path.suffix.lower()) or ("text/html" if looks_like_html(text) else "text/plain")
    return Document(target=target, url=str(path), content=data, content_type=ctype, text=text,
                    sha256=hashlib.sha256(data).hexdigest())


def _read_limited(path: Path, opts: ReadOptions) -> bytes:
    size = path.stat().st_size
    if size > opts.max_bytes:
        raise InputError(f"{path}: {human(size)} is larger than the {human(opts.max_bytes)} limit; "
                         "raise it with --max-size if this really is one page")
    with open(path, "rb") as f:
        return f.read(opts.max_bytes + 1)


def iter_inputs(targets: list[str], opts: ReadOptions) -> Iterator[Union[Document, Error, tuple]]:
    """Yield Documents (or Errors) for files, folders (recursively) and '-' (standard input).

    WARC files are yielded as ("warc", [paths]) for the caller to expand: the WARC files of one
    folder (after its other files), or of consecutive arguments, together, since a resumed batch
    writes one file per run and a site may stand in several of them.
    """
    warcs: list[Path] = []
    for item in _iter_inputs(targets, opts):
        if isinstance(item, tuple) and item[0] == "warc":
            warcs.extend(item[1])
            continue
        if warcs:
            yield ("warc", warcs)
            warcs = []
        yield item
    if warcs:
        yield ("warc", warcs)


def _iter_inputs(targets: list[str], opts: ReadOptions) -> Iterator[Union[Document, Error, tuple]]:
    for target in targets:
        if target == "-":
            data = sys.stdin.buffer.read(opts.max_bytes + 1)
            try:
                if len(data) > opts.max_bytes:
                    raise InputError(f"-: standard input is larger than the {human(opts.max_bytes)} limit (--max-size)")
                check_bytes(data, "standard input", opts)
                text = decode(data, "standard input", opts.encoding_errors)
                ctype = "text/html" if looks_like_html(text) else "text/plain"
                yield Document(target="-", url="-", content=data, content_type=ctype, text=text,
                               sha256=hashlib.sha256(data).hexdigest())
            except InputError as e:
                yield Error("-", str(e))
            continue
        p = Path(target)
        if not p.exists():
            yield Error(target, f"{target}: no such file or folder")
            continue
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and (
                f.suffix.lower() in TEXT_SUFFIXES or f.name.endswith((".warc", ".warc.gz"))))
            files = [f for f in files if not any(part.startswith(".") for part in f.relative_to(p).parts)]
            if not files:
                yield Error(target, f"{target}: folder holds no .txt, .html or .warc.gz files")
                continue
            for f in files:
                if not _is_warc(f):
                    yield from _one_file(str(f), f, opts)
            warcs = [f for f in files if _is_warc(f)]
            if warcs:
                yield ("warc", warcs)
            continue
        yield from _one_file(target, p, opts)


def _is_warc(p: Path) -> bool:
    return p.name.endswith((".warc", ".warc.gz"))


def _one_file(target: str, p: Path, opts: ReadOptions):
    if _is_warc(p):
        yield ("warc", [p])
        return
    try:
        data = _read_limited(p, opts)
        yield load_document(target, p, data, opts)
    except InputError as e:
        yield Error(target, str(e))
    except OSError as e:
        yield Error(target, f"{target}: cannot read ({e.strerror or e})")
