"""Issue 10, item 6: a report stays linear in the page it reports on.

A page without sentence punctuation used to be one sentence, and every finding carried all of it:
a 100 KB page gave a 386 MB report. The pages here are such pages, full of red-flag phrases. They
are scanned by the real CLI in child processes that run side by side, each with a time limit and a
cap on the size of file it may write, and the reports are parsed, validated and measured.
"""
import csv
import io
import json
import resource
import subprocess
import sys

import jsonschema
import pytest

from conftest import ROOT, SHARED

PHRASES = ["guaranteed results", "FDA approved", "a miracle cure", "no side effects and completely safe",
           "cures arthritis and regenerates damaged tissue", "a 95% success rate",
           "one patient said I walked again", "the best clinic in the world",
           "book now for this limited time offer", "our proprietary protocol",
           "exosome therapy and stem cell injections"]
FILL = "the team at our clinic welcomes patients and families from many towns who travel to visit us and "
SMALL, LARGE = 100_000, 2_000_000
LIMIT = 10          # a report may be at most this many times the size of its page
WRITE_CAP = 200 * 1024 * 1024

RULES_ALONE = """
import json, sys
from auditor.model import Page
from auditor.pipeline import Auditor
text = open(sys.argv[1], encoding="utf-8").read()
out = Auditor(model=None).engine.analyse(Page(sys.argv[1], text), judge=None)
print(len(out.findings), len(json.dumps([f.to_dict() for f in out.findings + out.suppressed])))
"""


def unpunctuated(size: int) -> str:
    parts, n, i = [], 0, 0
    while n < size:
        part = f"{FILL * 3}our clinic offers {PHRASES[i % len(PHRASES)]} for patients with word{i} and "
        parts.append(part)
        n += len(part)
        i += 1
    return "".join(parts)[:size]


def _cap():
    resource.setrlimit(resource.RLIMIT_FSIZE, (WRITE_CAP, WRITE_CAP))


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Every child started at once (the machine has two cores), then waited for with a deadline."""
    d = tmp_path_factory.mktemp("bounds")
    pages = {}
    for name, size in (("small", SMALL), ("large", LARGE)):
        pages[name] = d / f"{name}.txt"
        pages[name].write_text(unpunctuated(size), encoding="utf-8")
    runs = [("large", "json"), ("small", "json"), ("small", "html"), ("small", "csv"), ("small", "rules")]
    procs = {}
    for name, fmt in runs:
        out = d / f"{name}.{fmt}"
        args = ([sys.executable, "-c", RULES_ALONE, pages[name]] if fmt == "rules" else
                [sys.executable, "-m", "auditor.cli", "scan", "--format", fmt, pages[name]])
        with open(out, "wb") as fh:
            procs[name, fmt] = (subprocess.Popen(args, stdout=fh, stderr=subprocess.PIPE, cwd=ROOT,
                                                 preexec_fn=_cap), out)
    result = {}
    try:
        for key, (p, out) in procs.items():
            try:
                _, err = p.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{key} did not finish in 90 s (output so far {out.stat().st_size} bytes)")
            assert p.returncode in (0, 1), (key, p.returncode, err.decode()[-2000:])
            result[key] = out.read_bytes()
    finally:
        for p, _ in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    return pages, result


def _schema():
    path = SHARED / "report.schema.json"
    if not path.exists():
        pytest.skip("SKIPPED: ../shared/report.schema.json not present")
    return json.loads(path.read_text(encoding="utf-8"))


def test_json_report_is_linear_in_an_unpunctuated_page(reports):
    pages, result = reports
    schema = _schema()
    sizes = {}
    for name in ("small", "large"):
        text = pages[name].read_text(encoding="utf-8")
        data = result[name, "json"]
        sizes[name] = len(data)
        assert len(data) < LIMIT * len(text), (name, len(data))
        rep = json.loads(data)
        jsonschema.validate(rep, schema)
        page = rep["pages"][0]
        entries = page["findings"] + page.get("suppressed", [])
        assert entries, "the red-flag phrases were found"
        for f in entries:
            if f["start"] is None:
                continue
            # the evidence is bounded, its offsets are still the true ones, and the sentence is a
            # window that holds it, with its own offsets
            assert len(f["text"]) <= 501 and len(f["sentence"]) <= 1102
            assert text[f["start"]:f["end"]].startswith(f["text"].rstrip("…"))
            assert f["text"].rstrip("…") in f["sentence"]
            assert f["sentence_start"] <= f["start"] < f["sentence_end"]
            assert f["sentence"].strip("…") == text[f["sentence_start"]:f["sentence_end"]].strip()
            # nothing else in an entry (cues, features, note) quotes the page at length
            assert len(json.dumps(f)) < 8000
    assert sizes["large"] / sizes["small"] <= 30, sizes


def test_html_and_csv_reports_of_an_unpunctuated_page_are_bounded(reports):
    pages, result = reports
    size = len(pages["small"].read_text(encoding="utf-8"))
    html, table = result["small", "html"], result["small", "csv"]
    assert b"<html" in html.lower() and len(html) < LIMIT * size, len(html)
    rows = list(csv.DictReader(io.StringIO(table.decode("utf-8"))))
    assert rows and len(table) < LIMIT * size, len(table)
    assert max(len(r["sentence"]) for r in rows) <= 1102


def test_rules_alone_stay_linear_in_an_unpunctuated_page(reports):
    pages, result = reports
    findings, size = map(int, result["small", "rules"].split())
    assert findings > 100                      # every phrase is a finding of its own
    assert size < LIMIT * len(pages["small"].read_text(encoding="utf-8")), size


def test_an_overlong_sentence_is_cut_after_a_pause_and_a_window_holds_the_evidence():
    from auditor.analyse.evidence import window
    from auditor.analyse.nlp import MAX_SENTENCE_TOKENS, build_nlp
    text = " ".join(f"w{i}" for i in range(150)) + ", " + " ".join(f"v{i}" for i in range(300))
    doc = build_nlp()(text)
    sents = list(doc.sents)
    assert all(len(s) <= MAX_SENTENCE_TOKENS for s in sents) and len(sents) == 3
    assert sents[0].text.endswith("w149,")                  # cut at the comma, not at token 200
    start = text.index("v100")
    quote, ws, we = window(text, 0, len(text), start, start + 4)
    assert quote.startswith("…") and quote.endswith("…") and "v100" in quote
    assert ws >= start - 300 and we <= start + 4 + 300 and quote.strip("…") == text[ws:we]
