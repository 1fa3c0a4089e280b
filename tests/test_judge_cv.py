"""The judge's real bar: cross-validated by site on ../shared/devset (trafilatura-style eval gate).

`auditor evaluate` trains a judge per fold without the held-out sites and audits them. These floors
pin the figures reached (2026-12-04: F1 0.517, precision 0.574, recall 0.470, AUC 0.918 since the
page-voice term of the score, 0.860 before; macro F1 0.513; the rules alone 0.426, 0.538, 0.353,
0.715, 0.450), a little below, so that a regression fails. The AUC floor is the issue's target
(0.90); F1 and precision are below theirs (0.58, 0.65): raising them is the work that remains.
Lowering one is a conscious act.
"""
import json

import pytest

from conftest import run_cli

pytest.importorskip("sklearn", reason="the judge is trained per fold: needs scikit-learn")

FLOORS = {"f1": 0.50, "precision": 0.56, "auc": 0.90, "macro_f1": 0.48}
RULES_ONLY = {"f1": 0.42, "precision": 0.53, "auc": 0.70}


@pytest.fixture(scope="module")
def cv(shared):
    r = run_cli("evaluate", shared / "devset", "--folds", "5", "--json")
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


def test_cross_validated_floors(cv):
    assert set(cv) >= {"precision", "recall", "f1", "macro_f1", "auc", "per_category"}
    low = {k: round(cv[k], 3) for k, floor in FLOORS.items() if cv[k] < floor}
    assert not low, f"below the floors {FLOORS}: {low}"


def test_no_category_with_ten_labels_sits_at_zero(cv):
    zero = [c for c, v in cv["per_category"].items() if v["labels"] >= 10 and not v["f1"]]
    assert not zero, zero


def test_the_judge_beats_the_rules_it_started_from(cv, shared):
    r = run_cli("evaluate", shared / "devset", "--rules-only", "--json")
    rules = json.loads(r.stdout)
    assert all(rules[k] >= v for k, v in RULES_ONLY.items()), rules
    assert cv["f1"] > rules["f1"] + 0.05 and cv["auc"] > rules["auc"] + 0.1
