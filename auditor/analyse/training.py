"""Train the claim judge (scikit-learn), and export it as a plain model the runtime judge reads.

The judge decides, per candidate (a sentence and a category), whether the sentence is the page's
own claim of that category. It is a two-stage stack, each stage an ordinary scikit-learn model:

1. lexical: logistic regressions over the candidate's words, word pairs, the words of the sentence
   before it and of its heading, its candidate vocabulary and the ids of the rules that fired (one
   shared by all categories, one per category with enough examples); and the page's voice: a
   logistic regression over the whole page's words that tells a selling page from a warning one;
2. context: gradient-boosted trees over those scores plus the ConText cues (which cue governs the
   candidate's words, which rule fired and whether a cue dismissed it), the kind of text (heading,
   list item), question, quotation, person, figures, and the category.

Stage 2 learns from out-of-fold stage-1 scores (folds grouped by site), so it weighs the lexical
scores as they behave on pages the lexical models have not seen. Everything is seeded.

`ClaimJudge` follows scikit-learn's conventions (get_params, fit, predict_proba). `to_model()`
gives a dict of plain numbers and feature names, which `judge.Judge` scores with numpy alone:
scikit-learn is needed to train, never to audit. The model holds vocabulary (words and word
pairs seen on at least `min_sites` sites) and weights, no page text.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from .features import dense, dense_names, lexical

FORMAT = "auditor-judge/1"


@dataclass
class Sample:
    """One candidate to judge: its features, its category and its page (whose words it shares)."""

    f: dict
    category: str
    page: object          # a key of the page (the same for every candidate of a page)
    page_f: dict          # the page's words (PageFeatures.page_words), shared by its candidates


def _csr(X):
    # liblinear wants 32-bit indices; scipy may hand out 64-bit ones
    X = sp.csr_matrix(X)
    X.indices = X.indices.astype(numpy.int32)
    X.indptr = X.indptr.astype(numpy.int32)
    return X


class _Linear:
    """A vocabulary (pruned to features seen on `min_sites` sites) and binary logistic regressions."""

    def __init__(self, C, seed, min_sites, normalise=False):
        self.C, self.seed, self.min_sites, self.normalise = C, seed, min_sites, normalise

    def _matrix(self, dicts):
        X = _csr(self.dv.transform(dicts))[:, self.keep]
        if self.normalise:
            norms = numpy.sqrt(numpy.asarray(X.multiply(X).sum(1)).ravel())
            norms[norms == 0] = 1.0
            X = _csr(sp.diags(1.0 / norms) @ X)
        return X

    def fit_vocab(self, dicts, groups):
        self.dv = DictVectorizer(sort=True)
        X = _csr(self.dv.fit_transform(dicts))
        codes = numpy.unique(groups, return_inverse=True)[1]
        G = sp.csr_matrix((numpy.ones(len(codes)), (numpy.arange(len(codes)), codes)))
        sites = numpy.asarray(((X.T @ G) > 0).sum(1)).ravel()
        self.keep = numpy.flatnonzero(sites >= self.min_sites)
        self.names = [self.dv.feature_names_[i] for i in self.keep]
        return self._matrix(dicts)

    def lr(self, X, y, balanced=True):
        if X.shape[1] == 0 or len(set(y)) < 2:      # a small corpus's inner fold: nothing to learn from
            return _Constant(X.shape[1], y)
        m = LogisticRegression(C=self.C, solver="liblinear", max_iter=5000, random_state=self.seed,
                               class_weight="balanced" if balanced else None)
        return m.fit(X, y)


class _Constant:
    """A linear model with no weights, scoring the training rate: what a fold of a small corpus
    (one site, or one class) can honestly learn. Shaped as LogisticRegression for the export."""

    def __init__(self, n_features, y):
        rate = min(max(float(numpy.mean(y)) if len(y) else 0.5, 1e-3), 1 - 1e-3)
        self.coef_ = numpy.zeros((1, n_features))
        self.intercept_ = numpy.array([numpy.log(rate / (1 - rate))])

    def decision_function(self, X):
        return numpy.full(X.shape[0], self.intercept_[0])

    def predict_proba(self, X):
        p = 1 / (1 + numpy.exp(-self.decision_function(X)))
        return numpy.column_stack([1 - p, p])


def _splits(n_folds, X, groups):
    """GroupKFold's splits; a corpus of one page has none, so its stage-1 scores are in-sample."""
    if n_folds < 2:
        every = numpy.arange(len(X))
        return [(every, every)]
    return GroupKFold(n_splits=n_folds).split(X, groups=groups)


class TrainingError(ValueError):
    """The labelled corpus cannot train a judge; str() says what it lacks."""


