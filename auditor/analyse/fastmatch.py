"""A token-pattern matcher with the Matcher's semantics, fast enough to keep pace with the tokenizer.

spaCy's Matcher evaluates every pattern's predicates at every token; with a few hundred lemma-set
patterns and wildcards it runs at a few thousand words a second. Here each token pattern is
compiled to a regular expression over an encoding of the doc (one `lower␟lemma␟n␠` cell per token,
a line break between sentences), and tried only where its anchor occurs: the least common of the
words at a fixed offset from its start (optional tokens before a rarer word are spelled out into
variants, so that it can be the anchor). What each distinct word may anchor is worked out once
(its "plan"), and a page's candidates are gathered from its word ids (see nlp.WordTable) with a
few array operations. Patterns never cross a sentence boundary.

Supported token attributes: LEMMA, LOWER, ORTH and TEXT (as LOWER when lowercase), LIKE_NUM,
REGEX on LOWER, IN sets, and the operators ?, *, +, {n,m}. Anything else is given to spaCy's own
Matcher, so a rule author may still write any spaCy token pattern.
"""
from __future__ import annotations

import bisect
import re
from collections import defaultdict
from operator import itemgetter

import numpy
from spacy.attrs import ORTH
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.matcher import Matcher

from .nlp import grown

SEP = "\x1f"            # between the fields of one token
FIELD = f"[^{SEP}\\n]"   # a character of one field
# one field of any token; possessive, since what follows a field is the separator it cannot
# hold: giving characters back could never help a match, and failing fast is most of the speed
ANY = FIELD + "*+"


class Unsupported(ValueError):
    pass


def _values(spec, attr):
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, dict) and set(spec) == {"IN"} and all(isinstance(v, str) for v in spec["IN"]):
        return list(spec["IN"])
    if isinstance(spec, dict) and attr == "LOWER" and set(spec) == {"REGEX"}:
        return None
    raise Unsupported(f"{attr}: {spec!r}")


def _alt(vals):
    return "(?:" + "|".join(re.escape(v) for v in sorted(set(vals), key=len, reverse=True)) + ")"


def _token_regex(tok: dict) -> tuple[str, tuple]:
    """(regex for one token cell, anchor) where anchor is ("LEMMA"|"LOWER", values) or None."""
    lower, lemma, num = ANY, ANY, "[01]"
    anchor = None
    for key, spec in tok.items():
        k = key.upper()
        if k == "OP":
            continue
        if k in ("LOWER", "ORTH", "TEXT", "NORM"):
            if k != "LOWER" and not (isinstance(spec, str) and spec == spec.lower()):
                raise Unsupported(k)
            vals = _values(spec, "LOWER")
            if vals is None:
                rx = spec["REGEX"]
                rx = rx[1:] if rx.startswith("^") else f"{FIELD}*?(?:{rx})"
                rx = rx[:-1] if rx.endswith("$") and not rx.endswith("\\$") else rx + ANY
                lower = f"(?:{rx})"
            else:
                lower = _alt(vals)
                anchor = ("LOWER", vals)
        elif k == "LEMMA":
            vals = _values(spec, "LEMMA")
            lemma = _alt(vals)
            anchor = anchor or ("LEMMA", vals)
        elif k == "LIKE_NUM":
            num = "1" if spec else "0"
            if spec and anchor is None:
                anchor = ("NUM", ())
        else:
            raise Unsupported(k)
    return f"{lower}{SEP}{lemma}{SEP}{num} ", anchor


# the commonest English words (as lemmas): an anchor on one of these is tried almost everywhere
VERY_COMMON = {"be", "have", "the", "a", "an", "of", "to", "and", "in", "it", "that", "for", "on", "with",
               "as", "do", "this", "by", "at", "or", "from", "i", "you", "we", "they", "he", "she"}


