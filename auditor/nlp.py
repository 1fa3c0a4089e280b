"""The one place that builds the spaCy pipeline: blank English, lookup lemmas, sentence bounds.

No statistical model: lemmas come from spacy-lookups-data (case-folded, so "Guaranteed" and
"guarantees" share the lemma "guarantee"), sentences from punctuation and line structure.
"""
from __future__ import annotations

from functools import lru_cache

import numpy
import spacy
from spacy.attrs import LEMMA, ORTH, SENT_START
from spacy.language import Language
from spacy.lookups import load_lookups

FINAL = {".", "!", "?", "…", "...", "?!", "!!", "!?"}
CLOSERS = {'"', "”", "’", "'", ")", "]", "»"}


class TokenAttributes:
    """Lookup lemmas and sentence starts, in one pass over a doc's tokens.

    Lemmas come from the English lookup table, keyed by the lowercase form (so "Guaranteed" and
    "guarantees" share the lemma "guarantee"). Sentences start after final punctuation and at line
    breaks; a single line break inside running text (the previous line has no final punctuation
    and the next starts in lowercase) is a soft wrap, not a boundary, and a blank line always is.
    What both need of a word is computed once per distinct word and cached, because this runs on
    every page and the engine is meant to keep pace with the tokenizer.
    """

    def __init__(self, vocab):
        self.table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
        self.strings = vocab.strings
        self.rows: dict[int, tuple] = {}
        # word_hook(lower hash, lemma hash) -> anything: computed once per distinct word and
        # handed on in doc.user_data["auditor_words"] as (hook, [value per token]), so a later
        # stage need not look words up again (see set_hook)
        self.word_hook = None

    def set_hook(self, hook) -> None:
        """Use this hook from now on; the cached rows of another hook are dropped."""
        if hook is not self.word_hook:
            self.word_hook = hook
            self.rows.clear()

    def lemma(self, lower: str) -> str:
        low = lower.replace("’", "'")
        return self.table.get(low, low)

    def __call__(self, doc):
        n = len(doc)
        if not n:
            return doc
        if len(self.rows) > 200_000:                 # bounded over a long batch
            self.rows.clear()
        rows, strings = self.rows, self.strings

        hook = self.word_hook

        def miss(h):
            text = strings[h]
            low = text.lower()
            lem = strings.add(self.lemma(low))
            row = rows[h] = _shape(text) + (lem, hook(strings.add(low), lem) if hook else None)
            return row

        # a row per token: space, newlines, lower_start, final, closer, ends_stop, lemma
        rs = [rows.get(h) or miss(h) for h in doc.to_array(ORTH).tolist()]
        starts = [0] * n
        starts[0] = 1
        # only tokens after a line break or final punctuation can start a sentence: visit those
        for i in [i for i, r in enumerate(rs) if r[1] or r[3]]:
            r = rs[i]
            if r[1]:                                   # a line break: decide the next token
                j = i + 1
                if j < n and (r[1] >= 2 or j < 2 or not (rs[j][2] and not rs[j - 2][5])):
                    starts[j] = 1
                continue
            j = i + 1                                  # final punctuation: past closers and spaces
            while j < n and ((rs[j][4] and not rs[j][0]) or (rs[j][0] and not rs[j][1])):
                j += 1
            if j < n and not rs[j][0]:
                t = rs[j]
                if not t[2] and not t[3] and not t[4]:
                    starts[j] = 1
        arr = numpy.empty((n, 2), dtype="uint64")
        arr[:, 0] = [r[6] for r in rs]
        arr[:, 1] = starts
        doc.from_array([LEMMA, SENT_START], arr)
        if hook:
            doc.user_data["auditor_words"] = (hook, [r[7] for r in rs])
        return doc


def _shape(text: str) -> tuple:
    """What sentence splitting needs to know of one distinct token text:
    (space, newlines, starts lowercase, final punctuation, closer, ends like a stop)."""
    space = not text.strip()
    final = text in FINAL
    return (space, text.count("\n") if space else 0, text[:1].islower(), final, text in CLOSERS,
            final or text[-1:] in ".!?:")


@Language.factory("auditor_tokens")
def _make_tokens(nlp, name):
    return TokenAttributes(nlp.vocab)


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
    nlp.add_pipe("auditor_tokens")
    nlp.max_length = 60_000_000
    return nlp


def lemmatizer(nlp: Language) -> TokenAttributes:
    return nlp.get_pipe("auditor_tokens")