class ClaimJudge(ClassifierMixin, BaseEstimator):
    """Decides whether a candidate sentence is the page's own claim of its category."""

    def __init__(self, C=0.3, page_C=4.0, min_sites=2, min_positives=3, inner_folds=4, trees=150, depth=4,
                 learning_rate=0.05, min_leaf=20, threshold=0.35, policy="rules", page_selling=0.5, defer_below=20,
                 seed=0):
        self.C, self.page_C, self.min_sites, self.min_positives = C, page_C, min_sites, min_positives
        self.inner_folds, self.trees, self.depth, self.learning_rate = inner_folds, trees, depth, learning_rate
        self.min_leaf, self.threshold, self.policy, self.seed = min_leaf, threshold, policy, seed
        self.page_selling, self.defer_below = page_selling, defer_below

    # -- stage 1 ----------------------------------------------------------------------------
    def _fit_pages(self, pages, page_y, page_groups):
        lin = _Linear(self.page_C, self.seed, self.min_sites + 1, normalise=True)
        X = lin.fit_vocab(pages, page_groups)
        return lin, lin.lr(X, page_y)

    def _fit_lexical(self, X, y, cats, groups):
        lin = _Linear(self.C, self.seed, self.min_sites)
        M = lin.fit_vocab([lexical(s.f) for s in X], groups)
        shared = lin.lr(M, y)
        own = {}
        for c in self.categories_:
            m = cats == c
            if y[m].sum() >= self.min_positives and (y[m] == 0).any():
                own[c] = lin.lr(M[m], y[m])
        return lin, shared, own

    @staticmethod
    def _lexical_scores(model, X):
        lin, shared, own = model
        M = lin._matrix([lexical(s.f) for s in X])
        s_shared = shared.decision_function(M)
        s_own = numpy.zeros(len(X))
        cats = numpy.array([s.category for s in X])
        for c, m in own.items():
            sel = cats == c
            if sel.any():
                s_own[sel] = m.decision_function(M[sel])
        return s_shared, s_own

    @staticmethod
    def _selling(model, page_dicts):
        lin, m = model
        return m.predict_proba(lin._matrix(page_dicts))[:, 1]

    def _page_table(self, X):
        keys, dicts, index = [], [], {}
        for s in X:
            if s.page not in index:
                index[s.page] = len(keys)
                keys.append(s.page)
                dicts.append(s.page_f)
        return keys, dicts, numpy.array([index[s.page] for s in X])

    def _dense(self, X, s_shared, s_own, selling):
        return numpy.asarray([dense(s.f, a, b, p, s.category, self.categories_)
                              for s, a, b, p in zip(X, s_shared, s_own, selling)], dtype="float64")

    # -- the estimator ------------------------------------------------------------------------
    def fit(self, X, y, groups, page_selling=None):
        """X: Samples; y: 1 (the page's claim) or 0; groups: each sample's site.
        page_selling: page key -> 1 when the page sells (a clinic page), 0 when it does not, None
        when its kind is unknown (it then teaches the candidates, not the page voice)."""
        y = numpy.asarray(y, dtype=int)
        groups = numpy.asarray(groups)
        if len(set(y.tolist())) < 2:
            raise TrainingError(f"a judge needs both claims and non-claims to learn from; these pages give "
                                f"{len(y)} candidates, {int(y.sum())} of them claims (label or review more pages)")
        self.categories_ = sorted({s.category for s in X})
        self.classes_ = numpy.array([0, 1])
        cats = numpy.array([s.category for s in X])
        keys, page_dicts, row_page = self._page_table(X)
        page_groups = numpy.array([groups[numpy.flatnonzero(row_page == i)[0]] for i in range(len(keys))])
        if len(set(page_groups)) < 2:
            # one site (a fold of a small team corpus): its pages are the only units left to hold out
            page_groups = numpy.array(keys, dtype=object)
            groups = page_groups[row_page]
        known = [(page_selling or {}).get(k, 0) for k in keys]
        page_y = numpy.array([-1 if v is None else int(v) for v in known])

        # out-of-fold stage-1 scores, folds grouped by site
        n_folds = min(self.inner_folds, len(set(page_groups)))
        s_shared, s_own, selling_pages = numpy.zeros(len(X)), numpy.zeros(len(X)), numpy.zeros(len(keys))
        for tr_p, te_p in _splits(n_folds, numpy.arange(len(keys)), page_groups):
            tr = numpy.isin(row_page, tr_p)
            te = numpy.isin(row_page, te_p)
            tk = tr_p[page_y[tr_p] >= 0]
            if len(set(page_y[tk])) > 1:
                selling_pages[te_p] = self._selling(self._fit_pages([page_dicts[i] for i in tk], page_y[tk],
                                                                    page_groups[tk]), [page_dicts[i] for i in te_p])
            else:
                selling_pages[te_p] = page_y[tk].mean() if len(tk) else 0.5
            Xtr = [X[i] for i in numpy.flatnonzero(tr)]
            model = self._fit_lexical(Xtr, y[tr], cats[tr], groups[tr])
            a, b = self._lexical_scores(model, [X[i] for i in numpy.flatnonzero(te)])
            s_shared[te], s_own[te] = a, b
        D = self._dense(X, s_shared, s_own, selling_pages[row_page])
        self.gbm_ = self._gbm().fit(D, y)
        self.thresholds_, self.rule_thresholds_ = {}, {}
        if self.policy in ("learned", "rules"):
            oof = numpy.zeros(len(X))
            for tr, te in _splits(n_folds, D, groups):
                oof[te] = (self._gbm().fit(D[tr], y[tr]).predict_proba(D[te])[:, 1] if len(set(y[tr])) > 1
                           else y[tr].mean())
            asserted = numpy.array([s.f.get("r=asserted", 0.0) > 0 for s in X])
            self.thresholds_, self.rule_thresholds_ = _policy(oof, y, cats, asserted, self.threshold,
                                                              self.min_positives, self.policy == "rules",
                                                              self.defer_below)
        # the final stage-1 models, on every page
        k = numpy.flatnonzero(page_y >= 0)
        self.pages_ = (self._fit_pages([page_dicts[i] for i in k], page_y[k], page_groups[k])
                       if len(set(page_y[k])) > 1 else None)
        self.lexical_ = self._fit_lexical(X, y, cats, groups)
        return self

    def _gbm(self):
        return HistGradientBoostingClassifier(max_iter=self.trees, learning_rate=self.learning_rate,
                                              max_depth=self.depth, min_samples_leaf=self.min_leaf,
                                              l2_regularization=1.0, early_stopping=False, random_state=self.seed)

    def stage1(self, X):
        """(shared, category, selling) scores of each sample."""
        s_shared, s_own = self._lexical_scores(self.lexical_, X)
        keys, page_dicts, row_page = self._page_table(X)
        selling = self._selling(self.pages_, page_dicts) if self.pages_ else numpy.full(len(keys), 0.5)
        return s_shared, s_own, selling[row_page]

    def predict_proba(self, X):
        D = self._dense(X, *self.stage1(X))
        return self.gbm_.predict_proba(D)

    def predict(self, X):
        p = self.predict_proba(X)[:, 1]
        t = numpy.array([self.thresholds_.get(s.category, self.threshold) for s in X])
        r = numpy.array([self.rule_thresholds_.get(s.category, 2.0) if s.f.get("r=asserted", 0.0) > 0 else 2.0
                         for s in X])
        return ((p >= t) | (p >= r)).astype(int)

    # -- export -----------------------------------------------------------------------------
    def to_model(self) -> dict:
        """The fitted judge as plain data (see judge.Judge); weights rounded to 6 significant digits."""
        lin, shared, own = self.lexical_
        cols = ["shared"] + list(own)
        W = numpy.column_stack([shared.coef_.ravel()] + [own[c].coef_.ravel() for c in own])
        used = numpy.flatnonzero(numpy.abs(W).max(1) > 1e-6)
        lexical_part = {"columns": cols, "intercepts": [_r(shared.intercept_[0])] + [_r(own[c].intercept_[0]) for c in own],
                        "vocabulary": [lin.names[i] for i in used], "weights": [[_r(v) for v in W[i]] for i in used]}
        page_part = None
        if self.pages_:
            plin, pm = self.pages_
            coef = pm.coef_.ravel()
            # every kept word stays: the runtime needs them all to normalise a page's row
            page_part = {"intercept": _r(pm.intercept_[0]), "vocabulary": list(plin.names),
                         "weights": [_r(v) for v in coef], "normalise": True}
        trees = []
        for (pred,) in self.gbm_._predictors:
            nodes = pred.nodes
            trees.append({"feature": nodes["feature_idx"].tolist(), "threshold": [_r(v) for v in nodes["num_threshold"]],
                          "left": nodes["left"].tolist(), "right": nodes["right"].tolist(),
                          "leaf": nodes["is_leaf"].astype(int).tolist(),
                          # leaves hold shrunk values, inner nodes unshrunk ones: shrink those too,
                          # so that a path's steps add up to its leaf (how decisions are explained)
                          "value": [_r(v if leaf else v * self.learning_rate)
                                    for v, leaf in zip(nodes["value"], nodes["is_leaf"])]})
        return {"format": FORMAT, "categories": self.categories_, "threshold": self.threshold,
                "page_selling": self.page_selling if self.pages_ else None,
                "thresholds": {c: _r(v) for c, v in sorted(self.thresholds_.items())},
                "rule_thresholds": {c: _r(v) for c, v in sorted(self.rule_thresholds_.items())},
                "params": self.get_params(), "lexical": lexical_part, "page": page_part,
                "context": {"features": dense_names(self.categories_), "baseline": _r(float(
                    numpy.ravel(self.gbm_._baseline_prediction)[0])), "trees": trees}}


