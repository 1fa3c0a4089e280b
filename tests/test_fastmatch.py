"""The regex matcher must find what spaCy's Matcher finds, for every pattern the rules compile to."""
from pathlib import Path

import pytest
from spacy.matcher import Matcher

from auditor.fastmatch import FastMatcher, compile_pattern
from conftest import ROOT, SHARED


def _texts():
    paths = sorted((ROOT / "samples").glob("*.txt"))
    paths += sorted((SHARED / "devset" / "texts").glob("*.txt"))[:30]
    paths += sorted((SHARED / "samples").glob("*.txt"))
    return [p.read_text(encoding="utf-8") for p in paths]


@pytest.mark.parametrize("name", ["targets", "context", "aux", "cond", "mitigate"])
def test_same_matches_as_spacy_matcher(auditor, name):
    engine = auditor.engine
    fast = getattr(engine, name)
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


def test_engines_sharing_the_pipeline_keep_their_own_rules(auditor, tmp_path):
    """The spaCy pipeline is built once per process; its per-word hook must follow the engine."""
    import shutil
    from auditor.engine import Engine
    from auditor.model import Page
    from auditor.rules import default_rules_dir, load_rules
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