# the commonest other words of clinic pages: as common there as a stop word (this only decides
# where a pattern is tried first, never what it matches)
ON_CLINIC_PAGES = {"cell", "cells", "stem", "treatment", "treatments", "therapy", "therapies", "patient",
                   "patients", "pain", "use", "injection", "injections", "disease", "tissue", "joint",
                   "procedure", "clinic", "blood", "research", "fda", "medical", "regenerative", "study",
                   "treat", "help", "product", "body", "condition", "medicine", "people", "heal", "healing",
                   "repair", "improvement", "result", "results", "effect", "effects", "relief", "benefit",
                   "benefits", "surgery", "cord", "approve", "approved", "exosome", "exosomes", "injury",
                   "inflammation", "recovery", "damage", "growth", "function", "health", "doctor"}


def _commonness(anchor) -> int:
    """A rough count of how often an anchor's words occur: the lower, the fewer places to try."""
    if anchor[0] == "NUM":
        return 15           # numbers are commoner than most stop words on these pages
    return sum(30 if v in VERY_COMMON else 5 if v in STOP_WORDS or v in ON_CLINIC_PAGES or len(v) < 3 else 1
               for v in anchor[1])


def _bounds(op) -> tuple[int, int | None]:
    """(least, most) times a token with this operator occurs; most is None when unbounded."""
    if op in (None, "1"):
        return 1, 1
    fixed = {"?": (0, 1), "*": (0, None), "+": (1, None)}
    if op in fixed:
        return fixed[op]
    m = re.fullmatch(r"\{(\d*)(,?)(\d*)\}", op) if isinstance(op, str) else None
    if not m:
        raise Unsupported(f"OP {op!r}")
    lo = int(m.group(1) or 0)
    return lo, (int(m.group(3)) if m.group(3) else None) if m.group(2) else lo


def _repeats(op) -> range | None:
    """How many times a token with this operator may occur, if bounded (and understood)."""
    try:
        lo, hi = _bounds(op)
    except Unsupported:
        return None
    return None if hi is None else range(lo, hi + 1)


def anchor_variants(pattern: list[dict], limit: int = 8) -> list[list[dict]]:
    """Patterns that together match what `pattern` matches, in which its rarest required token
    stands at a fixed offset from the start, so it can be the anchor ("it was been? speculated"
    is tried where "speculated" stands, not at every "it"). Optional and bounded tokens before
    it are spelled out, up to `limit` variants; past that, or past an unbounded token, the
    pattern is kept as it is."""
    best, variants_before = None, 1
    for i, tok in enumerate(pattern):
        op = tok.get("OP")
        if op in (None, "1", "+"):
            try:
                _, anchor = _token_regex(tok)
            except Unsupported:
                anchor = None
            if anchor is not None:
                # each variant is tried wherever the anchor stands
                rank = (_commonness(anchor) * variants_before, variants_before)
                if best is None or rank < best[0]:
                    best = (rank, i)
        reps = _repeats(op)
        if reps is None:
            break
        variants_before *= len(reps)
        if variants_before > limit:
            break
    if best is None or best[0][1] == 1:
        return [pattern]
    variants: list[list[dict]] = [[]]
    for tok in pattern[:best[1]]:
        plain = {k: v for k, v in tok.items() if k != "OP"}
        variants = [v + [dict(plain) for _ in range(r)] for v in variants for r in _repeats(tok.get("OP"))]
    return [v + pattern[best[1]:] for v in variants]


def compile_pattern(pattern: list[dict]) -> tuple[str, tuple, int]:
    """(regex, anchor, offset): the anchor is the least common of the tokens at a fixed offset
    from the start (the leading tokens without an operator), so a pattern that opens with "the"
    or "not" is tried where its rarer second word stands."""
    parts, fixed, closed = [], [], False
    for i, tok in enumerate(pattern):
        cell, anchor = _token_regex(tok)
        op = tok.get("OP")
        if not closed:
            if op in (None, "1", "+"):
                fixed.append((anchor, i))
            closed = op not in (None, "1")
        lo, hi = _bounds(op)
        parts.append(f"(?:{cell})" if (lo, hi) == (1, 1) else f"(?:{cell}){{{lo},{'' if hi is None else hi}}}")
    usable = [(a, k) for a, k in fixed if a is not None]
    if not usable:
        return "".join(parts), None, 0
    anchor, k = min(usable, key=lambda ak: (_commonness(ak[0]), ak[1]))
    return "".join(parts), anchor, k


