"""The one place that builds the spaCy pipeline: blank English, lookup lemmas, sentence bounds.

No statistical model: lemmas come from spacy-lookups-data (case-folded, so "Guaranteed" and
"guarantees" share the lemma "guarantee"), sentences from punctuation and line structure.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy
import spacy
from spacy.attrs import IDX, LEMMA, ORTH, SENT_START
from spacy.language import Language
from spacy.lookups import load_lookups

FINAL = {".", "!", "?", "…", "...", "?!", "!!", "!?"}
CLOSERS = {'"', "”", "’", "'", ")", "]", "»"}


# bits of a word's shape, as sentence splitting sees it
SPACE, LOWER_START, FINAL_PUNCT, CLOSER, ENDS_STOP, BOUNDARY, NEWLINE, BLANK_LINE = 1, 2, 4, 8, 16, 32, 64, 128
PAUSE = 256                  # a comma, semicolon, colon or dash: where an overlong sentence is cut
PAUSES = {",", ";", ":", "—", "–", "-", "|"}

# A sentence longer than this many tokens is cut into pieces. Text without sentence punctuation
# (a page that is one 2 MB line) would otherwise be one sentence, and every structure per sentence
# (its candidates, features, the context a finding quotes) would grow with the square of the page.
# The longest sentence of the labelled devset and the samples has 101 tokens (561 characters).
MAX_SENTENCE_TOKENS = 200


NOT_START = numpy.uint64(2 ** 64 - 1)     # SENT_START -1 as to_array and from_array carry it


def grown(arr, size):
    """arr with room for at least `size` entries (capacity doubles, so growth is amortised)."""
    if len(arr) >= size:
        return arr
    out = numpy.empty((max(size, 2 * len(arr), 256),) + arr.shape[1:], dtype=arr.dtype)
    out[:len(arr)] = arr
    return out



def _unique(a):
    """numpy.unique of a 1-D integer array (sorted, distinct), without its import of numpy.ma
    (~30 ms of every scan's start-up)."""
    s = numpy.sort(a)
    if len(s) < 2:
        return s
    return s[numpy.concatenate(([True], s[1:] != s[:-1]))]

class WordTable:
    """Every distinct token text seen, numbered in order of first sight, with what the pipeline
    knows of it in columns indexed by that number (its word id).

    Pages are mapped to word ids with numpy (a sorted array of ORTH hashes), so per-token work is
    done in C, and stages after the pipeline (the matcher) keep their own columns by word id and
    extend them as the table grows. A long batch meets ever new words: past `limit` the table is
    emptied and its generation counted up, which tells those stages to start afresh.
    """

    def __init__(self, describe, limit: int = 200_000):
        self.describe = describe     # orth hash -> (flags, length, lower hash, lemma hash)
        self.limit = limit
        self.generation = 0
        self.clear()

    def clear(self):
        self.size = 0
        self.generation += 1
        self.keys = numpy.empty(0, dtype="uint64")       # sorted ORTH hashes ...
        self.key_ids = numpy.empty(0, dtype="int64")     # ... and the word id of each
        self.flags = numpy.empty(0, dtype="uint16")
        self.length = numpy.empty(0, dtype="uint64")     # uint64 like the offsets it is added to
        self.lower = numpy.empty(0, dtype="uint64")
        self.lemma = numpy.empty(0, dtype="uint64")

    def ids(self, orths):
        """The word id of each ORTH hash (a numpy array), adding words not seen before."""
        if self.size:
            pos = numpy.searchsorted(self.keys, orths)
            numpy.minimum(pos, self.size - 1, out=pos)
            hit = self.keys[pos] == orths
            if hit.all():
                return self.key_ids[pos]
            new = _unique(orths[~hit])
        else:
            new = _unique(orths)
        if self.size and self.size + len(new) > self.limit:
            self.clear()
            return self.ids(orths)
        self._add(new)
        pos = numpy.searchsorted(self.keys, orths)
        return self.key_ids[pos]

    def _add(self, new):
        first, end = self.size, self.size + len(new)
        for name in ("flags", "length", "lower", "lemma"):
            setattr(self, name, grown(getattr(self, name), end))
        for wid, h in enumerate(new.tolist(), first):
            self.flags[wid], self.length[wid], self.lower[wid], self.lemma[wid] = self.describe(h)
        at = numpy.searchsorted(self.keys, new)
        self.keys = numpy.insert(self.keys, at, new)
        self.key_ids = numpy.insert(self.key_ids, at, numpy.arange(first, end, dtype="int64"))
        self.size = end


class TokenAttributes:
    """Lookup lemmas and sentence starts, computed per distinct word and mapped onto the tokens.

    Lemmas come from the English lookup table, keyed by the lowercase form (so "Guaranteed" and
    "guarantees" share the lemma "guarantee"). Sentences start after final punctuation and at line
    breaks; a single line break inside running text (the previous line has no final punctuation
    and the next starts in lowercase) is a soft wrap, not a boundary, and a blank line always is.
    What both need of a word is computed once per distinct word (see WordTable), because this
    runs on every page and the engine is meant to keep pace with the tokenizer.

    Besides the doc's own attributes, it leaves in doc.user_data "auditor_sents" (the sentence
    starts, ascending) and "auditor_words" (the table, its generation, the word id of each token
    and its character offset), which the engine reads instead of looking every token up again.
    """

    def __init__(self, vocab):
        self.table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
        self.strings = vocab.strings
        self.words = WordTable(self._describe)

    def lemma(self, lower: str) -> str:
        low = lower.replace("’", "'")
        return self.table.get(low, low)

    def _describe(self, h: int) -> tuple:
        text = self.strings[h]
        low = text.lower()
        return _shape(text), len(text), self.strings.add(low), self.strings.add(self.lemma(low))

    def __call__(self, doc, write: bool = True):
        """write=False leaves the lemmas and sentence starts out of the doc's own attributes (only
        in user_data): the engine's matcher reads the word table, spaCy's Matcher and doc.sents
        need them."""
        n = len(doc)
        words = self.words
        # the offsets come along: one to_array is cheaper than two
        orth_idx = doc.to_array([ORTH, IDX])
        wids = words.ids(orth_idx[:, 0])
        fl = words.flags[wids]
        f = fl.tolist()
        starts = [0] if n else []
        # only tokens after a line break or final punctuation can start a sentence: visit those
        for i in numpy.flatnonzero(fl & BOUNDARY).tolist():
            j = i + 1
            if f[i] & NEWLINE:                         # a line break: decide the next token
                if j < n and (f[i] & BLANK_LINE or j < 2 or not (f[j] & LOWER_START and not f[j - 2] & ENDS_STOP)):
                    starts.append(j)
                continue
            # final punctuation: past closers and spaces
            while j < n and ((f[j] & CLOSER and not f[j] & SPACE) or (f[j] & SPACE and not f[j] & NEWLINE)):
                j += 1
            if j < n and not f[j] & (SPACE | LOWER_START | FINAL_PUNCT | CLOSER):
                starts.append(j)
        # starts ascend: a token chosen as a start is never itself a line break or punctuation
        starts = bounded(starts, n, f)
        if write:
            arr = numpy.empty((n, 2), dtype="uint64")
            arr[:, 0] = words.lemma[wids]
            arr[:, 1] = NOT_START          # -1, not 0: spaCy reads 0 as "unknown"
            arr[starts, 1] = 1
            doc.from_array([LEMMA, SENT_START], arr)
        doc.user_data["auditor_sents"] = starts
        doc.user_data["auditor_words"] = (words, words.generation, wids, orth_idx[:, 1])
        return doc


def bounded(starts: list, n: int, f: list, limit: int = MAX_SENTENCE_TOKENS) -> list:
    """Sentence starts with every sentence longer than `limit` tokens cut into pieces: after the
    last pause (comma, semicolon, dash, line break) in the second half of the piece, else at the
    limit. Each cut looks back at most limit/2 tokens, so this stays linear in the page."""
    if not starts or all(b - a <= limit for a, b in zip(starts, starts[1:] + [n])):
        return starts
    out = []
    for a, b in zip(starts, starts[1:] + [n]):
        out.append(a)
        while b - a > limit:
            cut = a + limit
            for k in range(a + limit - 1, a + limit // 2, -1):
                if f[k] & (PAUSE | NEWLINE):
                    cut = k + 1
                    break
            while cut < b and f[cut] & SPACE:      # a piece starts at a word
                cut += 1
            if cut >= b:
                break
            out.append(cut)
            a = cut
    return out


def _shape(text: str) -> int:
    """What sentence splitting needs to know of one distinct token text, as bits."""
    space = not text.strip()
    final = text in FINAL
    newlines = text.count("\n") if space else 0
    flags = (SPACE * space | LOWER_START * text[:1].islower() | FINAL_PUNCT * final | CLOSER * (text in CLOSERS)
             | ENDS_STOP * (final or text[-1:] in ".!?:") | BOUNDARY * bool(newlines or final)
             | NEWLINE * (newlines >= 1) | BLANK_LINE * (newlines >= 2) | PAUSE * (text in PAUSES))
    return flags


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


# spaCy's tokenizer caches each whitespace-separated span's tokens, but within one call it stops
# saving new spans once it has met a special case ("don't", "e.g."), and it keeps at most
# max_cache_size spans. On a long page nearly every span comes after a special case, so nothing
# of it is cached and every repeat of a word is split again. Feeding the page to the tokenizer
# first in pieces (cut where a line starts) fills the cache, since each piece starts afresh; the
# page's own tokens then come from one whole-page call, so they are exactly what they were
# (tests/test_tokenize_blocks.py). Measured on the bench corpus as one 600 KB page: 0.55 s cold,
# 0.21 s for the pieces plus 0.10 s for the whole page after them. Short pages gain nothing from
# the extra pass, hence the threshold.
WARM_AT = 20_000                    # characters
CACHE_SPANS = 200_000
_PIECE = re.compile(r"(?<=\n)(?=\S)")


def pieces(text: str) -> list[str]:
    """text cut just before each line that follows a line break (whitespace stays with the piece
    before), so that no token crosses a cut."""
    return [p for p in _PIECE.split(text) if p]


def tokenize(nlp: Language, text: str):
    """nlp.tokenizer(text), with the tokenizer's cache filled first on long texts."""
    tok = nlp.tokenizer
    if len(text) >= WARM_AT:
        for piece in pieces(text):
            tok(piece)
    return tok(text)


@lru_cache(maxsize=1)
def build_nlp() -> Language:
    nlp = spacy.blank("en")
    _add_contractions(nlp)
    nlp.tokenizer.max_cache_size = CACHE_SPANS
    nlp.add_pipe("auditor_tokens")
    nlp.max_length = 60_000_000
    return nlp


def lemmatizer(nlp: Language) -> TokenAttributes:
    return nlp.get_pipe("auditor_tokens")
