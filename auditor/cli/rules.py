"""`auditor rules`: list the rules, show one, or check a folder of rule files and run their examples."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import main


def _load(rules_dir, engine: bool = False):
    """The rule set, and (only when examples are to be run) an engine built from it: listing and
    showing rules need no spaCy pipeline."""
    from ..analyse.rules import RuleError, load_rules
    try:
        rs = load_rules(Path(rules_dir) if rules_dir else None)
        if not engine:
            return rs, None
        from ..pipeline import Auditor
        return rs, Auditor(ruleset=rs)
    except RuleError as e:
        click.echo(str(e), err=True)
        sys.exit(2)


def _entries(rs) -> list[dict]:
    """Every rule, the page-level ones included, as plain data."""
    out = [{"id": r.id, "name": r.name, "category": r.category, "severity": r.severity, "confidence": r.confidence,
            "description": r.description, "rationale": " ".join(r.rationale.split()), "references": r.references,
            "examples": r.examples, "patterns": [p if isinstance(p, str) else json.dumps(p) for p in r.patterns],
            "file": r.where, "kind": "passage"} for r in rs.rules]
    for cat, cfg in rs.page_rules.items():
        out.append({"id": f"page.{cat}", "name": cfg.get("name", cat), "category": cat, "severity": cfg["severity"],
                    "confidence": cfg.get("confidence"), "description": cfg["description"],
                    "rationale": " ".join(str(cfg["rationale"]).split()), "references": list(cfg["references"]),
                    "examples": cfg.get("examples", {}), "patterns": [], "file": "page.yml", "kind": "page"})
    return out


def _check_category(entries, category):
    cats = list(dict.fromkeys(e["category"] for e in entries))
    if category and category not in cats:
        click.echo(f"auditor: unknown category {category!r}; categories: {', '.join(cats)}", err=True)
        sys.exit(2)


@main.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--check", "check", is_flag=True, help="Validate the rule files and run every rule's examples.")
@click.argument("args", nargs=-1, metavar="[RULES_DIR | show ID]")
@click.option("--rules", "rules_opt", type=click.Path(file_okay=False, exists=True),
              help="A folder of rule files (for `show`; the same as RULES_DIR).")
@click.option("--category", help="Only rules of this category.")
@click.option("--json", "as_json", is_flag=True, help="Print the rules as JSON (with rationale, references, examples).")
def rules(check, args, rules_opt, category, as_json):
    """List the rules (id, category, severity, description), show one, or --check a folder of rule files.

    \b
    Examples:
      auditor rules
      auditor rules --category guarantee
      auditor rules show guarantee.outcome   description, rationale, references, examples
      auditor rules --json
      auditor rules --check              check the bundled rules
      auditor rules --check my-rules/    check your own rule files
    """
    if args and args[0] == "show":
        if len(args) != 2:
            raise click.UsageError("write `auditor rules show ID` (one rule id or category)")
        return _show(args[1], rules_opt, as_json)
    if len(args) > 1:
        raise click.UsageError(f"one RULES_DIR at most, got {len(args)} arguments")
    rules_dir = args[0] if args else rules_opt
    if rules_dir and not Path(rules_dir).is_dir():
        raise click.BadParameter(f"{rules_dir!r} is not a folder of rule files", param_hint="RULES_DIR")
    from ..analyse.checks import run_examples
    rs, auditor = _load(rules_dir, engine=check)
    entries = _entries(rs)
    _check_category(entries, category)
    if not check:
        chosen = [e for e in entries if not category or e["category"] == category]
        if as_json:
            click.echo(json.dumps({"rules_version": rs.version, "rules": chosen}, indent=2, ensure_ascii=False))
            return
        for e in chosen:
            click.echo(f"{e['id']:36} {e['category']:20} {e['severity']:8} {e['description']}")
        return
    failures, total = run_examples(auditor, category)
    for msg in failures:
        click.echo(msg)
    n_rules = len([r for r in rs.rules if not category or r.category == category])
    click.echo(f"{len(rs.files)} files, {n_rules} rules, {total} examples: "
               f"{total - len(failures)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


def _show(rule_id, rules_dir, as_json):
    """One rule (or a category's rules): description, rationale, references, examples, patterns."""
    rs, _ = _load(rules_dir)
    entries = _entries(rs)
    chosen = [e for e in entries if e["id"] == rule_id] or [e for e in entries if e["category"] == rule_id]
    if not chosen:
        import difflib
        near = difflib.get_close_matches(rule_id, [e["id"] for e in entries] + [e["category"] for e in entries], 3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        click.echo(f"auditor: no rule or category {rule_id!r}{hint}; `auditor rules` lists them", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(chosen[0] if len(chosen) == 1 else chosen, indent=2, ensure_ascii=False))
        return
    for n, e in enumerate(chosen):
        if n:
            click.echo("")
        click.echo(f"{e['id']}: {e['name']}")
        click.echo(f"  category {e['category']}, severity {e['severity']}, confidence {e['confidence']}  ({e['file']})")
        click.echo(f"\n  {e['description']}")
        click.echo("\nWhy it matters:")
        click.echo(click.wrap_text(e["rationale"], 100, initial_indent="  ", subsequent_indent="  "))
        if e["references"]:
            click.echo("\nReferences:")
            for ref in e["references"]:
                click.echo(f"  {ref}")
        for kind, label in (("fire", "Examples it flags"), ("quiet", "Examples it leaves alone")):
            if e["examples"].get(kind):
                click.echo(f"\n{label}:")
                for ex in e["examples"][kind]:
                    click.echo(f"  - {ex}")
        if e["patterns"]:
            click.echo("\nPatterns:")
            for p in e["patterns"]:
                click.echo(f"  {p}")