_REGEXES: dict = {}


def _regex(rx: str) -> re.Pattern:
    """rx compiled once per process (re's own cache holds only 512)."""
    c = _REGEXES.get(rx)
    if c is None:
        c = _REGEXES[rx] = re.compile(rx)
    return c


class FastMatcher:
    """Matcher-compatible: add(key, patterns, greedy) then matcher(doc) -> [(key_hash, start, end)]."""

    def __init__(self, vocab):
        self.vocab = vocab
        self.fallback = Matcher(vocab)
        self._n_fallback = 0
        self.patterns: list[tuple] = []     # (key hash, regex source or compiled if floating, offset)
        self.by_lemma: dict[int, list[int]] = {}
        self.by_lower: dict[int, list[int]] = {}
        self.floating: list[int] = []                         # patterns with no first-token anchor
        self.by_num: list[int] = []                           # patterns that start with a number
        self._seen: set = set()
        self.source: list = []                                # what was added, for checks
        self.greedy: dict[int, str] = {}

    def __len__(self):
        return len({k for k, _ in self.patterns}) + len(self.fallback)

    def add(self, key: str, patterns: list, greedy=None):
        kh = self.vocab.strings.add(key)
        self.source.append((key, patterns, greedy))
        if greedy:
            self.greedy[kh] = greedy
        slow = []
        # a leading optional token would leave a pattern without an anchor: try it both ways
        expanded = []
        for pat in patterns:
            while pat and pat[0].get("OP") in ("?", "*"):
                first = {k: v for k, v in pat[0].items() if k != "OP"}
                expanded.append([dict(first, OP="+") if pat[0]["OP"] == "*" else first] + pat[1:])
                pat = pat[1:]
            expanded.append(pat)
        if greedy:
            # only the longest match of a greedy key is kept, so a variant that finds a shorter
            # match at the same start changes nothing
            expanded = [v for pat in expanded for v in anchor_variants(pat)]
        for pat in expanded:
            try:
                rx, anchor, offset = compile_pattern(pat)
            except Unsupported:
                slow.append(pat)
                continue
            if (kh, rx) in self._seen:
                continue
            self._seen.add((kh, rx))
            pid = len(self.patterns)
            # a one-token pattern that tests only its anchor attribute matches wherever it is tried
            whole = len(pat) == 1 and not pat[0].get("OP") and anchor is not None and anchor[0] != "NUM" \
                and len([k for k in pat[0] if k != "OP"]) == 1
            # anchored regexes are compiled when a word that can anchor them is first seen (plan):
            # most never are on a given run, and compiling them all cost a quarter of start-up
            self.patterns.append((kh, None if whole else rx, offset))
            if anchor is None:
                self.patterns[pid] = (kh, _regex(rx), offset)
                self.floating.append(pid)
            elif anchor[0] == "NUM":
                self.by_num.append(pid)
            else:
                table = self.by_lemma if anchor[0] == "LEMMA" else self.by_lower
                for v in anchor[1]:
                    table.setdefault(self.vocab.strings.add(v), []).append(pid)
        if slow:
            self.fallback.add(key, slow, greedy=greedy)
            self._n_fallback += len(slow)

    def plan(self, low: int, lem: int, num: int):
        """What to do where a word with these attributes stands, or None: (keys of the one-token
        patterns it matches outright, (offset of the pattern's start, regex, key) to try), from
        the patterns whose anchor it can be."""
        pids = self.by_lemma.get(lem, _NONE) + self.by_lower.get(low, _NONE) + (self.by_num if num else _NONE)
        if not pids:
            return None
        pats = self.patterns
        return (tuple(pats[p][0] for p in pids if pats[p][1] is None),
                tuple((pats[p][2], _regex(pats[p][1]), pats[p][0]) for p in pids if pats[p][1] is not None))

    def __call__(self, doc, sents=None):
        """Match one doc on its own (MatcherGroup does it for several matchers at once)."""
        return MatcherGroup({"m": self}).run(doc, sents)["m"]

    def run(self, doc, enc, cands) -> list:
        """Matches among candidates [(token index, plan)], over enc = (encoded text, where each
        token's cell starts, where it ends (a numpy array))."""
        if not cands and not self.floating and not self._n_fallback:
            return []
        text, cstart, ends = enc
        found = [(kh, i, i + 1) for i, plan in cands for kh in plan[0]]
        after = bisect.bisect_left      # tokens whose cells start before a match's end: its end token
        for i, plan in cands:
            for k, rx, kh in plan[1]:
                if k <= i:
                    pos = cstart[i - k]
                    m = rx.match(text, pos)
                    if m and m.end() > pos:
                        found.append((kh, i - k, after(cstart, m.end())))
        for pid in self.floating:
            kh, rx, _ = self.patterns[pid]
            for m in rx.finditer(text):
                if m.end() > m.start():
                    s = int(ends.searchsorted(m.start(), side="right"))
                    found.append((kh, s, after(cstart, m.end())))
        if self._n_fallback:
            found += [(k, s, e) for k, s, e in self.fallback(doc)]
        return _filter_greedy(found, self.greedy)


