"""Turn the judge's verdicts on a page's candidates into findings and dismissed candidates.

A candidate the judge finds likely enough (its probability at or above the category's threshold)
becomes a Finding: the claim is its sentence (a rule's own match, shorter, overlapped fewer
labelled claims: cross-validated F1 0.490 against 0.515); `rule` is the id of the YAML rule that fired in it
when one did (the most severe), else the judge's id for the category; `confidence` is the judge's
probability; `features` lists the strongest reasons behind the decision and `cues` every ConText
cue of the sentence. A candidate below the threshold is kept under `suppressed` when a rule fired
in it or the judge gave it some weight, with the probability and the cue that weighed most.
"""
from __future__ import annotations

from ..model import Cue, Finding, Suppressed, severity_rank
from .candidates import Candidate
from .context import governing
from .evidence import evidence, stripped, window

KEEP_DISMISSED = 0.1      # dismissed candidates below this probability (and no rule) are not listed


def decide(judge, st, cands: list[Candidate], pf, candidate_rules: dict, selling=None) -> tuple[list, list]:
    """(findings, suppressed) of one page. candidate_rules: category -> Candidates (severity)."""
    if not cands:
        return [], []
    items = [(pf.sentence(c.si), pf.own(c), c.category) for c in cands]
    X, lex = judge.rows(items, judge.selling(pf.page_words()) if selling is None else selling)
    probs = judge.probabilities(X)
    asserted_of = [sorted((h for h in c.hits if h.cue is None), key=lambda h: -severity_rank(h.rule.severity))
                   for c in cands]
    limits = []
    for c, asserted in zip(cands, asserted_of):
        t = judge.thresholds.get(c.category, judge.threshold)
        if c.category not in judge.categories:
            # a category the judge never learned (a user's own rules): the rules decide
            t = 0.0 if asserted else 2.0
        elif asserted and c.category in judge.rule_thresholds:
            t = min(t, judge.rule_thresholds[c.category])
        limits.append(t)
    rounded = [round(float(p), 3) for p in probs.tolist()]
    kept = [k for k, (p, t) in enumerate(zip(rounded, limits)) if p >= t]
    # the reasons of every finding of the page, in one walk of the trees
    contrib = dict(zip(kept, judge.contributions(X[kept]))) if kept else {}
    findings, suppressed = [], []
    text = st.text
    for k, (c, p, t, asserted) in enumerate(zip(cands, rounded, limits, asserted_of)):
        start, end = stripped(text, *st.chars(*st.sents[c.si]))
        claim = evidence(text, start, end)
        sentence, ws, we = window(text, start, end, start, end)
        if k in contrib:
            reasons = judge.explain(X[k], lex[k], c.category, contrib=contrib[k])
            rule = asserted[0].rule if asserted else None
            cand = candidate_rules.get(c.category)
            cues = [Cue(m.category, m.text, m.direction, *m.char) for m in st.mods_by_sent.get(c.si, [])]
            region = st.blocks[st.block_of(start)].region if st.blocks else "main"
            why = f"judge {judge.id}: probability {p:.2f} >= {t:.2f}"
            if t < judge.thresholds.get(c.category, judge.threshold):
                why += " (the threshold for a sentence a rule asserted)"
            if rule:
                why += f"; pattern of {rule.id} matched {evidence(text, asserted[0].cs, asserted[0].ce)!r}"
            findings.append(Finding(
                rule=rule.id if rule else f"judge.{c.category}", category=c.category,
                severity=rule.severity if rule else (cand.severity if cand else "medium"), confidence=p,
                text=claim, sentence=sentence, start=start, end=end, cues=cues, region=region, note=why,
                model=judge.id, features=[[n, v] for n, v in reasons], sentence_start=ws, sentence_end=we))
            continue
        if p < KEEP_DISMISSED and not c.hits:
            continue
        cue = next((h.cue for h in c.hits if h.cue is not None), None)
        if cue is None and c.triggers:
            cue = governing((), *c.triggers[0], c.si, st)
        rule_id = c.hits[0].rule.id if c.hits else f"judge.{c.category}"
        suppressed.append(Suppressed(rule_id, c.category, claim, sentence, start, end,
                                     cue.category if cue is not None else "judge", cue, probability=p,
                                     model=judge.id, sentence_start=ws, sentence_end=we))
    return findings, suppressed
