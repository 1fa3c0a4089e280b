"""The one place that builds the spaCy pipeline: blank English, lookup lemmas, sentence bounds.

No statistical model: lemmas come from spacy-lookups-data (case-folded, so "Guaranteed" and
"guarantees" share the lemma "guarantee"), sentences from punctuation and line structure.
"""
from __future__ import annotations

from functools import lru_cache
from itertools import compress
from operator import itemgetter

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
        # word_hook(lower hash, lemma hash) -> a tuple of fields: computed once per distinct word
        # and handed on in doc.user_data["auditor_words"] as (hook, [row per token]), the hook's
        # fields from HOOK_FIELDS on, so a later stage need not look words up again (see set_hook);
        # doc.user_data["auditor_sents"] holds the sentence starts, ascending
        self.word_hook = None

    def set_hook(self, hook) -> None:
        """Use this hook from now on; the cached rows of another hook are dropped."""
        if hook is not self.word_hook:
            self.word_hook = hook
            self.rows.clear()

    def lemma(self, lower: str) -> str:
        low = lower.replace("’", "'")
        return self.table.get(low, low)

    def __call__(self, doc, write: bool = True):
        """write=False leaves the lemmas and sentence starts out of the doc's own attributes (only
        in user_data): the engine's matcher reads the rows, spaCy's Matcher and doc.sents need them."""
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
            row = rows[h] = _shape(text) + (lem,) + (tuple(hook(strings.add(low), lem)) if hook else ())
            return row

        # a row per token: the tuple of its distinct word (see _shape)
        orths = doc.to_array(ORTH).tolist()
        rs = list(map(rows.get, orths))
        if None in rs:                                 # words not seen before
            rs = [r or miss(h) for r, h in zip(rs, orths)]
        starts = [0]
        # only tokens after a line break or final punctuation can start a sentence: visit those
        for i in compress(range(n), map(_BOUNDARY, rs)):
            j = i + 1
            r = rs[i]
            if r[1]:                                   # a line break: decide the next token
                if j < n and (r[1] >= 2 or j < 2 or not (rs[j][2] and not rs[j - 2][5])):
                    starts.append(j)
                continue
            # final punctuation: past closers and spaces
            while j < n and ((rs[j][4] and not rs[j][0]) or (rs[j][0] and not rs[j][1])):
                j += 1
            if j < n:
                t = rs[j]
                if not (t[0] or t[2] or t[3] or t[4]):
                    starts.append(j)
        # starts ascend: a token chosen as a start is never itself a line break or punctuation
        if write:
            arr = numpy.zeros((n, 2), dtype="uint64")
            arr[:, 0] = numpy.fromiter(map(_LEMMA, rs), dtype="uint64", count=n)
            arr[starts, 1] = 1
            doc.from_array([LEMMA, SENT_START], arr)
        doc.user_data["auditor_sents"] = starts
        if hook:
            doc.user_data["auditor_words"] = (hook, rs)
        return doc


_BOUNDARY, _LEMMA = itemgetter(6), itemgetter(7)
HOOK_FIELDS = 8     # where a row's hook fields start: after _shape's seven and the lemma


def _shape(text: str) -> tuple:
    """What sentence splitting needs to know of one distinct token text:
    (space, newlines, starts lowercase, final punctuation, closer, ends like a stop, may end a
    sentence)."""
    space = not text.strip()
    final = text in FINAL
    newlines = text.count("\n") if space else 0
    return (space, newlines, text[:1].islower(), final, text in CLOSERS, final or text[-1:] in ".!?:",
            bool(newlines or final))


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
