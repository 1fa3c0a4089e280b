"""Every rule's inline examples, one test each (sqlfluff-style): `pytest -k guarantee` runs one category."""
import pytest

from auditor.analyse.checks import check_example, iter_examples
from auditor.analyse.rules import CATEGORIES, load_rules

RULES = load_rules()
CASES = [pytest.param(r, kind, text, id=f"{r.category}-{r.id}-{kind}-{i}")
         for i, (r, kind, text) in enumerate(iter_examples(RULES))]


@pytest.mark.parametrize("rule,kind,text", CASES)
def test_rule_example(auditor, rule, kind, text):
    assert check_example(auditor, rule, kind, text) is None, check_example(auditor, rule, kind, text)


def test_every_category_has_rules_with_three_fire_and_three_quiet_examples():
    for cat in CATEGORIES:
        rules = [r for r in RULES.rules if r.category == cat]
        assert rules, f"no rule for category {cat}"
        assert sum(len(r.examples["fire"]) for r in rules) >= 3, cat
        assert sum(len(r.examples["quiet"]) for r in rules) >= 3, cat


def test_red_flags_catalog_categories_match_the_rules():
    """Category ids are a contract with ../shared/red-flags.md."""
    import re
    from conftest import SHARED
    path = SHARED / "red-flags.md"
    if not path.exists():
        pytest.skip("SKIPPED: ../shared/red-flags.md not present")
    ids = set(re.findall(r"^\| `([a-z-]+)` \|", path.read_text(encoding="utf-8"), re.M))
    from auditor.analyse.rules import PAGE_CATEGORIES
    assert ids == set(CATEGORIES) | set(PAGE_CATEGORIES)
