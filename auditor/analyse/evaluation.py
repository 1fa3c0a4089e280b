"""Score findings against labelled pages, with the matching of `../shared/tools/claimeval`.

- A labelled red flag is found when some finding of its category overlaps its quote (a page-level
  label: when the page has a finding of that category).
- A finding is right when it overlaps a labelled quote of its category; when it overlaps only an
  `ambiguous` quote it counts neither way; anything else (a `none` quote, unlabelled text) is a
  false alarm. A page-level finding is right when the page carries that page label, and is not
  counted when the label is marked ambiguous.
- Precision, recall and F1 are pooled over categories; macro F1 averages the categories that have
  labels; the AUC is the chance that a clinic page outscores a cautious or consumer-protection page.

Cross-validation (`cross_validate`) groups pages by site, so a fold never trains on one page of a
site and tests on another.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

PAGE_LEVEL = {"many-conditions", "missing-risk-disclosure"}
NEGATIVE_KINDS = {"cautious", "consumer-protection"}


@dataclass
class PagePrediction:
    """What the auditor said of one labelled page: (category, start, end) findings (start None for
    a page-level finding) and the page's score."""

    findings: list
    score: float


def auc(pos, neg):
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def score(pages, predictions) -> dict:
    """claimeval's figures for predictions (one PagePrediction per labelled page, in order)."""
    tp_lab, fn_lab, tp_find, fp_find = (defaultdict(int) for _ in range(4))
    misses, wrongs = [], []
    pos, neg = [], []
    for pg, pred in zip(pages, predictions):
        if pg.kind == "clinic":
            pos.append(pred.score)
        elif pg.kind in NEGATIVE_KINDS:
            neg.append(pred.score)
        labs = [(sp.category, sp.start, sp.end) for sp in pg.spans]
        labs += [(c if ok else c + "?", None, None) for c, ok in pg.page_labels.items()]
        found = pred.findings
        for cat, s, e in labs:
            if cat in ("ambiguous", "none") or cat.endswith("?"):
                continue
            if s is None:
                hit = any(c == cat for c, _, _ in found)
            else:
                hit = any(c == cat and fs is not None and fs < e and s < fe for c, fs, fe in found)
            (tp_lab if hit else fn_lab)[cat] += 1
            if not hit:
                misses.append((pg.doc, cat, pg.text[s:e] if s is not None else "(page-level)"))
        for cat, fs, fe in found:
            if cat in PAGE_LEVEL and fs is None:
                if any(c == cat + "?" for c, _, _ in labs):
                    continue
                ok = any(c == cat and s is None for c, s, _ in labs)
            elif fs is None:
                ok = False
            else:
                over = [c for c, s, e in labs if s is not None and s < fe and fs < e]
                if "ambiguous" in over and cat not in over:
                    continue
                ok = cat in over
            (tp_find if ok else fp_find)[cat] += 1
            if not ok:
                wrongs.append((pg.doc, cat, pg.text[fs:fe] if fs is not None else "(page-level)"))
    cats = sorted(set(tp_lab) | set(fn_lab) | set(tp_find) | set(fp_find))
    per, T = {}, defaultdict(int)
    f1s = []
    for c in cats:
        tl, fl, tf, ff = tp_lab[c], fn_lab[c], tp_find[c], fp_find[c]
        p = tf / (tf + ff) if tf + ff else None
        r = tl / (tl + fl) if tl + fl else None
        f1 = 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)
        per[c] = {"labels": tl + fl, "found": tl, "findings": tf + ff, "false": ff,
                  "precision": p, "recall": r, "f1": f1}
        if tl + fl:
            f1s.append(f1 or 0.0)
        T["tl"] += tl
        T["fl"] += fl
        T["tf"] += tf
        T["ff"] += ff
    P = T["tf"] / (T["tf"] + T["ff"]) if T["tf"] + T["ff"] else 0.0
    R = T["tl"] / (T["tl"] + T["fl"]) if T["tl"] + T["fl"] else 0.0
    return {"precision": P, "recall": R, "f1": 2 * P * R / (P + R) if P + R else 0.0,
            "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0, "auc": auc(pos, neg),
            "labels": T["tl"] + T["fl"], "findings": T["tf"] + T["ff"], "docs": len(pages),
            "per_category": per, "misses": misses, "false_alarms": wrongs}


def predict_pages(auditor, pages, judge) -> list[PagePrediction]:
    """Audit labelled pages as the product would (with this judge, or the rules alone if None)."""
    from ..model import Page
    out = []
    for pg in pages:
        an = auditor.engine.analyse(Page(url=pg.doc, text=pg.text), judge=judge)
        result = auditor._result(Page(url=pg.doc, text=pg.text), an, False)
        out.append(PagePrediction([(f.category, f.start, f.end) for f in result.findings], result.score))
    return out


def cross_validate(auditor, pages, folds: int = 5, progress=None, **params) -> dict:
    """Grouped k-fold: each fold's judge is trained without the held-out sites, exported as it would
    ship, and audits the held-out pages; the figures pool every held-out page."""
    import numpy
    from sklearn.model_selection import GroupKFold

    from .judge import Judge
    from .training import fit_judge, prepare

    prepared = prepare(auditor.engine, pages)
    groups = numpy.array([pg.group for pg in pages])
    n = min(folds, len(set(groups)))
    if n < 2:
        raise ValueError(f"cross-validation needs pages from at least 2 sites; these come from {len(set(groups))}")
    predictions: list = [None] * len(pages)
    for k, (tr, te) in enumerate(GroupKFold(n_splits=n).split(numpy.arange(len(pages)), groups=groups), 1):
        judge = Judge(fit_judge([prepared[i] for i in tr], **params).to_model())
        for i, pred in zip(te, predict_pages(auditor, [pages[i] for i in te], judge)):
            predictions[i] = pred
        if progress:
            progress(k, n)
    res = score(pages, predictions)
    res["folds"] = n
    return res
