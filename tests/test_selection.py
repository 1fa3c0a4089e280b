"""--select / --ignore / --baseline (as ruff and bandit), `rules show` and `rules --json`, and the
terminal summary on a terminal and piped, through the real CLI."""
import json
import re
import os
import sys

import pytest

from conftest import ROOT, run_cli

SAMPLE = ROOT / "samples" / "clinic-renewal.html"


def _cats(stdout):
    return {f["category"] for p in json.loads(stdout)["pages"] for f in p["findings"]}


def _rules(stdout):
    return {f["rule"] for p in json.loads(stdout)["pages"] for f in p["findings"]}


def test_select_and_ignore_change_what_is_reported(tmp_path):
    full = run_cli("scan", "-f", "json", SAMPLE)
    every = _cats(full.stdout)
    assert {"guarantee", "fda-misstatement", "testimonial"} <= every
    sel = run_cli("scan", "-f", "json", "--select", "guarantee,fda.approved-therapy", SAMPLE)
    assert sel.returncode == 0, sel.stderr.decode()
    assert _rules(sel.stdout) == {"guarantee.outcome", "fda.approved-therapy"}
    ign = run_cli("scan", "-f", "json", "--ignore", "guarantee", "--ignore", "testimonial", SAMPLE)
    assert _cats(ign.stdout) == every - {"guarantee", "testimonial"}
    assert json.loads(ign.stdout)["score"] <= json.loads(full.stdout)["score"]
    assert json.loads(sel.stdout)["score"] < json.loads(full.stdout)["score"]
    # the config file's [rules], and a flag replacing it
    cfg = tmp_path / "c.toml"
    cfg.write_text('[rules]\nselect = ["testimonial"]\n', encoding="utf-8")
    assert _cats(run_cli("scan", "-f", "json", "--config", cfg, SAMPLE).stdout) == {"testimonial"}
    assert _cats(run_cli("scan", "-f", "json", "--config", cfg, "--select", "guarantee", SAMPLE).stdout) == {"guarantee"}


def test_unknown_ids_are_an_error_that_lists_the_valid_ones(tmp_path):
    r = run_cli("scan", "--select", "guarantees", SAMPLE)
    assert r.returncode == 2 and r.stdout == b""
    err = r.stderr.decode().strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("auditor: unknown rule or category 'guarantees'; categories: ")
    assert "guarantee," in err and "guarantee.outcome" in err and "page.many-conditions" in err
    assert run_cli("audit", "--ignore", "nope", "http://127.0.0.1:9/").returncode == 2
    bad = tmp_path / "c.toml"
    bad.write_text('[rules]\nselect = "guarantee"\n', encoding="utf-8")
    r = run_cli("scan", "--config", bad, SAMPLE)
    assert r.returncode == 2
    assert r.stderr.decode() == f"auditor: bad configuration: {bad}: rules.select = 'guarantee': input should be a valid list\n"


def test_baseline_reports_only_new_findings(tmp_path):
    page = tmp_path / "clinic.txt"
    page.write_text("Our stem cell therapy is a revolutionary approach. Satisfaction guaranteed.\n", encoding="utf-8")
    base = tmp_path / "baseline.json"
    assert run_cli("scan", "-f", "json", "-o", base, page).returncode == 0
    assert {"miracle-cure", "guarantee"} <= _cats(base.read_text(encoding="utf-8"))
    page.write_text("Our stem cell therapy is a revolutionary approach. Satisfaction guaranteed. "
                    "Our exosome therapy is FDA approved.\n", encoding="utf-8")
    r = run_cli("scan", "-f", "json", "--baseline", base, "--fail-on", "critical", page)
    rep = json.loads(r.stdout)
    assert [f["text"] for p in rep["pages"] for f in p["findings"]] == ["Our exosome therapy is FDA approved."]
    assert rep["baseline"]["known_findings_left_out"] >= 2
    assert r.returncode == 1                                       # the new finding is critical
    page.write_text("Our stem cell therapy is a revolutionary approach. Satisfaction guaranteed.\n", encoding="utf-8")
    quiet = run_cli("scan", "-f", "json", "--baseline", base, "--fail-on", "low", page)
    assert quiet.returncode == 0 and json.loads(quiet.stdout)["pages"][0]["findings"] == []
    left = json.loads(quiet.stdout)
    # nothing new: only the page-voice term (at most 1 point) is left of the score
    assert left["score"] == round(left["pages"][0]["breakdown"].get("selling", {}).get("points", 0.0), 1) <= 1
    (tmp_path / "junk.json").write_text("{not json", encoding="utf-8")
    r = run_cli("scan", "--baseline", tmp_path / "junk.json", page)
    assert r.returncode == 2 and "not a JSON report" in r.stderr.decode()


def test_rules_show_and_json():
    r = run_cli("rules", "show", "guarantee.outcome")
    assert r.returncode == 0
    out = r.stdout.decode()
    for needle in ("guarantee.outcome: Guaranteed outcome or satisfaction", "Why it matters:", "References:",
                   "https://www.ftc.gov/", "Examples it flags:", "  - Satisfaction Guaranteed.",
                   "Examples it leaves alone:", "Patterns:"):
        assert needle in out, needle
    page = run_cli("rules", "show", "page.many-conditions").stdout.decode()
    assert "one therapy offered for conditions" in page.lower()
    data = json.loads(run_cli("rules", "--json").stdout)
    ids = {e["id"] for e in data["rules"]}
    assert {"guarantee.outcome", "page.missing-risk-disclosure"} <= ids and data["rules_version"]
    assert all(e["rationale"] and e["references"] for e in data["rules"])
    one = json.loads(run_cli("rules", "show", "--json", "fda.exempt").stdout)
    assert one["id"] == "fda.exempt" and one["category"] == "fda-misstatement"
    for args, needle in ((["rules", "--category", "guarantees"], "unknown category 'guarantees'; categories: "),
                         (["rules", "show", "guarantee.outcom"], "did you mean guarantee.outcome")):
        r = run_cli(*args)
        assert r.returncode == 2 and needle in r.stderr.decode() and r.stdout == b""


def test_terminal_summary_is_plain_when_piped_and_coloured_on_a_terminal(tmp_path):
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text("We do not guarantee results.\n", encoding="utf-8")
    two.write_text("Satisfaction guaranteed. Risks and side effects are discussed at your consultation.\n",
                   encoding="utf-8")
    piped = run_cli("scan", SAMPLE, one, two).stdout.decode()
    assert "\x1b[" not in piped
    sample = json.loads(run_cli("scan", "-f", "json", SAMPLE).stdout)          # the same page, as JSON
    n = len(sample["pages"][0]["findings"])
    assert n > 1 and f"score {sample['score']:g} ({sample['band']}), {n} findings" in piped
    assert re.search(r"score (0|0\.[0-9]|1) \(low\), 0 findings", piped)   # at most the page-voice point
    small = json.loads(run_cli("scan", "-f", "json", two).stdout)
    assert f"score {small['score']:g} (low), 1 finding: guarantee 1" in piped     # plurals agree
    assert "(1 match dismissed by context" in piped and " 1 matches" not in piped
    assert piped.rstrip().splitlines()[-1].startswith("produced by auditor ")
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    out = pexpect.run(f"{sys.executable} -m auditor.cli scan {SAMPLE}", cwd=str(ROOT), env=env, timeout=60,
                      encoding="utf-8")
    assert "\x1b[" in out                                            # colour by severity
    assert "critical" in out and "fda.approved-therapy" in out
