"""A broken rule file fails loudly with path:line: what is wrong (vale-style)."""
import shutil
from pathlib import Path

import pytest

from auditor.analyse.rules import RuleError, default_rules_dir, load_rules
from conftest import run_cli

GOOD_RULE = """\
category: guarantee
severity: high
references: [https://example.org/source]
rules:
  - id: guarantee.test
    description: test rule
    rationale: because
    patterns:
      - guarantee result
    examples:
      fire: [We guarantee results., Results are what we guarantee results for., guaranteed result]
      quiet: [No guarantee., Nothing here., Be wary of clinics that guarantee results.]
"""


def _rules_dir(tmp_path: Path, name: str, text: str) -> Path:
    d = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), d)
    for f in d.glob("*.yml"):
        if f.name not in ("context.yml", "scoring.yml", "page.yml", "mitigations.yml"):
            f.unlink()
    (d / name).write_text(text, encoding="utf-8")
    return d


@pytest.mark.parametrize("mutation,line,message", [
    (("severity: high\n", "severity: huge\n"), 2, "severity must be one of"),
    (("  - id: guarantee.test\n", "  - id: Guarantee Test\n"), 5, "dotted lowercase"),
    (("      - guarantee result\n", "      - guarantee =a|b\n"), 9, "mixes =exact and lemma"),
    (("    rationale: because\n", ""), 5, "missing or empty 'rationale'"),
    (("      quiet: [No guarantee., Nothing here., Be wary of clinics that guarantee results.]\n",
      "      quiet: [No guarantee.]\n"), 12, "examples.quiet needs at least three"),
    (("category: guarantee\n", "category: guarantees\n"), 1, "unknown category"),
    (("    patterns:\n", "    patterns:\n      - [{LOWER: {BOGUS: 1}}]\n"), 9, "bad token pattern"),
    (("rules:\n", "rules:\n  - id: a.b\n    nonsense: 1\n"), 6, "unknown key 'nonsense'"),
    (("      - guarantee result\n", "      - guarantee _{9,2} result\n"), 9, "operator {9,2}: at least 9 but at most 2"),
    (("      - guarantee result\n", "      - guarantee result\n      - [{LEMMA: guarantee}, {OP: '{5,1}'}]\n"), 10,
     "operator {5,1}"),
    (("      - guarantee result\n", "      - guarantee result\n      - [{LOWER: {REGEX: '(unclosed'}}]\n"), 10,
     "bad regular expression '(unclosed'"),
    (("      - guarantee result\n", "      - guarantee result\n      - [{LOWER: {REGEX: '^(a+)+$'}}]\n"), 10,
     "regular expression '^(a+)+$' repeats a group that holds a quantifier"),
    (("      - guarantee result\n", "      - guarantee result\n      - [{TEXT: {REGEX: '(x|y*)*z'}}]\n"), 10,
     "exponential time"),
])
def test_bad_rule_file_reports_path_and_line(tmp_path, mutation, line, message):
    from auditor.analyse.engine import Engine
    text = GOOD_RULE.replace(*mutation)
    d = _rules_dir(tmp_path, "bad.yml", text)
    with pytest.raises(RuleError) as e:
        Engine(load_rules(d))
    assert e.value.path.endswith("bad.yml")
    assert e.value.line == line, str(e.value)
    assert message in str(e.value)
    assert str(e.value).startswith(f"{e.value.path}:{line}: ")


def test_yaml_syntax_error_reports_line(tmp_path):
    d = _rules_dir(tmp_path, "bad.yml", GOOD_RULE + "  - id: [unclosed\n")
    with pytest.raises(RuleError) as e:
        load_rules(d)
    assert "bad.yml:" in str(e.value) and "YAML" in str(e.value)


def test_rules_check_cli_on_good_and_bad_folders(tmp_path):
    good = _rules_dir(tmp_path / "g", "mine.yml", GOOD_RULE)
    r = run_cli("rules", "--check", good)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert b"0 failed" in r.stdout
    # an example that does not behave is reported with its file and line
    bad = _rules_dir(tmp_path / "b", "mine.yml", GOOD_RULE.replace("fire: [We guarantee results.",
                                                                     "fire: [Nothing at all here."))
    r = run_cli("rules", "--check", bad)
    assert r.returncode == 1
    assert b"mine.yml:5: guarantee.test: example should fire: 'Nothing at all here.'" in r.stdout


def test_bundled_rules_check_passes():
    r = run_cli("rules", "--check")
    assert r.returncode == 0, r.stdout.decode()[-2000:]
    r = run_cli("rules")
    listed = r.stdout.decode()
    for rid in ("guarantee.outcome", "fda.approved-trial", "page.many-conditions"):
        assert rid in listed


def test_rules_check_refuses_a_regex_that_backtracks_exponentially(tmp_path):
    """^(a+)+$ passed `rules --check`, then a 26-character token took seconds per page."""
    import time
    rule = GOOD_RULE.replace("      - guarantee result\n",
                             "      - guarantee result\n      - [{LOWER: {REGEX: '^(a+)+$'}}]\n")
    d = _rules_dir(tmp_path, "mine.yml", rule)
    r = run_cli("rules", "--check", d)
    assert r.returncode == 2, r.stdout.decode() + r.stderr.decode()
    assert f"{d / 'mine.yml'}:10: regular expression '^(a+)+$'" in r.stderr.decode()
    page = tmp_path / "token.txt"
    page.write_text("a" * 25 + "b\n", encoding="utf-8")
    t0 = time.monotonic()
    r = run_cli("scan", "--rules", d, page)
    assert r.returncode == 2 and time.monotonic() - t0 < 30
    assert r.stderr.decode().count("\n") == 1 and "mine.yml:10:" in r.stderr.decode()
    # bounded nesting and a possessive inner part are accepted (and still match)
    from auditor.model import Document
    from auditor.pipeline import Auditor
    ok = GOOD_RULE.replace("      - guarantee result\n",
                           "      - guarantee result\n      - [{LOWER: {REGEX: '^(a++)+$'}}]\n"
                           "      - [{LOWER: {REGEX: '^(\\d{1,3}x){3}$'}}]\n")
    mine = Auditor(_rules_dir(tmp_path / "ok", "mine.yml", ok), model=None)   # the rule layer alone
    text = "a" * 25 + "b aaaa 1x22x333x\n"
    t0 = time.monotonic()
    found = mine.page(Document(target="t", url="t", text=text)).findings
    assert sorted(f.text for f in found) == ["1x22x333x", "aaaa"] and time.monotonic() - t0 < 5