GRID = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
RULE_GRID = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


def _f1(pred, y):
    tp = int((pred & (y == 1)).sum())
    return 2 * tp / (int(pred.sum()) + int((y == 1).sum())) if tp else 0.0


def _policy(p, y, cats, asserted, default, min_positives, rules_only=False, defer_below=0):
    """Per category, the threshold on the judge's probability, and a lower one for candidates a
    YAML rule asserted, that give the best F1 on out-of-fold probabilities (by site). A category
    with fewer than `min_positives` examples keeps the default threshold and no rule threshold.
    Precision first: of thresholds within 0.01 F1 of the best, the highest wins."""
    thresholds, rule_thresholds = {}, {}
    for c in sorted(set(cats)):
        m = cats == c
        yc, pc, ac = y[m], p[m], asserted[m]
        if int((yc == 1).sum()) < defer_below:
            # too few examples to learn from: a sentence a rule asserted stands on the rule
            rule_thresholds[c] = 0.0
            continue
        if int((yc == 1).sum()) < min_positives:
            continue
        scored = []
        for t in ((default,) if rules_only else GRID):
            for r in (2.0,) + tuple(v for v in RULE_GRID if v < t):
                pred = (pc >= t) | (ac & (pc >= r))
                # higher thresholds first among near-ties: fewer, surer findings
                scored.append((_f1(pred, yc), t, min(r, t)))
        best = max(f for f, _, _ in scored)
        t, r, _ = max((t, r, f) for f, t, r in scored if f >= best - 0.01)
        thresholds[c] = t
        if r < t:
            rule_thresholds[c] = r
    return thresholds, rule_thresholds


