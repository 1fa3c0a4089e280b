"""The judge's features for one candidate claim, as named binary features a reviewer can read.

Families (the prefix of each name says which):
  w= b=      the sentence's words (lemmas) and word pairs; numbers read as "#"
  c=         character 3- and 4-grams of its words (off by default: they lowered the
             cross-validated F1 from 0.50 to 0.45 and cost a third of the time)
  p= h=      words of the sentence before it, and of the heading it stands under
  t= k=      the candidate vocabulary it holds (rules/candidates.yml), and that it holds any
  cue= gov=  ConText cues in the sentence, and the cue that governs the candidate's words
  r= rs= rid= rules of the candidate's category that fired in it, asserted or governed (and why),
             and their ids; ra= rules of other categories asserted in it
  blk= reg=  what the text is (heading, list item, paragraph) and where (header, nav, main, footer)
  voice= stance= page=   the page's voice (selling vs warning) and whether it reads as commentary
  shape      question, quotation, length, first/second/third person, figures
"""
from __future__ import annotations

import bisect
import re

import numpy

from .context import governing, line_blocks, quoted

_NUM = re.compile(r"^[\d.,]+$")
_KEEP = re.compile(r"\w")
FIRST = {"we", "our", "us", "i", "my", "me"}
SECOND = {"you", "your", "yours"}
THIRD = {"he", "she", "his", "her", "him"}


def _bucket(n: float, edges) -> str:
    for i, edge in enumerate(edges):
        if n < edge:
            return str(i)
    return str(len(edges))


class PageFeatures:
    """Features of a page's candidates; what is shared by a sentence's candidates is computed once."""

    def __init__(self, st, strings, hits=(), char_ngrams: bool = False):
        self.st = st
        self.asserted: dict[int, set] = {}     # sentence -> categories of rules asserted in it
        for h in hits:
            if h.cue is None:
                self.asserted.setdefault(h.si, set()).add(h.rule.category)
        self.char_ngrams = char_ngrams
        doc = st.doc
        table, _, wids, _ = doc.user_data["auditor_words"]
        lemmas = table.lemma[wids].tolist()
        lowers = table.lower[wids].tolist()
        self.lemma = [strings[h] for h in lemmas]
        self.lower = [strings[h] for h in lowers]
        self._sent: dict[int, dict] = {}
        self._words: dict[int, list] = {}
        sig = st.signals
        v = sig.get("voice_value", 0)
        self.page = {f"voice={_bucket(v, (1, 4, 10, 25))}": 1.0, f"stance={_bucket(sig.get('stance', 0), (1, 4, 10))}": 1.0}
        if sig.get("commentary"):
            self.page["page=commentary"] = 1.0
        if sig.get("voice"):
            self.page["page=voice"] = 1.0
        # the heading each block stands under: the nearest heading block before it
        self._heading_of: dict[int, int] = {}
        # a plain-text page has no markup: its lines are its blocks, and a short line without
        # final punctuation reads as a heading
        self.blocks = st.blocks or _text_blocks(st.text)
        self.block_starts = [b.start for b in self.blocks]
        last = None
        for bi, b in enumerate(self.blocks):
            self._heading_of[bi] = last
            if b.kind in ("heading", "title"):
                last = bi

    def words(self, si: int) -> list[str]:
        w = self._words.get(si)
        if w is None:
            s, e = self.st.sents[si]
            w = []
            for i in range(s, e):
                t = self.lemma[i]
                if _NUM.match(t):
                    w.append("#")
                elif t == "%" or t == "?" or t == "!" or _KEEP.search(t):
                    w.append(t)
            self._words[si] = w
        return w

    def sentence(self, si: int) -> dict:
        f = self._sent.get(si)
        if f is not None:
            return f
        st = self.st
        f = dict(self.page)
        words = self.words(si)
        for w in words:
            f["w=" + w] = 1.0
        for a, b in zip(words, words[1:]):
            f[f"b={a}_{b}"] = 1.0
        if self.char_ngrams:
            for w in words:
                if len(w) > 3:
                    p = f"<{w}>"
                    for n in (3, 4):
                        for i in range(len(p) - n + 1):
                            f["c=" + p[i:i + n]] = 1.0
        if si > 0:
            for w in self.words(si - 1):
                f["p=" + w] = 1.0
        sc, sce = st.chars(*st.sents[si])
        if self.blocks:
            bi = max(0, bisect.bisect_right(self.block_starts, sc) - 1)
            b = self.blocks[bi]
            f["blk=" + b.kind] = 1.0
            f["reg=" + b.region] = 1.0
            if bi in st.warned:
                f["cue=warned-list"] = 1.0
            hb = self._heading_of.get(bi)
            if hb is not None:
                hs = st.sent_of[self._token_at(self.blocks[hb].start)]
                for w in self.words(hs):
                    f["h=" + w] = 1.0
        for m in st.mods_by_sent.get(si, []):
            f["cue=" + m.category] = 1.0
        body = st.text[sc:sce].rstrip()
        if body.endswith("?"):
            f["q"] = 1.0
        if body.endswith("!"):
            f["excl"] = 1.0
        f["len=" + _bucket(len(words), (4, 8, 15, 25, 40))] = 1.0
        ws = set(words)
        for name, group in (("first", FIRST), ("second", SECOND), ("third", THIRD)):
            if ws & group:
                f["person=" + name] = 1.0
        if "#" in ws:
            f["figure"] = 1.0
        self._sent[si] = f
        return f

    def _token_at(self, char: int) -> int:
        starts = self.st.tok_start
        return max(0, int(bisect.bisect_right(starts, char)) - 1)

    def candidate(self, c) -> dict:
        """Features of one candidate: its sentence's, plus what concerns its category."""
        return {**self.sentence(c.si), **self.own(c)}

    def own(self, c) -> dict:
        """What concerns the candidate's category (its vocabulary, the rules that fired, the cue
        that governs its words); no key of a sentence's features is among them."""
        st = self.st
        f: dict = {}
        if c.triggers:
            f["k"] = 1.0
            for s, e in c.triggers:
                f["t=" + " ".join(self.lemma[s:e])] = 1.0
            s, e = c.triggers[0]
            cue = governing((), s, e, c.si, st)
            if cue is not None:
                f["gov=" + cue.category] = 1.0
            ss, se = st.chars(*st.sents[c.si])
            if quoted(st.text, *st.chars(s, e), ss, se) is not None:
                f["quoted"] = 1.0
        for cat in self.asserted.get(c.si, ()):
            if cat != c.category:
                f["ra=" + cat] = 1.0
        for h in c.hits:
            if h.cue is None:
                f["r=asserted"] = 1.0
            else:
                f["rs=" + h.cue.category] = 1.0
            f["rid=" + h.rule.id] = 1.0
        return f

    def page_words(self) -> dict:
        """The page as a bag of words and word pairs (for the page's voice: selling or warning)."""
        f: dict = {}
        for si in range(len(self.st.sents)):
            words = self.words(si)
            for w in words:
                f["pw=" + w] = 1.0
            for a, b in zip(words, words[1:]):
                f[f"pb={a}_{b}"] = 1.0
        return f


