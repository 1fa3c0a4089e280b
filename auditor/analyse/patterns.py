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

_OP = re.compile(r"^(.*?)(\?|\+|\*|\{\d*,?\d*\})?$")


class PatternError(ValueError):
    pass


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
            tok["OP"] = op
        out.append(tok)
    if not out or all(t.get("OP") in ("?", "*") or (t.get("OP", "").startswith("{0")) for t in out):
        raise PatternError(f"phrase {phrase!r} can match nothing or everything")
    return out
