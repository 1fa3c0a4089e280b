"""Run the inline examples of every rule (the sqlfluff way): `fire` texts must produce a finding of
that rule, `quiet` texts must produce no finding of that rule's category.

Examples are judged as if they stood on a clinic's page (the clinic-voice condition of some rules
is taken as met), since one sentence cannot show a page's voice.
"""
from __future__ import annotations

from ..model import Page


def iter_examples(ruleset, category=None):
    for r in ruleset.rules + ruleset.mitigations:
        if category and r.category != category:
            continue
        for kind in ("fire", "quiet"):
            for text in r.examples[kind]:
                yield r, kind, text


def check_example(auditor, rule, kind, text):
    """None when the example behaves, else a `path:line: message` string."""
    # the rule layer itself: what the rule asserts before the judge weighs it
    an = auditor.engine.analyse(Page(url="example", text=text), assume_voice=True, judge=None)
    if rule.category == "mitigation":
        hits = [m for m in an.mitigations if m.rule == rule.id]
        ok = bool(hits) if kind == "fire" else not hits
        got = ", ".join(m.text for m in an.mitigations) or "nothing"
    elif kind == "fire":
        ok = any(f.rule == rule.id for f in an.findings)
        sup = [s for s in an.suppressed if s.rule == rule.id]
        got = (f"suppressed as {sup[0].reason} by {sup[0].cue.text!r}" if sup and sup[0].cue
               else ", ".join(f"{f.rule}: {f.text!r}" for f in an.findings) or "nothing")
    else:
        bad = [f for f in an.findings if f.category == rule.category]
        ok = not bad
        got = ", ".join(f"{f.rule}: {f.text!r}" for f in bad)
    if ok:
        return None
    want = "should fire" if kind == "fire" else "should stay quiet"
    return f"{rule.path}:{rule.line}: {rule.id}: example {want}: {text!r} (got {got})"


def run_examples(auditor, category=None):
    failures, total = [], 0
    for rule, kind, text in iter_examples(auditor.rules, category):
        total += 1
        msg = check_example(auditor, rule, kind, text)
        if msg:
            failures.append(msg)
    return failures, total