def _text_blocks(text: str) -> list:
    blocks = line_blocks(text)
    for b in blocks:
        line = text[b.start:b.end].strip()
        if b.kind == "para" and len(line.split()) <= 8 and line[-1:] not in ".!?:;,":
            b.kind = "heading"
    return blocks


# what the lexical stage reads of a candidate's features
LEXICAL = ("w=", "b=", "c=", "p=", "h=", "t=", "rid=")


def lexical(f: dict) -> dict:
    return {k: v for k, v in f.items() if k.startswith(LEXICAL)}


# the context the second stage weighs, besides the lexical scores and the page's voice
DENSE = ("cue=negated", "cue=hedged", "cue=hypothetical", "cue=attributed", "cue=warning", "cue=warned-list",
         "gov=negated", "gov=hedged", "gov=hypothetical", "gov=attributed", "gov=warning", "gov=question",
         "rs=negated", "rs=hedged", "rs=hypothetical", "rs=attributed", "rs=warning", "rs=question", "rs=commentary",
         "r=asserted", "quoted", "q", "excl", "k", "figure", "person=first", "person=second", "person=third",
         "page=commentary", "page=voice", "blk=heading", "blk=item", "blk=para", "blk=title", "reg=nav",
         "reg=footer", "reg=header")
COUNTS = ("t=", "w=", "ra=")


def dense_names(categories) -> list[str]:
    return (["score:shared", "score:category", "page:selling"] + list(DENSE) + [f"n:{p}" for p in COUNTS]
            + ["voice", "stance"] + [f"category={c}" for c in categories])


_COUNT_INDEX = {p: i for i, p in enumerate(COUNTS)}
_DENSE_INDEX = {k: i for i, k in enumerate(DENSE)}


def dense_part(f: dict) -> tuple[list, list, int, int]:
    """What one set of features adds to a dense row: DENSE values, COUNTS, voice and stance."""
    vals = [0.0] * len(DENSE)
    counts = [0] * len(COUNTS)
    voice = stance = 0
    for k, v in f.items():
        j = _DENSE_INDEX.get(k)
        if j is not None:
            vals[j] = v
            continue
        prefix = k[:k.find("=") + 1]
        i = _COUNT_INDEX.get(prefix)
        if i is not None:
            counts[i] += 1
        elif prefix == "voice=":
            voice = int(k[6:])
        elif prefix == "stance=":
            stance = int(k[7:])
    return vals, counts, voice, stance


def dense(f: dict, shared: float, own: float, selling: float, category: str, categories, own_f=None,
          base=None) -> list[float]:
    """One candidate's row for the second stage, in dense_names() order. The features may come
    in two parts with no key in common (a sentence's, `f`, whose dense_part may be given as
    `base`, and the candidate's own, `own_f`)."""
    vals, counts, voice, stance = base if base is not None else dense_part(f)
    if own_f:
        ov, oc, v2, s2 = dense_part(own_f)
        vals = [a if b == 0.0 else b for a, b in zip(vals, ov)]
        counts = [a + b for a, b in zip(counts, oc)]
        voice, stance = v2 or voice, s2 or stance
    return ([shared, own, selling] + vals + counts + [voice, stance]
            + [1.0 if c == category else 0.0 for c in categories])


def dense_array(rows) -> numpy.ndarray:
    return numpy.asarray(rows, dtype="float64")
