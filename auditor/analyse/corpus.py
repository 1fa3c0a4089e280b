"""Read a labelled corpus in the devset's format, for training and evaluating the judge.

A labelled folder holds `labels.jsonl` and the texts it names (paths relative to the folder),
and optionally `index-*.tsv` files (columns file, kind, source) that give each page's kind and
source URL. Label lines, as `../shared/devset/LABELING.md` defines them:

    {"doc": F, "category": C, "quote": Q}          a red flag of category C (Q occurs in F)
    {"doc": F, "category": "ambiguous", "quote": Q}  counts neither way
    {"doc": F, "category": "none", "quote": Q}     a hard negative
    {"doc": F, "category": C, "page": true}        a page-level finding C is expected
    {"doc": F, "kind": K}                          the page's kind (clinic, cautious ...)

Pages are grouped by site (the registrable domain of the source URL) so that cross-validation
never trains on one page of a site and tests on another.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..acquire.urls import site_of


class CorpusError(ValueError):
    """A labelled folder is malformed; str() is `path:line: what is wrong`."""


@dataclass
class Span:
    category: str            # a category id, "ambiguous" or "none"
    start: int
    end: int


@dataclass
class LabelledPage:
    doc: str                 # as labels.jsonl names it ("texts/d001_x.txt")
    path: Path
    text: str
    kind: str = ""           # clinic, cautious, consumer-protection, warning-letter, news
    source: str = ""
    group: str = ""          # the site: registrable domain of the source, else the file name
    spans: list[Span] = field(default_factory=list)
    page_labels: dict = field(default_factory=dict)   # category -> True (expected) or None (ambiguous)


def _index(folder: Path) -> dict[str, dict]:
    rows = {}
    for tsv in sorted(folder.glob("index-*.tsv")):
        with open(tsv, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                name = (row.get("file") or "").strip()
                if name:
                    rows[name] = row
    return rows


def load_corpus(folder: Path) -> list[LabelledPage]:
    """The labelled pages of one folder, in the order of their first label."""
    folder = Path(folder)
    labels = folder / "labels.jsonl"
    if not labels.is_file():
        raise CorpusError(f"{folder}: no labels.jsonl here (a labelled folder holds labels.jsonl and its texts)")
    index = _index(folder)
    pages: dict[str, LabelledPage] = {}
    with open(labels, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorpusError(f"{labels}:{n}: not JSON ({e.msg})") from None
            doc = r.get("doc") if isinstance(r, dict) else None
            if not isinstance(doc, str) or not doc:
                raise CorpusError(f"{labels}:{n}: a label needs a \"doc\" naming a text file")
            pg = pages.get(doc)
            if pg is None:
                path = folder / doc
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as e:
                    raise CorpusError(f"{labels}:{n}: cannot read {doc}: {e}") from None
                row = index.get(Path(doc).name, {})
                source = (row.get("source") or "").strip()
                pg = pages[doc] = LabelledPage(doc, path, text, kind=(row.get("kind") or "").strip(), source=source,
                                               group=site_of(source) if source else Path(doc).name)
            if "kind" in r:
                pg.kind = str(r["kind"])
                continue
            cat = r.get("category")
            if not isinstance(cat, str) or not cat:
                raise CorpusError(f"{labels}:{n}: a label needs a \"category\"")
            if r.get("page"):
                pg.page_labels[cat] = None if r.get("ambiguous") else True
                continue
            quote = r.get("quote")
            if not isinstance(quote, str) or not quote:
                raise CorpusError(f"{labels}:{n}: a label needs a \"quote\" (or \"page\": true)")
            i = pg.text.find(quote)
            if i < 0:
                raise CorpusError(f"{labels}:{n}: quote not found in {doc}: {quote[:60]!r}")
            pg.spans.append(Span(cat, i, i + len(quote)))
    return list(pages.values())


def load_corpora(folders) -> list[LabelledPage]:
    """Several labelled folders as one corpus (a team's reviews together with the devset)."""
    out: list[LabelledPage] = []
    for folder in folders:
        for pg in load_corpus(Path(folder)):
            pg.doc = f"{Path(folder).name}/{pg.doc}" if len(folders) > 1 else pg.doc
            out.append(pg)
    return out
