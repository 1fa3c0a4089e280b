"""The trained claim judge: the shipped model, its export, its training and its decisions.

The hard cases of red-flags.md are sentences written here (not corpus text), judged by the bundled
model as it ships; the rule layer's view of the same sentences is in test_context.py.
"""
import gzip
import json
import re

import jsonschema
import numpy
import pytest

from auditor.analyse.judge import Judge, default_model_path
from auditor.model import Page

from conftest import run_cli

sklearn = pytest.importorskip("sklearn", reason="training needs scikit-learn (pip install -e '.[test]')")


def judged(auditor, text):
    return auditor.engine.analyse(Page(url="t", text=text))


@pytest.mark.parametrize("text,category", [
    ("Satisfaction Guaranteed.", "guarantee"),
    ("FDA-Approved Clinical Trials", "fda-misstatement"),
    ("The risks are minimal to none.", "risk-minimization"),
    ("Stem cell therapy is a revolutionary approach.", "miracle-cure"),
    ("Our injections treat the cause rather than masking the symptoms.", "superiority-claim"),
    ("Stem cell injections are safer and much less risky than major surgery.", "superiority-claim"),
    ("He can run for several miles at a time after his stem cell treatment.", "testimonial"),
    ("Our patients achieved improvements in 78% of cases.", "uncited-statistic"),
])
def test_the_judge_finds_a_clinics_own_claim(auditor, text, category):
    an = judged(auditor, text)
    f = [f for f in an.findings if f.category == category]
    assert f, (an.findings, an.suppressed)
    assert f[0].model == auditor.judge.id and 0 < f[0].confidence <= 1
    assert f[0].features and all(isinstance(n, str) and isinstance(v, float) for n, v in f[0].features)
    assert f[0].text == text.strip() and text[f[0].start:f[0].end] == f[0].text


@pytest.mark.parametrize("text,category", [
    ("However, we cannot guarantee results.", "guarantee"),
    ("It should be part of a plan rather than a miracle cure.", "miracle-cure"),
    ("Be wary of clinics that guarantee results.", "guarantee"),
    ("Is stem cell therapy FDA approved?", "fda-misstatement"),
    ("The FDA has stated that none of these products have been approved for any orthopedic condition.",
     "fda-misstatement"),
    ("Some clinics claim their cells are a miracle.", "miracle-cure"),
    ("Red Flags to Watch For\nBe cautious of clinics that:\n- Guarantee specific results\n"
     "- Claim there are no side effects\n", "guarantee"),
])
def test_the_judge_dismisses_negated_warning_and_quoted_uses(auditor, text, category):
    an = judged(auditor, text)
    assert category not in {f.category for f in an.findings}, an.findings
    dismissed = [s for s in an.suppressed if s.category == category]
    if dismissed:       # a candidate the judge weighed is listed with its probability
        assert all(s.probability is not None and s.probability < 0.5 and s.model == auditor.judge.id
                   for s in dismissed)


def test_warning_list_then_the_clinics_own_guarantee(auditor):
    # on a selling page: alone, the warning list makes the whole text read as a warning page
    text = ("Renewal Stem Cell Center\nBook your free consultation today and start your stem cell treatment "
            "with our team.\nRed Flags to Watch For\nBe cautious of clinics that:\n- Guarantee specific results\n"
            "- Claim there are no side effects\nOur Clinic\nSatisfaction guaranteed.\n"
            "Call us now to schedule your exosome therapy. Prices start at $2,500.")
    an = judged(auditor, text)
    assert {s.text: s.category for s in an.suppressed}["- Guarantee specific results"] == "guarantee"
    assert [f.text for f in an.findings if f.category == "guarantee"] == ["Satisfaction guaranteed."]


