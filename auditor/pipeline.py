"""The shared pipeline: Document -> Page -> analysis -> scored PageResult -> SiteReport.

`scan`, `audit` and `batch` differ only in how they acquire documents; all of them call
`Auditor.page()` and `Auditor.site()`. The engine (and spaCy) is built once per process.
"""
from __future__ import annotations

import bisect
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional

from . import __version__
from .analyse.engine import Engine
from .acquire.extract import extract
from .model import Document, Error, PageResult, SiteReport, internal_error, now_iso
from .analyse.rules import RuleSet, load_rules
from .score import band, score_findings, site_score


class SelectionError(ValueError):
    """An id given to --select or --ignore that names no rule and no category."""


BUNDLED = "bundled"


class Auditor:
    """model: BUNDLED (the judge shipped in the package), a path to another judge model, a loaded
    Judge, or None for the rules alone. select / ignore: categories or rule ids, as ruff's."""

    def __init__(self, rules_dir: Optional[Path] = None, ruleset: Optional[RuleSet] = None, model=BUNDLED,
                 select: Iterable[str] = (), ignore: Iterable[str] = ()):
        from .analyse.judge import Judge
        self.rules = ruleset or load_rules(rules_dir)
        if model is None or isinstance(model, Judge):
            judge = model
        else:
            judge = Judge.load(None if model == BUNDLED else Path(model))
        self.judge = judge
        self.engine = Engine(self.rules, judge)
        self.weights = {r.id: r.weight for r in self.rules.rules if r.weight}
        self.select, self.ignore = set(select), set(ignore)
        unknown = sorted((self.select | self.ignore) - set(self.rule_ids()) - set(self.categories()))
        if unknown:
            raise SelectionError(
                f"unknown rule or category {', '.join(map(repr, unknown))}; categories: {', '.join(self.categories())}; "
                f"rule ids: {', '.join(self.rule_ids())}")

    def rule_ids(self) -> list[str]:
        judged = [f"judge.{c}" for c in self.categories()] if self.judge else []   # the judge's own findings
        return [r.id for r in self.rules.rules] + [f"page.{c}" for c in self.rules.page_rules] + judged

    def categories(self) -> list[str]:
        seen = dict.fromkeys(r.category for r in self.rules.rules)
        seen.update(dict.fromkeys(self.rules.page_rules))
        seen.update(dict.fromkeys(self.rules.candidates))
        return list(seen)

    def selected(self, rule: str, category: str) -> bool:
        """ruff's --select / --ignore: a rule counts when selected (or nothing is) and not ignored."""
        if self.select and rule not in self.select and category not in self.select:
            return False
        return rule not in self.ignore and category not in self.ignore

    @property
    def tool(self) -> dict:
        return {"name": "auditor", "version": __version__, "rules_version": self.rules.version,
                "model_version": self.judge.id if self.judge else "none (rules only)"}

    def page(self, doc: Document, include_text: bool = False) -> PageResult:
        pg = extract(doc)
        return self._result(pg, self.engine.analyse(pg), include_text)

    def _result(self, pg, an, include_text: bool) -> PageResult:
        if self.select or self.ignore:
            an.findings = [f for f in an.findings if self.selected(f.rule, f.category)]
            an.suppressed = [s for s in an.suppressed if self.selected(s.rule, s.category)]
        score, breakdown = score_findings(an.findings, an.mitigations, self.rules.scoring, self.weights,
                                          an.signals.get("selling"))
        breakdown["voice"] = an.signals.get("voice_counts")
        return PageResult(url=pg.url, title=pg.title, score=score, band=band(score, self.rules.scoring),
                          findings=an.findings, suppressed=an.suppressed, mitigations=an.mitigations,
                          breakdown=breakdown, meta=pg.meta, text=pg.text if include_text else None,
                          source_text=pg.text)

    def audit_site(self, target: str, docs: list[Document], errors: Iterable[Error] = (),
                   include_text: bool = False, extra: Optional[dict] = None) -> SiteReport:
        """Audit a site's pages. Blocks repeated on most of its pages (navigation, footer) are
        site-wide text: a claim in them is reported on the first page that shows it, not on every page.
        A page that trips a bug becomes an error of the site; its other pages are still audited."""
        errors = list(errors)
        pages = []
        for d in docs:
            try:
                pages.append(extract(d))
            except Exception as e:
                errors.append(internal_error(d.url, e))
        shared = _site_wide_blocks(pages)
        results, reported = [], set()
        for pg in pages:
            try:
                an = self.engine.analyse(pg)
            except Exception as e:
                errors.append(internal_error(pg.url, e))
                continue
            if shared:
                starts = [b.start for b in pg.blocks]
                kept = []
                for f in an.findings:
                    if f.start is not None and pg.blocks:
                        b = pg.blocks[max(0, bisect.bisect_right(starts, f.start) - 1)]
                        block_text = pg.text[b.start:b.end]
                        if block_text in shared:
                            key = (block_text, f.rule, f.text)
                            if key in reported:
                                continue
                            reported.add(key)
                            f.note += "; site-wide text (on most pages), reported once"
                    kept.append(f)
                an.findings = kept
            results.append(self._result(pg, an, include_text))
        rep = self.site(target, results, errors)
        rep.extra.update(extra or {})
        if shared:
            rep.extra["site_wide_blocks"] = len(shared)
        return rep

    def site(self, target: str, pages: list[PageResult], errors: Iterable[Error] = ()) -> SiteReport:
        """A site's score is the page formula applied to its distinct claims, pooled across pages:
        a footer repeated on forty pages is one claim. With no page audited there is no score
        (None, and band None), so a missing or unreachable input never reads as a clean page."""
        if not pages:
            return SiteReport(target=target, audited_at=now_iso(), score=None, band=None, pages=[],
                              errors=list(errors), tool=self.tool)
        score = site_score(pages, self.rules.scoring, self.weights)
        return SiteReport(target=target, audited_at=now_iso(), score=score, band=band(score, self.rules.scoring),
                          pages=pages, errors=list(errors), tool=self.tool)


def _site_wide_blocks(pages) -> set[str]:
    """Texts of blocks that stand on at least half of a site's pages (and on two or more)."""
    if len(pages) < 2:
        return set()
    counts: Counter = Counter()
    for pg in pages:
        counts.update({pg.text[b.start:b.end] for b in pg.blocks})
    need = max(2, (len(pages) + 1) // 2)
    return {t for t, c in counts.items() if c >= need}