class MatcherGroup:
    """Several FastMatchers run over one encoding of a doc.

    Each distinct word (lowercase form, lemma, number or not) is encoded and looked up in every
    matcher's anchor tables once, not once per occurrence; the results are kept in columns by
    the word ids of the pipeline's nlp.WordTable, so a page is encoded by indexing them.
    """

    def __init__(self, matchers: dict, within: dict | None = None):
        """within: {name: (other, keys)} runs matcher `name` only in sentences where `other`
        matched one of `keys` (a set of key hashes; None for any): a rule's co-occurrence
        conditions matter only where the rule's own pattern stands."""
        self.matchers = matchers
        self.names = list(matchers)
        self.within = within or {}
        self._cache: dict = {}
        # matchers that run everywhere, then those that run within their matches
        self._main = [k for k, name in enumerate(self.names) if name not in self.within]
        self._inner = [k for k, name in enumerate(self.names) if name in self.within]
        self._main_index = numpy.array(self._main, dtype="int64")
        self._main_shifts = self._main_index.astype("uint32")[:, None]
        # columns by word id of the pipeline's nlp.WordTable: cell, its length, a bit per matcher
        # that has a plan for the word, and each matcher's plan
        self._table, self._generation, self._size = None, None, 0
        self._cell = numpy.empty(0, dtype=object)
        self._cell_len = numpy.empty(0, dtype="int64")
        self._has = numpy.empty(0, dtype="uint32")
        self._plans = numpy.empty((0, len(self.names)), dtype=object)     # word id x matcher

    def entry(self, low: int, lem: int, vocab) -> tuple:
        """(cell, then per matcher its plan for the word, or None) of one word, cached by its
        lowercase form (the lemma is a function of it, see nlp.TokenAttributes)."""
        e = self._cache.get(low)
        if e is None:
            if len(self._cache) > CACHE_LIMIT:     # a long batch meets ever new words: stay bounded
                self._cache.clear()
            num = vocab[low].like_num
            cell = f"{_clean(vocab.strings[low])}{SEP}{_clean(vocab.strings[lem])}{SEP}{1 if num else 0} "
            e = self._cache[low] = (cell,) + tuple(
                self.matchers[k].plan(low, lem, num) for k in self.names)
        return e

    def _sync(self, table, vocab) -> None:
        """Extend the columns to every word of the table (afresh if the table was emptied)."""
        if table is not self._table or table.generation != self._generation:
            self._table, self._generation, self._size = table, table.generation, 0
        if self._size == table.size:
            return
        first, end = self._size, table.size
        self._cell, self._cell_len, self._has, self._plans = (
            grown(a, end) for a in (self._cell, self._cell_len, self._has, self._plans))
        lower, lemma = table.lower[first:end].tolist(), table.lemma[first:end].tolist()
        for wid, low, lem in zip(range(first, end), lower, lemma):
            e = self.entry(low, lem, vocab)
            self._cell[wid], self._cell_len[wid] = e[0], len(e[0])
            bits = 0
            for k, plan in enumerate(e[1:]):
                self._plans[wid, k] = plan
                if plan is not None:
                    bits |= 1 << k
            self._has[wid] = bits
        self._size = end

    def _word_ids(self, doc):
        """The word id of each token, from the pipeline (nlp.TokenAttributes); a doc made before
        the table was last emptied is mapped again."""
        words = doc.user_data.get("auditor_words")
        if words is None or len(words[2]) != len(doc):
            raise ValueError("MatcherGroup needs a doc from nlp.build_nlp()'s pipeline")
        table, generation, wids, _ = words
        if generation != table.generation:
            wids = table.ids(doc.to_array(ORTH))
        self._sync(table, doc.vocab)
        return wids

    def run(self, doc, sents=None) -> dict:
        n = len(doc)
        if not n:
            return {name: [] for name in self.names}
        if sents is None:
            sents = [(s.start, s.end) for s in doc.sents]
        wids = self._word_ids(doc)
        cell, cell_len, has, plans = self._cell, self._cell_len, self._has, self._plans
        cells = cell[wids].tolist()
        lengths = cell_len[wids]
        starts = [s for s, _ in sents]
        for s in starts[1:]:               # a line break before each sentence but the first
            cells[s] = "\n" + cells[s]
        lengths[starts[1:]] += 1
        ends = numpy.cumsum(lengths)
        # where each token's own cell starts (after the line break before a sentence)
        enc = ("".join(cells), (ends - cell_len[wids]).tolist(), ends)
        # every (matcher, token) with a plan, matcher by matcher, in a few array operations
        bits = has[wids]
        row, at = numpy.nonzero((bits >> self._main_shifts) & 1)
        todo = plans[wids[at], self._main_index[row]].tolist()
        at = at.tolist()
        bounds = row.searchsorted(numpy.arange(len(self._main) + 1)).tolist()
        out = {}
        for r, k in enumerate(self._main):
            out[self.names[k]] = self.matchers[self.names[k]].run(
                doc, enc, list(zip(at[bounds[r]:bounds[r + 1]], todo[bounds[r]:bounds[r + 1]])))
        for k in self._inner:
            # only in the sentences where the other matcher matched
            name = self.names[k]
            other, keys = self.within[name]
            where = [s for kh, s, _ in out[other] if keys is None or kh in keys]
            if not where:
                out[name] = []
                continue
            inside = numpy.zeros(n, dtype=bool)
            for s in where:
                ss, se = sents[bisect.bisect_right(starts, s) - 1]
                inside[ss:se] = True
            idx = numpy.flatnonzero(inside & ((bits >> numpy.uint32(k)) & 1).astype(bool))
            out[name] = self.matchers[name].run(doc, enc, list(zip(idx.tolist(), plans[wids[idx], k].tolist())))
        return out


CACHE_LIMIT = 200_000
_NONE: list = []


def _clean(s: str) -> str:
    # a cell holds no space, separator or line break of its own
    return s.replace(" ", "_").replace("\n", "_").replace(SEP, "_") if (" " in s or "\n" in s or SEP in s) else s


def _filter_greedy(found, greedy):
    """spaCy's greedy="LONGEST": per key, the longest of overlapping matches, others dropped."""
    if len(found) < 2:
        return found
    if not greedy:
        return sorted(set(found), key=_BY_POSITION)
    out, by_key = [], defaultdict(list)
    for m in set(found):
        (by_key[m[0]] if m[0] in greedy else out).append(m)
    for ms in by_key.values():
        if len(ms) == 1:
            out.append(ms[0])
            continue
        taken: set[int] = set()      # token positions already inside a kept match of this key
        for kh, s, e in sorted(ms, key=_LONGEST_FIRST):
            span = range(s, e)
            if taken.isdisjoint(span):
                taken.update(span)
                out.append((kh, s, e))
    return sorted(out, key=_BY_POSITION)


_BY_POSITION = itemgetter(1, 2)


def _LONGEST_FIRST(m):
    return m[1] - m[2], m[1]
