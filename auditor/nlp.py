"""The one place that builds the spaCy pipeline: blank English, lookup lemmas, sentence bounds.

No statistical model: lemmas come from spacy-lookups-data (case-folded, so "Guaranteed" and
"guarantees" share the lemma "guarantee"), sentences from punctuation and line structure.
"""
from __future__ import annotations

from functools import lru_cache

import numpy
import spacy
from spacy.attrs import LEMMA, LOWER, ORTH, SENT_START
from spacy.language import Language
from spacy.lookups import load_lookups

FINAL = {".", "!", "?", "…", "...", "?!", "!!", "!?"}
CLOSERS = {'"', "”", "’", "'", ")", "]", "»"}


class CaseFoldLemmatizer:
    """Sets token.lemma from the English lookup table, keyed by the lowercase form.

    Works on the doc's arrays (one table look-up per distinct word, not per token), because it
    runs on every page and the engine is meant to keep pace with the tokenizer.
    """

    def __init__(self, vocab):
        self.table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
        self.strings = vocab.strings
        self.cache: dict[int, int] = {}

    def lemma(self, lower: str) -> str:
        low = lower.replace("’", "'")
        return self.table.get(low, low)

    def __call__(self, doc):
        if not len(doc):
            return doc
        lows = doc.to_array(LOWER)
        uniq, inv = numpy.unique(lows, return_inverse=True)
        cache, strings = self.cache, self.strings
        out = []
        for h in uniq.tolist():
            lem = cache.get(h)
            if lem is None:
                lem = cache[h] = strings.add(self.lemma(strings[h]))
            out.append(lem)
        doc.from_array([LEMMA], numpy.array(out, dtype="uint64")[inv].reshape(-1, 1))
        return doc


class _Shape:
    """What sentence splitting needs to know of one distinct token text."""

    __slots__ = ("newlines", "space", "lower_start", "final", "closer", "ends_stop")

    def __init__(self, text: str):
        self.space = not text.strip()
        self.newlines = text.count("\n") if self.space else 0
        self.lower_start = text[:1].islower()
        self.final = text in FINAL
        self.closer = text in CLOSERS
        self.ends_stop = self.final or text[-1:] in ".!?:"


_SHAPES: dict[int, _Shape] = {}


def set_sentence_starts(doc):
    """Sentence starts after final punctuation and at line breaks.

    A single line break inside running text (the previous line has no final punctuation and the
    next starts in lowercase) is a soft wrap, not a boundary; a blank line always is.
    """
    n = len(doc)
    if not n:
        return doc
    strings = doc.vocab.strings
    shapes = []
    for h in doc.to_array(ORTH).tolist():
        sh = _SHAPES.get(h)
        if sh is None:
            sh = _SHAPES[h] = _Shape(strings[h])
        shapes.append(sh)
    starts = [1] + [0] * (n - 1)
    prev_final = False
    p = shapes[0]
    if not p.space:
        prev_final = p.final
    for i in range(1, n):
        t = shapes[i]
        start = False
        if p.newlines:
            if p.newlines >= 2 or i < 2:
                start = True
            else:
                start = not (t.lower_start and not shapes[i - 2].ends_stop)
        elif t.space:
            start = False
        elif prev_final and not t.lower_start and not t.final and not t.closer:
            start = True
        if start:
            starts[i] = 1
        if not t.space:
            prev_final = t.final or (prev_final and t.closer)
        p = t
    doc.from_array([SENT_START], numpy.array(starts, dtype="uint64").reshape(-1, 1))
    return doc


@Language.factory("auditor_lemmas")
def _make_lemmas(nlp, name):
    return CaseFoldLemmatizer(nlp.vocab)


@Language.component("auditor_sentences")
def _sentences(doc):
    return set_sentence_starts(doc)


CONTRACTIONS = ("is", "are", "was", "were", "has", "have", "had", "does", "do", "did", "ca", "could", "wo",
                "would", "should", "must", "need")


def _add_contractions(nlp: Language) -> None:
    """spaCy splits "isn't" and "isn’t" but not "ISN'T" or "ISN’T"; shouting pages negate too."""
    from spacy.symbols import ORTH
    for base in CONTRACTIONS:
        for apo in ("'", "’"):
            for form in (base.upper(), base.capitalize()):
                neg = "N" + apo + "T" if form.isupper() else "n" + apo + "t"
                text = form + neg
                if text.lower() in ("can't", "can’t"):
                    continue
                nlp.tokenizer.add_special_case(text, [{ORTH: form}, {ORTH: neg}])
    for apo in ("'", "’"):
        nlp.tokenizer.add_special_case("CAN" + apo + "T", [{ORTH: "CA"}, {ORTH: "N" + apo + "T"}])


@lru_cache(maxsize=1)
def build_nlp() -> Language:
    nlp = spacy.blank("en")
    _add_contractions(nlp)
    nlp.add_pipe("auditor_lemmas")
    nlp.add_pipe("auditor_sentences")
    nlp.max_length = 60_000_000
    return nlp


def lemmatizer(nlp: Language) -> CaseFoldLemmatizer:
    return nlp.get_pipe("auditor_lemmas")
