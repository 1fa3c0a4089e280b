"""The tokenizer's cache is filled piece by piece on long pages (nlp.tokenize); the page's tokens
must stay exactly those of one whole-page call on a cold tokenizer."""
import pytest
import spacy

from auditor.acquire.extract import extract
from auditor.analyse import nlp as nlpmod
from auditor.model import Document
from conftest import ROOT, SHARED


def _pages():
    files = sorted((ROOT / "samples").glob("*")) + sorted((SHARED / "samples").glob("*.txt"))
    texts = []
    for f in files:
        ctype = "text/html" if f.suffix in (".html", ".htm") else "text/plain"
        texts.append(extract(Document(target=str(f), url=str(f), content=f.read_bytes(), content_type=ctype)).text)
    assert len(texts) >= 3, "sample pages missing"
    # and all of them as one long page, where the cache matters
    return texts + ["\n\n".join(texts)]


def _cold():
    n = spacy.blank("en")
    nlpmod._add_contractions(n)
    return n.tokenizer


def _tokens(doc, shift=0):
    return [(t.text, t.idx + shift, t.whitespace_) for t in doc]


def test_pieces_tokenize_as_the_whole_page():
    tok = _cold()
    for text in _pages():
        whole = _tokens(tok(text))
        joined, at = [], 0
        for piece in nlpmod.pieces(text):
            joined += _tokens(tok(piece), at)
            at += len(piece)
        assert at == len(text)
        assert joined == whole


def test_warmed_tokenizer_gives_the_cold_tokens(monkeypatch):
    monkeypatch.setattr(nlpmod, "WARM_AT", 0)       # warm every page, short ones too
    cold = _cold()
    warm = nlpmod.build_nlp()
    for text in _pages():
        assert _tokens(nlpmod.tokenize(warm, text)) == _tokens(cold(text))


def test_special_cases_stay_special():
    # the contractions added for shouting pages are special cases: warming must keep them split
    text = ("WE DON'T PROMISE. " * 5 + "\n") * 3000
    assert len(text) >= nlpmod.WARM_AT
    doc = nlpmod.tokenize(nlpmod.build_nlp(), text)
    assert [t.text for t in doc[:4]] == ["WE", "DO", "N'T", "PROMISE"]
    assert _tokens(doc) == _tokens(_cold()(text))


if __name__ == "__main__":
    pytest.main([__file__])