def test_the_bundled_model_holds_weights_and_short_vocabulary_only(shared):
    raw = json.loads(gzip.decompress(default_model_path().read_bytes()))
    names = raw["lexical"]["vocabulary"] + (raw["page"]["vocabulary"] if raw["page"] else [])
    assert names and len(names) == len(set(names))
    # a feature is a prefix and at most two words (a word pair): no sentence can be stored; t= names
    # a phrase of the project's own candidate vocabulary (rules/candidates.yml), rid= a rule id
    for n in names:
        prefix, _, words = n.partition("=")
        assert len(words.split()) <= (6 if prefix == "t" else 1 if prefix == "rid" else 2) and len(n) <= 80, n
    # and no 5-word run of any labelled page appears in the file
    blob = " ".join(names).lower()
    texts = sorted((shared / "devset" / "texts").iterdir())[:60]
    for path in texts:
        words = re.findall(r"[a-z]+", path.read_text(encoding="utf-8", errors="replace").lower())
        for i in range(0, max(0, len(words) - 5), 7):
            assert " ".join(words[i:i + 5]) not in blob
    assert raw["trained"]["pages"] >= 300 and raw["id"].startswith("judge-")


@pytest.fixture(scope="module")
def small(shared):
    """A few dozen devset pages, prepared once: enough for the judge to learn something."""
    from auditor.analyse.corpus import load_corpora
    from auditor.analyse.training import prepare
    from auditor.pipeline import Auditor
    pages = load_corpora([shared / "devset"])
    pages = [p for i, p in enumerate(sorted(pages, key=lambda p: p.doc)) if i % 5 == 0]
    engine = Auditor(model=None).engine
    return engine, pages, prepare(engine, pages)


def test_the_exported_judge_scores_as_the_estimator(small):
    from auditor.analyse.training import fit_judge
    _, _, prepared = small
    est = fit_judge(prepared, seed=0, trees=40)
    judge = Judge(est.to_model())
    X = [s for p in prepared for s in p.samples]
    want = est.predict_proba(X)[:, 1]
    items = [(s.f, s.category) for s in X]
    got = []
    for p in prepared:          # the runtime scores one page at a time, with the page's voice
        if p.samples:
            rows, _ = judge.rows([(s.f, s.category) for s in p.samples], judge.selling(p.samples[0].page_f))
            got.extend(judge.probabilities(rows).tolist())
    assert len(got) == len(items)
    # weights are rounded to 6 significant digits in the export
    assert numpy.allclose(got, want, atol=2e-3), numpy.abs(numpy.array(got) - want).max()
    assert est.get_params()["seed"] == 0 and set(est.classes_) == {0, 1}


def test_training_is_reproducible_to_the_byte(small, tmp_path):
    from auditor.analyse.training import fit_judge, write_model
    _, pages, prepared = small
    a = write_model(fit_judge(prepared, seed=3, trees=30), tmp_path / "a.json.gz", pages, "r1")
    b = write_model(fit_judge(prepared, seed=3, trees=30), tmp_path / "b.json.gz", pages, "r1")
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes() and a == b
    model = json.loads(gzip.decompress((tmp_path / "a.json.gz").read_bytes()))
    assert model["params"]["seed"] == 3 and model["trained"]["scikit-learn"] == sklearn.__version__


def test_reports_name_the_model_and_cli_can_choose_it(tmp_path, shared):
    schema = json.loads((shared / "report.schema.json").read_text())
    page = tmp_path / "p.txt"
    page.write_text("Satisfaction guaranteed. Our exosome shots are FDA approved.", encoding="utf-8")
    bundled = json.loads(run_cli("scan", "--format", "json", page).stdout)
    assert re.fullmatch(r"judge-[0-9a-f]{12}", bundled["tool"]["model_version"])
    jsonschema.validate(bundled, schema)
    assert {f["category"] for f in bundled["pages"][0]["findings"]} >= {"guarantee", "fda-misstatement"}
    rules = json.loads(run_cli("scan", "--format", "json", "--rules-only", page).stdout)
    assert rules["tool"]["model_version"].startswith("none") and rules["pages"][0]["findings"]
    assert all(f.get("model") is None for f in rules["pages"][0]["findings"])
    jsonschema.validate(rules, schema)
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(gzip.compress(b'{"format": "something-else"}'))
    r = run_cli("scan", "--model", bad, page)
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and "not a judge model" in err and "--rules-only" in err


