"""The regex matcher must find what spaCy's Matcher finds, for every pattern the rules compile to."""

import pytest
from spacy.matcher import Matcher

from auditor.analyse.fastmatch import FastMatcher, anchor_variants, compile_pattern
from conftest import ROOT, SHARED


def _texts():
    paths = sorted((ROOT / "samples").glob("*.txt"))
    paths += sorted((SHARED / "devset" / "texts").glob("*.txt"))[:30]
    paths += sorted((SHARED / "samples").glob("*.txt"))
    return [p.read_text(encoding="utf-8") for p in paths]


@pytest.mark.parametrize("name", ["main", "cond"])
def test_same_matches_as_spacy_matcher(auditor, name):
    engine = auditor.engine
    fast = getattr(engine.c, name)
    slow = Matcher(engine.nlp.vocab)
    for key, patterns, greedy in fast.source:
        slow.add(key, patterns, greedy=greedy)
    checked = 0
    for text in _texts():
        doc = engine.nlp(text)
        sents = [(s.start, s.end) for s in doc.sents]
        got = fast(doc, sents)
        want = []
        for ss, se in sents:         # patterns never cross a sentence
            want += [(k, s + ss, e + ss) for k, s, e in slow(doc[ss:se])]
        greedy = set(fast.greedy)
        # greedy keys: the same matches; other keys: the same places (spaCy also lists shorter
        # variants of a match at the same start, which the engine never uses)
        assert sorted(m for m in got if m[0] in greedy) == sorted(m for m in want if m[0] in greedy)
        assert {m[:2] for m in got if m[0] not in greedy} == {m[:2] for m in want if m[0] not in greedy}
        checked += len(want)
    assert checked > 0


def test_patterns_it_cannot_compile_go_to_spacy(auditor):
    vocab = auditor.engine.nlp.vocab
    m = FastMatcher(vocab)
    m.add("odd", [[{"IS_TITLE": True}, {"LOWER": "cells"}]])
    m.add("plain", [[{"LEMMA": "cell"}]])
    doc = auditor.engine.nlp("Stem cells. Our Stem cells are here.")
    keys = {vocab.strings[k] for k, _, _ in m(doc)}
    assert keys == {"odd", "plain"}


def test_anchor_prefers_a_rare_word():
    _, anchor, offset = compile_pattern([{"LOWER": "the"}, {"LEMMA": "fountain"}, {"LOWER": "of"}])
    assert anchor == ("LEMMA", ["fountain"]) and offset == 1


def test_optional_tokens_are_spelled_out_so_a_rare_word_anchors():
    pat = [{"LOWER": "it"}, {"LEMMA": "be"}, {"LOWER": "been", "OP": "?"}, {"LEMMA": "speculate"}]
    variants = anchor_variants(pat)
    assert variants == [[{"LOWER": "it"}, {"LEMMA": "be"}, {"LEMMA": "speculate"}],
                        [{"LOWER": "it"}, {"LEMMA": "be"}, {"LOWER": "been"}, {"LEMMA": "speculate"}]]
    assert [compile_pattern(v)[1:] for v in variants] == [(("LEMMA", ["speculate"]), 2), (("LEMMA", ["speculate"]), 3)]
    # past an unbounded token no offset is fixed: the pattern stays as it is
    wild = [{"LOWER": "the"}, {"OP": "*"}, {"LEMMA": "speculate"}]
    assert anchor_variants(wild) == [wild]


def test_engines_sharing_the_pipeline_keep_their_own_rules(auditor, tmp_path):
    """The spaCy pipeline is built once per process; its per-word hook must follow the engine."""
    import shutil
    from auditor.analyse.engine import Engine
    from auditor.model import Page
    from auditor.analyse.rules import default_rules_dir, load_rules
    d = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), d)
    (d / "guarantee.yml").unlink()
    other = Engine(load_rules(d))
    text = "Satisfaction guaranteed. Our exosome therapy is FDA approved."
    for _ in range(2):
        a = {f.category for f in auditor.engine.analyse(Page(url="a", text=text), assume_voice=True).findings}
        b = {f.category for f in other.analyse(Page(url="b", text=text), assume_voice=True).findings}
        assert "guarantee" in a and "guarantee" not in b
        assert "fda-misstatement" in a and "fda-misstatement" in b


def test_an_engine_with_patterns_only_spacy_can_match(tmp_path):
    """A rule author may write any spaCy token pattern; those go to spaCy's Matcher, which needs
    the lemmas written into the doc."""
    import shutil
    from auditor.analyse.engine import Engine
    from auditor.model import Page
    from auditor.analyse.rules import default_rules_dir, load_rules
    d = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), d)
    (d / "custom.yml").write_text("""category: miracle-cure
severity: high
confidence: 0.8
references:
  - https://example.org/guide
rules:
  - id: miracle.title-cures
    name: A capitalised word before a form of "cure"
    description: test rule in a spaCy-only pattern
    rationale: test
    patterns:
      - [{"IS_TITLE": true}, {"LEMMA": "cure"}]
    examples:
      fire:
        - Stem Cures for everyone.
        - Miracle cures today.
        - The Cure is here.
      quiet:
        - a cure is here.
        - we cure nothing.
        - no cures.
""", encoding="utf-8")
    engine = Engine(load_rules(d))
    assert engine._fallback
    engine._fallback = False              # the same engine without the lemmas written: spaCy refuses
    with pytest.raises(ValueError, match="lemmatizer"):
        engine.analyse(Page(url="c", text="Stem Cures for everyone."))
    engine._fallback = True
    found = engine.analyse(Page(url="c", text="Stem Cures for everyone."), assume_voice=True).findings
    assert "miracle.title-cures" in {f.rule for f in found}


def test_a_doc_made_before_the_word_table_was_emptied_is_mapped_again(auditor):
    nlp = auditor.engine.nlp
    m = FastMatcher(nlp.vocab)
    m.add("claim", [[{"LEMMA": "guarantee"}, {"LOWER": "results"}]])
    doc = nlp("We guarantee results.")
    table = doc.user_data["auditor_words"][0]
    table.clear()                          # as a long batch does past its limit
    nlp("Other words entirely, numbered first now.")
    assert [(nlp.vocab.strings[k], s, e) for k, s, e in m(doc)] == [("claim", 1, 3)]
