"""`auditor scan` end to end: formats, schema, offsets, exit codes and bad input."""
import csv
import io
import json

import jsonschema
import pytest

from conftest import ROOT, SHARED, run_cli

SAMPLES = ROOT / "samples"
SCHEMA_PATH = SHARED / "report.schema.json"


def _schema():
    if not SCHEMA_PATH.exists():
        pytest.skip("SKIPPED: ../shared/report.schema.json not present")
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def test_jsonl_validates_and_offsets_index_the_text(tmp_path):
    schema = _schema()
    files = sorted(SAMPLES.glob("*"))
    r = run_cli("scan", "--format", "jsonl", "--include-text", *files)
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    assert len(lines) == len(files)
    for f, line in zip(files, lines):
        rep = json.loads(line)
        jsonschema.validate(rep, schema)
        assert rep["target"] == str(f)          # input order kept
        page = rep["pages"][0]
        text = page["text"]
        if f.suffix == ".txt":
            assert text == f.read_text(encoding="utf-8")
        for fi in page["findings"]:
            if fi["start"] is not None:
                assert text[fi["start"]:fi["end"]] == fi["text"]
                assert fi["text"] in fi["sentence"]
            assert fi["rule"] and fi["category"] and 0 < fi["confidence"] <= 1


def test_clinic_sample_outranks_warning_pages():
    r = run_cli("scan", "--format", "jsonl", *sorted(SAMPLES.glob("*")))
    reps = {json.loads(l)["target"].split("/")[-1]: json.loads(l) for l in r.stdout.decode().splitlines()}
    clinic = reps["clinic-renewal.html"]
    assert clinic["band"] in ("high", "severe")
    cats = {f["category"] for f in clinic["pages"][0]["findings"]}
    assert {"guarantee", "fda-misstatement", "miracle-cure", "risk-minimization", "unapproved-product",
            "pressure-sales", "many-conditions"} <= cats
    for other in ("consumer-warning.html", "cautious-orthopaedics.txt"):
        assert reps[other]["score"] < 15 < clinic["score"], other
    # the consumer page uses the same words; the report keeps them as dismissed, with the cue
    sup = reps["consumer-warning.html"]["pages"][0]["suppressed"]
    assert any(s["category"] == "guarantee" and s["reason"] == "warning" and s["cue"]["text"] for s in sup)
    mits = {m["kind"] for m in reps["cautious-orthopaedics.txt"]["pages"][0]["mitigations"]}
    assert {"not-fda-approved", "experimental", "results-vary", "risks-described", "citation"} <= mits


def test_html_extraction_leaves_out_hidden_script_and_comments():
    r = run_cli("scan", "--format", "json", "--include-text", SAMPLES / "clinic-renewal.html")
    page = json.loads(r.stdout)["pages"][0]
    text = page["text"]
    assert "cure everything" not in text          # display:none
    assert "tracking" not in text                  # script
    assert "results not typical" not in text       # comment
    assert page["title"].startswith("Renewal Regenerative Institute")
    assert "Revolutionary stem cell" in text       # meta description
    # every list item is its own segment: no finding's sentence runs across two items
    for f in page["findings"]:
        if f["sentence"]:
            assert "\n" not in f["sentence"]
    regions = {f["region"] for f in page["findings"]}
    assert {"main", "header"} <= regions


@pytest.mark.parametrize("fmt", ["json", "markdown", "csv", "terminal"])
def test_formats(fmt, tmp_path):
    out = tmp_path / f"report.{fmt}"
    r = run_cli("scan", "--format", fmt, "--output", out, SAMPLES / "clinic-renewal.html")
    assert r.returncode == 0 and r.stdout == b""
    body = out.read_text(encoding="utf-8")
    if fmt == "json":
        jsonschema.validate(json.loads(body), _schema())
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(body)))
        assert rows and {"category", "rule", "severity", "text", "start", "end"} <= set(rows[0])
        assert any(r["category"] == "fda-misstatement" for r in rows)
    elif fmt == "markdown":
        assert body.startswith("# Audit of") and "### fda-misstatement" in body
        assert "rationale:" in body and "reference: https://" in body
        assert "Dismissed matches" not in body or "cue:" in body
    else:
        assert "fda.approved-therapy" in body and "severe" in body


def test_fail_on_exit_codes(tmp_path):
    clinic = SAMPLES / "clinic-renewal.html"
    assert run_cli("scan", "--fail-on", "critical", clinic).returncode == 1
    assert run_cli("scan", "--fail-on", "critical", SAMPLES / "consumer-warning.html").returncode == 0
    assert run_cli("scan", clinic).returncode == 0


def test_stdin_is_audited():
    r = run_cli("scan", "--format", "json", "-", stdin=b"Satisfaction guaranteed. Our exosome shots are FDA approved.")
    rep = json.loads(r.stdout)
    assert {f["category"] for f in rep["pages"][0]["findings"]} >= {"guarantee", "fda-misstatement"}


def test_bad_inputs_get_one_line_errors_and_the_rest_is_audited(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (tmp_path / "latin1.txt").write_bytes("Satisfaction guaranteed. Caf\u00e9".encode("latin-1"))
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(50 * 1024 * 1024)
    (tmp_path / "emptydir").mkdir()
    good = tmp_path / "good.txt"
    good.write_text("Satisfaction guaranteed.", encoding="utf-8")
    inputs = [tmp_path / "missing.txt", tmp_path / "empty.txt", tmp_path / "binary.txt",
              tmp_path / "latin1.txt", big, tmp_path / "emptydir", good]
    r = run_cli("scan", "--format", "jsonl", *inputs)
    assert r.returncode == 2
    err = r.stderr.decode().splitlines()
    assert len(err) == 6, err
    assert "no such file" in err[0]
    assert "empty file" in err[1]
    assert "binary file" in err[2]
    assert "not valid UTF-8 at byte 28 (0xe9)" in err[3] and "--encoding-errors replace" in err[3]
    assert "50.0 MB is larger than the 10.0 MB limit" in err[4] and "--max-size" in err[4]
    assert "holds no .txt" in err[5]
    reps = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert len(reps) == len(inputs)                                   # one line per input, in order
    assert all(rep["errors"] for rep in reps[:-1])
    assert reps[-1]["pages"][0]["findings"][0]["category"] == "guarantee"
    # asked to, undecodable bytes are replaced and audited; the limit is configurable
    r = run_cli("scan", "--format", "jsonl", "--encoding-errors", "replace", "--max-size", "60MB",
                tmp_path / "latin1.txt")
    assert r.returncode == 0 and "guarantee" in r.stdout.decode()


def test_folder_is_scanned_recursively(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.html").write_text("<p>Satisfaction guaranteed.</p>", encoding="utf-8")
    (tmp_path / "a" / "notes.bin").write_bytes(b"\x00")
    r = run_cli("scan", "--format", "jsonl", tmp_path)
    reps = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert [rep["target"].endswith("deep.html") for rep in reps] == [True]


def test_usage_errors_exit_2():
    assert run_cli("scan").returncode == 2
    assert run_cli("scan", "--format", "pdf", "x").returncode == 2
    assert run_cli("scan", "--max-size", "lots", "x").returncode == 2
