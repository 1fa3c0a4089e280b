"""The context engine: the same words as a claim, a negation, a hedge, a warning or a quotation."""
import pytest

from auditor.model import Page


def analyse(auditor, text, **kw):
    # the rule layer and its ConText cues (the judge is tested in test_judge.py)
    return auditor.engine.analyse(Page(url="t", text=text), judge=None, **kw)


@pytest.mark.parametrize("text,category", [
    ("Satisfaction Guaranteed.", "guarantee"),
    ("FDA-Approved Clinical Trials", "fda-misstatement"),
    ("The risks are minimal to none.", "risk-minimization"),
    ("The stem cells migrate to the damaged tissues, where they exert their regenerative effects.", "unproven-efficacy"),
    ("Stem cell therapy is a revolutionary approach.", "miracle-cure"),
])
def test_claims_fire(auditor, text, category):
    assert category in {f.category for f in analyse(auditor, text, assume_voice=True).findings}


@pytest.mark.parametrize("text,reason", [
    ("However, we cannot guarantee results.", "negated"),
    ("It should be part of a plan rather than a miracle cure.", "negated"),
    ("This innovative treatment seeks to repair damaged spinal tissues.", "hedged"),
    ("While stem cell therapy is generally considered safe, it's not without risks.", "hedged"),
    ("Is stem cell therapy FDA approved?", "question"),
    ("Some clinics claim their cells are a miracle.", "attributed"),
    ("Be wary of clinics that guarantee results.", "warning"),
])
def test_modified_claims_are_suppressed_with_cue(auditor, text, reason):
    an = analyse(auditor, text)
    assert not an.findings, an.findings
    assert an.suppressed and an.suppressed[0].reason == reason and an.suppressed[0].cue.text


def test_terminator_cuts_scope(auditor):
    an = analyse(auditor, "It is not cheap, but satisfaction is guaranteed.")
    assert [f.category for f in an.findings] == ["guarantee"]


def test_warning_heading_carries_over_to_list_items(auditor):
    text = "Red Flags to Watch For\nBe cautious of clinics that:\n- Guarantee specific results\n- Claim there are no side effects\nOur Clinic\nSatisfaction guaranteed."
    an = analyse(auditor, text, assume_voice=True)
    assert [f.text for f in an.findings if f.category == "guarantee"] == ["Satisfaction guaranteed"]
    assert {s.category for s in an.suppressed} >= {"guarantee", "risk-minimization"}
    assert [s.reason for s in an.suppressed if s.category == "guarantee"] == ["warning"]


def test_rather_than_is_superiority_not_negation(auditor):
    an = analyse(auditor, "Our injections treat the cause rather than masking the symptoms.")
    assert "superiority-claim" in {f.category for f in an.findings}


def test_accurate_fda_statement_is_a_mitigation(auditor):
    an = analyse(auditor, "The FDA has stated that none of these products have been approved for any orthopedic condition.")
    assert not an.findings
    assert any(m.kind == "not-fda-approved" for m in an.mitigations)


def test_many_conditions_needs_three_groups_offered(auditor):
    offer = ("We treat osteoarthritis, multiple sclerosis and COPD with our stem cell therapy. "
             "Book a consultation with our team today, call us.")
    assert "many-conditions" in {f.category for f in analyse(auditor, offer).findings}
    listed = ("No stem cell product is approved for osteoarthritis, multiple sclerosis or COPD. "
              "Book a consultation with our team today, call us.")
    assert "many-conditions" not in {f.category for f in analyse(auditor, listed).findings}


def test_commentary_page_dismisses_descriptions(auditor):
    text = ("The FTC and the attorney general sued the clinics for deceptive marketing. "
            "The defendants allegedly told consumers that stem cells repair damaged cartilage.")
    an = analyse(auditor, text)
    assert not an.findings
    assert any(s.reason in ("commentary", "attributed") for s in an.suppressed)
