"""`auditor train` and `auditor evaluate`: build the claim judge from labelled pages, and measure
it honestly, by cross-validation grouped by site."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from . import main

FIGURES = ("precision", "recall", "f1", "macro_f1", "auc")


def _corpus(dirs):
    from ..analyse.corpus import CorpusError, load_corpora
    try:
        pages = load_corpora([Path(d) for d in dirs])
    except CorpusError as e:
        click.echo(f"auditor: {e}", err=True)
        sys.exit(2)
    if not pages:
        click.echo(f"auditor: {', '.join(dirs)}: no labelled pages", err=True)
        sys.exit(2)
    return pages


def _need_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        click.echo("auditor: training needs scikit-learn: pip install 'auditor[train]' (or pip install scikit-learn)",
                   err=True)
        sys.exit(2)


@main.command()
@click.argument("labelled_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Where to write the model [default: the judge bundled in the package].")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (training is reproducible).")
def train(labelled_dirs, output, seed):
    """Train the claim judge on labelled folders (texts plus labels.jsonl, as ../shared/devset).

    Several folders train one judge (for example the devset together with a team's exported
    reviews). The model holds vocabulary and weights, no page text.

    \b
    Examples:
      auditor train ../shared/devset
      auditor train ../shared/devset reviews/ -o my-judge.json.gz
      auditor scan --model my-judge.json.gz pages/
    """
    _need_sklearn()
    from ..analyse.judge import default_model_path
    from ..analyse.training import TrainingError, fit_judge, prepare, write_model
    from ..pipeline import Auditor

    pages = _corpus(labelled_dirs)
    t = time.monotonic()
    auditor = Auditor(model=None)
    prepared = prepare(auditor.engine, pages)
    n = sum(1 for p in prepared for y in p.y if y >= 0)
    pos = sum(1 for p in prepared for y in p.y if y == 1)
    click.echo(f"auditor: {len(pages)} pages, {n} candidates ({pos} claims); training ...", err=True)
    try:
        judge = fit_judge(prepared, seed=seed)
    except TrainingError as e:
        click.echo(f"auditor: cannot train on {', '.join(labelled_dirs)}: {e}", err=True)
        sys.exit(2)
    path = Path(output) if output else default_model_path()
    info = write_model(judge, path, pages, auditor.rules.version)
    click.echo(f"auditor: wrote {path} ({info['bytes'] / 1024:.0f} KB, model {info['id']}) "
               f"in {time.monotonic() - t:.0f} s", err=True)


@main.command()
@click.argument("labelled_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--folds", type=click.IntRange(2, 50), default=5, show_default=True, help="Cross-validation folds.")
@click.option("--rules-only", is_flag=True, help="Score the rules alone (no judge, nothing trained).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--show", is_flag=True, help="List every missed label and false alarm.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
def evaluate(labelled_dirs, folds, rules_only, as_json, show, seed):
    """Cross-validate the judge on labelled folders, folds grouped by site.

    In each fold the judge is trained without the held-out sites (the registrable domain of each
    page's source, from the folder's index-*.tsv) and audits them. Findings are matched as
    ../shared/tools/claimeval matches them: a finding must overlap a labelled quote of its category;
    `ambiguous` counts neither way; `none` and unlabelled text count as false. AUC: the chance that
    a clinic page outscores a cautious or consumer-protection page.

    \b
    Examples:
      auditor evaluate ../shared/devset
      auditor evaluate ../shared/devset --json
      auditor evaluate ../shared/devset --rules-only
    """
    from ..analyse.evaluation import cross_validate, predict_pages, score
    from ..pipeline import Auditor

    pages = _corpus(labelled_dirs)
    auditor = Auditor(model=None)
    t = time.monotonic()
    if rules_only:
        res = score(pages, predict_pages(auditor, pages, None))
    else:
        _need_sklearn()

        def progress(k, n):
            if not as_json and sys.stderr.isatty():
                click.echo(f"\rauditor: fold {k} of {n} ({time.monotonic() - t:.0f} s)", err=True, nl=k == n)
        try:
            res = cross_validate(auditor, pages, folds, progress=progress, seed=seed)
        except ValueError as e:
            click.echo(f"auditor: {e}", err=True)
            sys.exit(2)
    if as_json:
        out = {k: res[k] for k in FIGURES + ("labels", "findings", "docs")}
        out["per_category"] = res["per_category"]
        out["mode"] = "rules only" if rules_only else f"judge, {res['folds']}-fold cross-validation grouped by site"
        out["folds"] = None if rules_only else res["folds"]
        click.echo(json.dumps(out, indent=2))
        return
    fmt = lambda x: "  -  " if x is None else f"{x:5.2f}"  # noqa: E731
    click.echo(f"{'category':22} {'labels':>6} {'found':>5} {'finds':>5} {'false':>5}   prec   rec    f1")
    for c, v in res["per_category"].items():
        click.echo(f"{c:22} {v['labels']:6} {v['found']:5} {v['findings']:5} {v['false']:5}  "
                   f"{fmt(v['precision'])} {fmt(v['recall'])} {fmt(v['f1'])}")
    if show:
        for doc, cat, text in res["misses"]:
            click.echo(f"MISSED  {cat:20} {doc}: {text[:120]!r}")
        for doc, cat, text in res["false_alarms"]:
            click.echo(f"FALSE   {cat:20} {doc}: {text[:120]!r}")
    how = "rules only" if rules_only else f"{res['folds']}-fold cross-validation grouped by site"
    if res["auc"] is not None:
        click.echo(f"page ranking AUC (clinic above cautious/consumer-protection): {res['auc']:.3f}")
    click.echo(f"overall ({how}): precision {res['precision']:.3f} recall {res['recall']:.3f} F1 {res['f1']:.3f} "
               f"(macro F1 {res['macro_f1']:.3f}) over {res['docs']} texts")
