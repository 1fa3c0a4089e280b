"""The one place that builds the spaCy pipeline: blank English, lookup lemmas, sentence bounds.

No statistical model: lemmas come from spacy-lookups-data (case-folded, so "Guaranteed" and
"guarantees" share the lemma "guarantee"), sentences from punctuation and line structure.
"""
from __future__ import annotations

from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.lookups import load_lookups

FINAL = {".", "!", "?", "…", "...", "?!", "!!", "!?"}
CLOSERS = {'"', "”", "’", "'", ")", "]", "»"}


class CaseFoldLemmatizer:
    """Sets token.lemma from the English lookup table, keyed by the lowercase form."""

    def __init__(self, vocab):
        self.table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
        self.strings = vocab.strings
        self.cache: dict[int, int] = {}

    def lemma(self, lower: str) -> str:
        return self.table.get(lower, lower)

    def __call__(self, doc):
        cache, strings, table = self.cache, self.strings, self.table
        for t in doc:
            key = t.lower
            lem = cache.get(key)
            if lem is None:
                low = t.lower_.replace("’", "'")
                lem = cache[key] = strings.add(table.get(low, low))
            t.lemma = lem
        return doc


def set_sentence_starts(doc):
    """Sentence starts after final punctuation and at line breaks.

    A single line break inside running text (the previous line has no final punctuation and the
    next starts in lowercase) is a soft wrap, not a boundary; a blank line always is.
    """
    n = len(doc)
    if n:
        doc[0].is_sent_start = True
    prev_final = False
    for i in range(1, n):
        t = doc[i]
        p = doc[i - 1]
        start = False
        if p.is_space and "\n" in p.text:
            if p.text.count("\n") >= 2 or i < 2:
                start = True
            else:
                before = doc[i - 2]
                wrapped = (t.text[:1].islower() and before.text not in FINAL and before.text[-1:] not in ".!?:")
                start = not wrapped
        elif t.is_space:
            start = False
        elif prev_final and not t.text[:1].islower() and t.text not in FINAL and t.text not in CLOSERS:
            start = True
        t.is_sent_start = start
        if t.is_space:
            continue
        prev_final = t.text in FINAL or (prev_final and t.text in CLOSERS)
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
