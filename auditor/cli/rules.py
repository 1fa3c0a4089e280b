"""`auditor rules`: list the rules, or check a folder of rule files and run their examples."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import main

@main.command()
@click.option("--check", "check", is_flag=True, help="Validate the rule files and run every rule's examples.")
@click.argument("rules_dir", required=False, type=click.Path(file_okay=False))
@click.option("--category", help="Only rules of this category.")
def rules(check, rules_dir, category):
    """List the rules (id, category, severity, description), or --check a folder of rule files.

    \b
    Examples:
      auditor rules
      auditor rules --check              check the bundled rules
      auditor rules --check my-rules/    check your own rule files
    """
    from ..analyse.checks import run_examples
    from ..analyse.rules import RuleError, load_rules

    try:
        rs = load_rules(Path(rules_dir) if rules_dir else None)
        from ..pipeline import Auditor
        auditor = Auditor(ruleset=rs)
    except RuleError as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    if not check:
        for r in rs.rules:
            if category and r.category != category:
                continue
            click.echo(f"{r.id:36} {r.category:20} {r.severity:8} {r.description}")
        for cat, cfg in rs.page_rules.items():
            if not category or category == cat:
                click.echo(f"{'page.' + cat:36} {cat:20} {cfg['severity']:8} {cfg['description']}")
        return
    failures, total = run_examples(auditor, category)
    for msg in failures:
        click.echo(msg)
    n_rules = len([r for r in rs.rules if not category or r.category == category])
    click.echo(f"{len(rs.files)} files, {n_rules} rules, {total} examples: "
               f"{total - len(failures)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)
