"""Compile the rule phrase language into spaCy Matcher token patterns.

A phrase is written the way the claim reads, one slot per word, and is lemma-aware by default:

    guarantee result|relief|success?     "guaranteed results", "guarantees relief", "guarantee"
    =cure                                the exact word "cure" (lowercase), not "cured"
    _   _?   _{0,3}                      any token; an optional one; up to three
    <num>                                a number ("80", "eighty")
    <tissue>                             any word of the single-word lexicon "tissue"
    FDA-approved                         a word spaCy splits is expanded to its tokens

A slot ending in `?` is optional, `+` repeats. Raw token patterns (a list of mappings, as in spaCy)
are passed through unchanged.
"""
from __future__ import annotations

import re

try:                                  # the stdlib's own regex parser (sre_parse before 3.11)
    from re import _constants as _sre, _parser as _sre_parse
except ImportError:                   # pragma: no cover
    import sre_constants as _sre, sre_parse as _sre_parse

_OP = re.compile(r"^(.*?)(\?|\+|\*|\{\d*,?\d*\})?$")


class PatternError(ValueError):
    pass


def op_problem(op) -> str | None:
    """What is wrong with a token operator, or None ({9,2} asks for at least 9 and at most 2)."""
    if not isinstance(op, str):
        return None
    m = re.fullmatch(r"\{(\d*),(\d*)\}", op)
    if m and m.group(1) and m.group(2) and int(m.group(1)) > int(m.group(2)):
        return f"operator {op}: at least {m.group(1)} but at most {m.group(2)}; write {{{m.group(2)},{m.group(1)}}}"
    return None


# A user's REGEX runs on every token of every page. One that nests a quantifier that can vary
# inside a repeated group, such as ^(a+)+$, backtracks exponentially on a token that almost
# matches (26 letters took 10 s), so it is refused when the rules load, with its path:line.
_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT}
_MAX_WAYS = 1000        # bounded nesting such as (\d{1,3}\.){3} tries at most 3**3 splits


def regex_problem(rx) -> str | None:
    """Why a REGEX of a token pattern is refused (it does not compile, or can take exponential
    time), or None."""
    if not isinstance(rx, str):
        return f"REGEX must be a string, not {type(rx).__name__}"
    try:
        re.compile(rx)
        tree = _sre_parse.parse(rx)
    except re.error as e:
        return f"bad regular expression {rx!r}: {e}"
    except RecursionError:
        return f"regular expression {rx!r} is nested too deeply"
    if _nested_repeat(tree, 1):
        return (f"regular expression {rx!r} repeats a group that holds a quantifier, "
                f"which can take exponential time on a token that almost matches; rewrite it without "
                f"the nesting (^a+$), or make the inner part possessive (a++)")
    return None


def _nested_repeat(tree, outer: int) -> bool:
    """Whether a quantifier whose count can vary stands inside a group repeated `outer` times (the
    product of the enclosing maxima; MAXREPEAT when unbounded) with too many ways to split a text."""
    for op, av in tree:
        if op in _REPEATS:
            lo, hi, sub = av
            if outer > 1 and lo != hi:
                if outer >= _sre.MAXREPEAT or hi >= _sre.MAXREPEAT or (hi - lo + 1) ** min(outer, 64) > _MAX_WAYS:
                    return True
            if _nested_repeat(sub, min(_sre.MAXREPEAT, outer * max(hi, 1))):
                return True
        elif op == _sre.SUBPATTERN and _nested_repeat(av[3], outer):
            return True
        elif op == _sre.BRANCH and any(_nested_repeat(alt, outer) for alt in av[1]):
            return True
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT) and _nested_repeat(av[1], outer):
            return True
        elif op == _sre.GROUPREF_EXISTS and any(_nested_repeat(b, outer) for b in av[1:] if b):
            return True
        # a possessive repeat or an atomic group never gives back what it matched, so it does not
        # multiply what is inside it; inside, the same nesting is still exponential
        elif op == _sre.POSSESSIVE_REPEAT and _nested_repeat(av[2], 1):
            return True
        elif op == _sre.ATOMIC_GROUP and _nested_repeat(av, 1):
            return True
    return False


def compile_phrase(phrase: str, tokenize, lemma, lexicons: dict) -> list[dict]:
    """Turn one phrase into a token pattern. tokenize(str) -> [str]; lemma(lower str) -> str."""
    out: list[dict] = []
    for slot in phrase.split():
        m = _OP.match(slot)
        body, op = m.group(1), m.group(2)
        if not body:   # a bare "?" or "+" is punctuation, not an operator
            body, op = slot, None
        alts = body.split("|") if "|" in body and body != "|" else [body]
        specs = []
        for alt in alts:
            if alt == "_":
                specs.append(None)
            elif alt == "<num>":
                specs.append(("LIKE_NUM", True))
            elif alt.startswith("<") and alt.endswith(">") and len(alt) > 2:
                name = alt[1:-1]
                if name not in lexicons:
                    raise PatternError(f"unknown lexicon <{name}> in {phrase!r}")
                terms = lexicons[name]
                if not isinstance(terms, list):
                    raise PatternError(f"<{name}> is a grouped lexicon; only a flat word list can be a slot")
                specs.append(("LEMMA", [lemma(t.lower()) for t in terms]))
            elif alt.startswith("=") and len(alt) > 1:
                toks = tokenize(alt[1:].lower())
                if len(toks) != 1:
                    if len(alts) > 1 or op:
                        raise PatternError(f"{alt!r} is several tokens {toks}; write them as separate slots")
                    specs.append(("SEQ_LOWER", toks))
                else:
                    specs.append(("LOWER", toks[0]))
            else:
                toks = tokenize(alt)
                if len(toks) != 1:
                    if len(alts) > 1 or op:
                        raise PatternError(f"{alt!r} is several tokens {toks}; write them as separate slots")
                    specs.append(("SEQ", toks))
                else:
                    specs.append(("LEMMA", lemma(toks[0].lower())))
        if len(specs) == 1 and specs[0] is not None and specs[0][0] in ("SEQ", "SEQ_LOWER"):
            attr = "LEMMA" if specs[0][0] == "SEQ" else "LOWER"
            for t in specs[0][1]:
                out.append({attr: lemma(t.lower()) if attr == "LEMMA" else t})
            continue
        if any(s is None for s in specs):
            tok: dict = {}
        else:
            lemmas, lowers, extra = [], [], {}
            for kind, val in specs:
                if kind == "LEMMA":
                    lemmas += val if isinstance(val, list) else [val]
                elif kind == "LOWER":
                    lowers.append(val)
                else:
                    extra[kind] = val
            if lowers and lemmas:
                raise PatternError(f"slot {slot!r} mixes =exact and lemma alternatives")
            tok = dict(extra)
            if lemmas:
                tok["LEMMA"] = lemmas[0] if len(lemmas) == 1 else {"IN": sorted(set(lemmas))}
            if lowers:
                tok["LOWER"] = lowers[0] if len(lowers) == 1 else {"IN": sorted(set(lowers))}
        if op:
            problem = op_problem(op)
            if problem:
                raise PatternError(f"slot {slot!r} in {phrase!r}: {problem}")
            tok["OP"] = op
        out.append(tok)
    if not out or all(t.get("OP") in ("?", "*") or (t.get("OP", "").startswith("{0")) for t in out):
        raise PatternError(f"phrase {phrase!r} can match nothing or everything")
    return out
