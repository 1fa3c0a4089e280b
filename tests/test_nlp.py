"""The pipeline's word table: every token gets the id of its own text."""
import numpy

from auditor.analyse.nlp import WordTable


def _table(limit=100_000):
    seen = []

    def describe(h):
        seen.append(h)
        return 0, 1, h, h
    return WordTable(describe, limit=limit), seen


def test_ids_are_stable_and_lead_back_to_the_word():
    t, seen = _table()
    words = numpy.array([10, 20, 30, 14, 10, 18, 22, 20], dtype="uint64")
    first = t.ids(words)
    assert first.tolist() == t.ids(words).tolist() == t.ids(words[::-1])[::-1].tolist()
    assert len(set(first.tolist())) == 6 and sorted(seen) == [10, 14, 18, 20, 22, 30]
    more = numpy.random.default_rng(1).integers(1, 2**63, 20_000, dtype="uint64")
    ids = t.ids(numpy.concatenate([more, words]))
    assert ids[-8:].tolist() == first.tolist()
    assert t.lower[ids].tolist() == numpy.concatenate([more, words]).tolist()


def test_past_the_limit_the_table_starts_afresh():
    t, _ = _table(limit=5)
    g = t.generation
    t.ids(numpy.arange(1, 5, dtype="uint64"))
    assert t.size == 4 and t.generation == g
    wids = t.ids(numpy.arange(10, 13, dtype="uint64"))
    assert t.generation == g + 1 and t.size == 3 and sorted(wids.tolist()) == [0, 1, 2]