def test_a_conditions_list_on_a_page_that_does_not_sell_is_not_an_offer(auditor):
    quoted_offer = ("We treat osteoarthritis, multiple sclerosis and COPD with our stem cell therapy. "
                    "Book a consultation with our team today, call us.")
    letter = ("WARNING LETTER\nDear Dr. Smith:\nThe Food and Drug Administration reviewed your website and found "
              "that you market an umbilical cord product. Your website states: " + quoted_offer + "\n"
              "This product is not approved. You should take prompt action to address the violations cited in "
              "this letter. Failure to do so may result in regulatory action, including seizure and injunction.")
    clinic = ("Renewal Stem Cell Center. " + quoted_offer + " Prices start at $3,000 per injection.")
    rules_alone = auditor.engine.analyse(Page(url="t", text=letter), judge=None)
    assert "many-conditions" in {f.category for f in rules_alone.findings}      # the rule alone is fooled
    an = judged(auditor, letter)
    assert "many-conditions" not in {f.category for f in an.findings}
    gated = [s for s in an.suppressed if s.category == "many-conditions"]
    assert gated and gated[0].reason == "judge" and gated[0].probability < auditor.judge.page_selling
    assert "many-conditions" in {f.category for f in judged(auditor, clinic).findings}


def test_a_corpus_without_claims_cannot_train_and_says_why_in_one_line(tmp_path):
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("We do not guarantee results. Risks are discussed with you.\n",
                                              encoding="utf-8")
    (tmp_path / "labels.jsonl").write_text(json.dumps({"doc": "texts/a.txt", "category": "none",
                                                       "quote": "We do not guarantee results."}) + "\n",
                                           encoding="utf-8")
    r = run_cli("train", tmp_path, "-o", tmp_path / "m.json.gz")
    err = r.stderr.decode()
    assert r.returncode == 2 and "Traceback" not in err and not (tmp_path / "m.json.gz").exists()
    assert err.splitlines()[-1].startswith(f"auditor: cannot train on {tmp_path}: a judge needs both claims "
                                           "and non-claims")


def test_the_page_voice_orders_pages_without_findings_and_is_accounted_for(tmp_path):
    """Two pages with no finding: the one that sells ranks above the one that warns, by the
    selling term alone (selling_points x the judge's page voice), recorded in the breakdown;
    with the rules alone there is no such term."""
    sells = tmp_path / "sells.txt"
    sells.write_text("Book your consultation today. Our clinic offers stem cell treatments for knees "
                     "and backs. Call our friendly team to schedule your visit and ask about pricing.\n",
                     encoding="utf-8")
    warns = tmp_path / "warns.txt"
    warns.write_text("Consumer alert. Regulators advise patients to be careful with clinics that sell "
                     "unapproved stem cell products. Report concerns to the health authority.\n",
                     encoding="utf-8")
    r = run_cli("scan", "--format", "jsonl", str(sells), str(warns))
    assert r.returncode == 0, r.stderr
    a, b = [json.loads(line) for line in r.stdout.splitlines()]
    scoring_points = 1.0                       # rules/scoring.yml selling_points
    for rep in (a, b):
        page = rep["pages"][0]
        assert page["findings"] == []
        sel = page["breakdown"]["selling"]
        assert sel["points"] == round(scoring_points * sel["probability"], 2)
        assert rep["score"] == page["score"] == round(sel["points"], 1)
    assert a["pages"][0]["breakdown"]["selling"]["probability"] > b["pages"][0]["breakdown"]["selling"]["probability"]
    assert a["score"] > b["score"] and a["band"] == b["band"] == "low"
    plain = run_cli("scan", "--rules-only", "--format", "jsonl", str(sells))
    page = json.loads(plain.stdout)["pages"][0]
    assert "selling" not in page["breakdown"] and page["score"] == 0
