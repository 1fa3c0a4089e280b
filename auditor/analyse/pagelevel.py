"""Page-level findings, judged from the page as a whole once its sentence-level claims are known:
`many-conditions` (one therapy offered for conditions from three or more unrelated disease
groups) and `missing-risk-disclosure` (a page that promotes a treatment and never mentions risks).
"""
from __future__ import annotations

import bisect

from ..model import Finding
from .context import SUPPRESSING, PageState


def any_in(spans, ss, se, outside=None) -> bool:
    """Whether a span (of a list sorted by start) lies within ss..se, and outside `outside` if given."""
    if not spans:
        return False
    for k in range(bisect.bisect_left(spans, (ss,)), len(spans)):
        s, e = spans[k]
        if s >= se:
            return False
        if e <= se and (outside is None or e <= outside[0] or s >= outside[1]):
            return True
    return False


def page_level(page_rules: dict, key_name: dict, st: PageState, findings: list[Finding]) -> list[Finding]:
    res = []
    signals = st.signals
    if signals.get("commentary"):
        return res
    cfg = page_rules.get("many-conditions")
    if cfg:
        groups = condition_groups(cfg, key_name, st)
        f = many_conditions(cfg, groups)
        if f:
            res.append(f)
    cfg = page_rules.get("missing-risk-disclosure")
    if cfg and signals["voice"]:
        f = missing_risk_disclosure(cfg, st, findings)
        if f:
            res.append(f)
    return res


def missing_risk_disclosure(cfg: dict, st: PageState, findings: list[Finding]):
    doc, sent_of, signals = st.doc, st.sent_of, st.signals
    # "the risks are minimal to none" mentions risk only to deny it
    denied = {sent_of[doc.char_span(f.start, f.end, alignment_mode="expand").start]
              for f in findings if f.category == "risk-minimization"}
    risk = [(s, e) for s, e in st.aux_by_key.get("P:missing-risk-disclosure:risk_terms", [])
            if sent_of[s] not in denied]
    if len(findings) < int(cfg.get("min_findings", 1)) or risk:
        return None
    return Finding(
        rule="page.missing-risk-disclosure", category="missing-risk-disclosure",
        severity=cfg["severity"], confidence=float(cfg.get("confidence", 0.6)),
        text="(no mention of risks, side effects or complications)", sentence=None,
        start=None, end=None, note=(f"page promotes a treatment ({len(findings)} claims, "
                                    f"clinic voice {signals['voice_value']:.0f}) and never "
                                    "mentions risks, side effects or complications"))


def condition_groups(cfg: dict, key_name: dict, st: PageState) -> dict[str, list[str]]:
    """Disease group -> the conditions of it the page offers to treat (not those it only says are
    studied, not approved, or warned about)."""
    groups: dict[str, list[str]] = {}
    if "voice" in cfg.get("requires", []) and not st.signals["voice"]:
        return groups
    treat = st.aux_by_key.get("P:many-conditions:treat_terms", [])
    notoff = st.aux_by_key.get("P:many-conditions:not_offered", [])
    for key, s, e in st.conditions:
        si = st.sent_of[s]
        ss, se = st.sents[si]
        if any(m.category in SUPPRESSING for m in st.mods_by_sent.get(si, [])):
            continue
        if any_in(notoff, ss, se):
            continue
        if st.warned and st.block_of(int(st.tok_start[s])) in st.warned:
            continue
        # a condition counts when its sentence speaks of treating it, or it sits in a list
        # whose lead-in does
        if not any_in(treat, ss, se) and not any_in(treat, max(0, ss - 60), ss):
            continue
        g = key_name[key][2:]
        groups.setdefault(g, [])
        t = st.text[slice(*st.chars(s, e))]
        if t.lower() not in (x.lower() for x in groups[g]):
            groups[g].append(t)
    return groups


def many_conditions(cfg: dict, groups: dict[str, list[str]]):
    need = int(cfg.get("min_groups", 3))
    if len(groups) < need:
        return None
    listing = "; ".join(f"{g}: {', '.join(v[:4])}" for g, v in sorted(groups.items()))
    return Finding(rule="page.many-conditions", category="many-conditions", severity=cfg["severity"],
                   confidence=float(cfg.get("confidence", 0.7)), text=listing, sentence=None, start=None,
                   end=None, note=f"conditions from {len(groups)} unrelated disease groups offered for "
                                  f"treatment (threshold {need})")