def _r(v: float) -> float:
    return float(f"{float(v):.6g}")


# -- from a labelled corpus to samples ---------------------------------------------------------
@dataclass
class Prepared:
    """A labelled page's candidates as samples, each with its target (1, 0, or -1 when it overlaps
    only an ambiguous label and so teaches nothing)."""

    page: object          # corpus.LabelledPage
    samples: list
    y: list


def prepare(engine, pages) -> list[Prepared]:
    from ..model import Page
    out = []
    for pg in pages:
        st, matches = engine.state(Page(url=pg.doc, text=pg.text))
        hits = engine.rule_hits(st, matches["targets"])
        cands, pf = engine.candidates(st, matches, hits)
        page_f = pf.page_words()
        samples, ys = [], []
        for c in cands:
            a, b = st.chars(*st.sents[c.si])
            over = {sp.category for sp in pg.spans if sp.start < b and a < sp.end}
            ys.append(1 if c.category in over else -1 if "ambiguous" in over else 0)
            samples.append(Sample(pf.candidate(c), c.category, pg.doc, page_f))
        out.append(Prepared(pg, samples, ys))
    return out


def fit_judge(prepared: list[Prepared], **params) -> ClaimJudge:
    X, y, groups = [], [], []
    for p in prepared:
        for s, t in zip(p.samples, p.y):
            if t >= 0:
                X.append(s)
                y.append(t)
                groups.append(p.page.group)
    selling = {p.page.doc: (p.page.kind == "clinic") if p.page.kind else None for p in prepared}
    return ClaimJudge(**params).fit(X, y, groups, page_selling=selling)


def write_model(judge: ClaimJudge, path, pages, rules_version: str) -> dict:
    """Write the judge as gzipped JSON, byte for byte the same for the same corpus, rules and seed
    (no timestamps; gzip's own mtime is 0). Its id is a digest of what it holds."""
    import gzip
    import hashlib
    import json
    from pathlib import Path

    import sklearn

    from .. import __version__
    corpus = hashlib.sha256()
    for pg in sorted(pages, key=lambda p: p.doc):
        corpus.update(pg.doc.encode() + b"\0" + pg.text.encode() + b"\0")
        for sp_ in sorted((s.category, s.start, s.end) for s in pg.spans):
            corpus.update(repr(sp_).encode())
    model = judge.to_model()
    model["trained"] = {"auditor": __version__, "scikit-learn": sklearn.__version__, "rules_version": rules_version,
                        "corpus_sha256": corpus.hexdigest(), "pages": len(pages),
                        "labels": sum(1 for pg in pages for s in pg.spans if s.category not in ("none", "ambiguous"))}
    body = json.dumps(model, sort_keys=True, separators=(",", ":")).encode()
    model_id = "judge-" + hashlib.sha256(body).hexdigest()[:12]
    model["id"] = model_id
    data = gzip.compress(json.dumps(model, sort_keys=True, separators=(",", ":")).encode(), compresslevel=9, mtime=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"id": model_id, "bytes": len(data)}
