"""Propose candidate claims: every (sentence, category) that could carry a claim of the category.

A sentence is a candidate for a category when it holds a phrase of the category's broad
vocabulary (rules/candidates.yml) or a rule of the category matched in it. The step aims at
recall; the judge decides which candidates are the page's own claims.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Candidate:
    si: int                              # sentence index
    category: str
    triggers: list = field(default_factory=list)   # (start, end) tokens of vocabulary matches
    hits: list = field(default_factory=list)       # rule Hits of this category in the sentence


def propose(st, vocab_matches, key_category: dict, hits) -> list[Candidate]:
    """Candidates of a page, by sentence then category (a stable order)."""
    found: dict[tuple[int, str], Candidate] = {}
    sent_of = st.sent_of
    for key, s, e in vocab_matches:
        cat = key_category[key]
        k = (sent_of[s], cat)
        c = found.get(k)
        if c is None:
            c = found[k] = Candidate(k[0], cat)
        c.triggers.append((s, e))
    for h in hits:
        k = (h.si, h.rule.category)
        c = found.get(k)
        if c is None:
            c = found[k] = Candidate(h.si, h.rule.category)
        c.hits.append(h)
    return [found[k] for k in sorted(found)]
