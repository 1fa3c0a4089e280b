"""What a finding quotes of its page, bounded: the evidence and a window of its sentence.

A report's size must stay linear in the page's. The pipeline already cuts overlong sentences
(nlp.MAX_SENTENCE_TOKENS); on top of that a finding or dismissed candidate carries at most
EVIDENCE_CHARS of its evidence (`text`, its `start`/`end` still the true offsets) and a window of
at most CONTEXT_CHARS either side of the evidence's start (`sentence`, marked with "…" where cut,
`sentence_start`/`sentence_end` the window's offsets in the audited text).
"""
from __future__ import annotations

EVIDENCE_CHARS = 500
CONTEXT_CHARS = 300
ELLIPSIS = "…"
_SNAP = 30       # how far a cut moves to fall between words


def evidence(text: str, start: int, end: int) -> str:
    """The evidence text[start:end], cut after EVIDENCE_CHARS (at a space when one is near)."""
    if end - start <= EVIDENCE_CHARS:
        return text[start:end]
    cut = start + EVIDENCE_CHARS
    sp = text.rfind(" ", cut - _SNAP, cut)
    return text[start:sp if sp > start else cut].rstrip() + ELLIPSIS


def window(text: str, ss: int, se: int, start: int, end: int) -> tuple[str, int, int]:
    """(quoted sentence, its start, its end): the sentence ss..se, or, when longer, CONTEXT_CHARS
    before the evidence, the (bounded) evidence and CONTEXT_CHARS after it."""
    ws = max(ss, start - CONTEXT_CHARS)
    we = min(se, max(end, start) + CONTEXT_CHARS, start + EVIDENCE_CHARS + CONTEXT_CHARS)
    if ws == ss and we == se:
        return text[ss:se], ss, se
    if ws > ss:
        sp = text.find(" ", ws, min(ws + _SNAP, start))
        if sp >= 0:
            ws = sp + 1
    if we < se:
        sp = text.rfind(" ", max(we - _SNAP, end), we)
        if sp >= 0:
            we = sp
    quote = text[ws:we].strip()
    return (ELLIPSIS if ws > ss else "") + quote + (ELLIPSIS if we < se else ""), ws, we


def stripped(text: str, ss: int, se: int) -> tuple[int, int]:
    """ss..se without the whitespace at either end."""
    body = text[ss:se]
    lead = len(body) - len(body.lstrip())
    return ss + lead, ss + len(body.rstrip())
