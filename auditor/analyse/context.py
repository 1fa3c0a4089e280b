"""ConText-style context: does a trigger (negation, hedge, hypothetical, question, attribution,
warning) govern a claim?

A trigger governs a match in its sentence when it points at it (its direction), stands within its
scope in tokens, and no terminator lies between. A warning lead-in ("Red flags to watch for:")
governs the list items that follow it. A page that reads as commentary about clinics (a regulator,
court or news page) governs the claims it quotes. What one analysis knows of its page lives in a
PageState, shared by the steps that judge it.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Optional

from ..model import Block, Cue

SUPPRESSING = ("negated", "hedged", "hypothetical", "question", "attributed", "warning", "commentary")
BULLET = re.compile(r"^\s*(?:[-–—•*▪◦●‣]|\d{1,2}[.)])\s+")


@dataclass
class Mod:
    """A context trigger found in a sentence (ConText's modifier)."""

    category: str
    direction: str
    scope: int
    start: int
    end: int
    text: str
    char: tuple


@dataclass
class PageState:
    """What one analysis knows about its page, shared by the steps that judge it."""

    doc: object
    sents: list            # (start, end) token offsets
    sent_of: "SentenceOf"  # token index -> sentence index
    mods_by_sent: dict     # sentence index -> [Mod]
    terms_by_sent: dict    # sentence index -> [token index of a terminator]
    aux_by_key: dict       # matcher key -> [(start, end)]
    signals: dict
    blocks: list
    block_starts: list
    warned: dict           # block index -> warning Cue

    text: str = ""          # the page text (doc.text would rebuild it from every token)
    tok_start: object = None   # token index -> char offset (numpy: only matched tokens are read)
    tok_end: object = None
    conditions: list = ()      # matches of the condition lexicon

    def block_of(self, char: int) -> int:
        return max(0, bisect.bisect_right(self.block_starts, char) - 1)

    def chars(self, s: int, e: int) -> tuple[int, int]:
        """Character offsets of tokens s..e (no Span objects on the hot path)."""
        return int(self.tok_start[s]), int(self.tok_end[e - 1])


class SentenceOf:
    """token index -> sentence index, by bisection over the sentence starts: only the tokens of
    matches are ever asked about, so a list over every token would cost more than it saves."""

    __slots__ = ("starts",)

    def __init__(self, starts):
        self.starts = starts

    def __getitem__(self, i: int) -> int:
        return bisect.bisect_right(self.starts, i) - 1


def modifiers(context_matches, compiled, sent_of, text, tok_start, tok_end):
    """Triggers (minus those inside a pseudo-trigger such as "not only") and terminators, by sentence."""
    mods_by_sent: dict[int, list[Mod]] = {}
    terms_by_sent: dict[int, list[int]] = {}
    pseudo: list[tuple[int, int]] = []
    raw = []
    key_name, key_index = compiled.key_name, compiled.key_index
    for key, s, e in context_matches:
        if key_name[key] == "TERM":
            terms_by_sent.setdefault(sent_of[s], []).append(s)
            continue
        t = compiled.triggers[key_index[key]]
        if t.category == "pseudo":
            pseudo.append((s, e))
            continue
        raw.append((t, s, e))
    for t, s, e in raw:
        if any(ps <= s and e <= pe for ps, pe in pseudo):
            continue
        cs, ce = int(tok_start[s]), int(tok_end[e - 1])
        mods_by_sent.setdefault(sent_of[s], []).append(
            Mod(t.category, t.direction, t.max_scope, s, e, text[cs:ce], (cs, ce)))
    for v in terms_by_sent.values():
        v.sort()
    return mods_by_sent, terms_by_sent


def governing(ignore, s, e, si, st: PageState) -> Optional[Cue]:
    """The first context trigger that governs tokens s..e of sentence si, or None. `ignore` lists
    the context categories the claim does not yield to."""
    doc = st.doc
    terms = st.terms_by_sent.get(si, [])
    # a claim that is one conjunct of a list ("seeks to repair X, reduce Y, and alleviate Z")
    # shares the verb's hedge or negation with the first conjunct
    prev = doc[s - 1].lower_ if s > 0 else ""
    conjunct = prev in ("and", "or", "&")
    for m in st.mods_by_sent.get(si, []):
        if m.category not in SUPPRESSING or m.category in ignore:
            continue
        if m.start < e and s < m.end:   # a cue inside the claim is part of the claim
            continue
        if m.direction in ("forward", "bidirectional") and m.end <= s:
            scope = max(m.scope, 15) if conjunct and m.category == "hedged" else m.scope
            if s - m.end <= scope and not any(m.end <= t < s for t in terms):
                return Cue(m.category, m.text, m.direction, *m.char)
        if m.direction in ("backward", "bidirectional") and m.start >= e:
            if m.start - e <= m.scope and not any(e <= t < m.start for t in terms):
                return Cue(m.category, m.text, m.direction, *m.char)
    if "question" not in ignore:
        sc, sce = st.chars(*st.sents[si])
        body = st.text[sc:sce].rstrip()
        if body.endswith("?"):
            return Cue("question", "?", "none", sc + len(body) - 1, sc + len(body))
    return None


def warned_blocks(text, blocks, mods_by_sent) -> dict[int, Cue]:
    """Blocks governed by a warning lead-in ("Red Flags to Watch For", "Be wary of clinics that:")."""
    if not blocks:
        return {}
    lead_cues = {}
    for mods in mods_by_sent.values():
        for m in mods:
            if m.category == "warning":
                lead_cues.setdefault(m.char[0], m)
    if not lead_cues:
        return {}
    starts = sorted(lead_cues)
    out: dict[int, Cue] = {}
    for i, b in enumerate(blocks):
        j = bisect.bisect_left(starts, b.start)
        if not (j < len(starts) and starts[j] < b.end):
            continue
        body = text[b.start:b.end].strip()
        words = len(body.split())
        if not (body.endswith(":") or b.kind == "heading" or (words <= 10 and body[-1:] not in ".!")):
            continue
        m = lead_cues[starts[j]]
        cue = Cue("warning", body[:120], "forward", m.char[0], m.char[1])
        k = i + 1
        while k < len(blocks):
            nb = blocks[k]
            nbody = text[nb.start:nb.end].strip()
            if not nbody:
                k += 1
                continue
            item = nb.kind == "item" or BULLET.match(nbody) or (len(nbody.split()) <= 12 and nbody[-1:] not in ".:")
            jn = bisect.bisect_left(starts, nb.start)
            lead2 = nbody.endswith(":") and jn < len(starts) and starts[jn] < nb.end
            if not (item or lead2) or k - i > 15:
                break
            out.setdefault(k, cue)
            k += 1
    return out


_OPEN_QUOTES = {"“": "”", '"': '"', "‘": "’", "«": "»"}


def quoted(text, s, e, ss, se):
    """The quotation (inside the sentence ss..se) that encloses characters s..e, or None."""
    before = text[ss:s]
    # a straight single quote opens a quotation only after a space, or it is an apostrophe
    i = max(before.rfind(" '"), -1 if not before.startswith("'") else 0)
    if i >= 0 and "'" not in before[i + 2:]:
        m = re.search(r"'(?=[\s.,;:!?)]|$)", text[e:se + 1])
        if m:
            return text[ss + i:e + m.end()].strip()[:120]
    for op, cl in _OPEN_QUOTES.items():
        i = before.rfind(op)
        if i < 0:
            continue
        if op == cl and before.count(op) % 2 == 0:
            continue
        if op != cl and before.rfind(cl) > i:
            continue
        j = text.find(cl, e, se + 1)
        if j >= 0:
            return text[ss + i:j + 1][:120]
    return None


def line_blocks(text: str) -> list[Block]:
    """A plain-text page's lines as blocks (a line that starts with a bullet is a list item)."""
    blocks, pos = [], 0
    for line in text.split("\n"):
        end = pos + len(line)
        if line.strip():
            blocks.append(Block(pos, end, "item" if BULLET.match(line) else "para"))
        pos = end + 1
    return blocks
