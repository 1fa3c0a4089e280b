"""The runtime claim judge: scores candidates with a trained model, using numpy alone.

The model file (`data/judge.json.gz` inside the package, rebuilt by `auditor train`) is the plain
export of training.ClaimJudge: vocabularies, weights and trees. Loading it needs no
scikit-learn and no network. Each decision can be explained: the context stage's trees are read
path by path (each split's change of the score goes to the feature it tested), and the lexical
scores break down into the weights of the words present.
"""
from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional

import numpy

from .features import dense, dense_part, lexical

FORMAT = "auditor-judge/1"


class ModelError(ValueError):
    """The model file is missing or not a judge model; str() says which and how to rebuild it."""


def default_model_path() -> Path:
    return Path(str(resources.files("auditor.analyse") / "data" / "judge.json.gz"))


@dataclass
class Verdict:
    probability: float
    contributions: list       # (feature, contribution to the log-odds), strongest first


class Judge:
    def __init__(self, model: dict, digest: str = ""):
        if not isinstance(model, dict) or model.get("format") != FORMAT:
            raise ModelError(f"not a judge model (format {model.get('format') if isinstance(model, dict) else None!r}, "
                             f"expected {FORMAT!r})")
        self.model = model
        self.digest = digest or hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()
        self.id = model.get("id") or f"judge-{self.digest[:12]}"
        self.categories = list(model["categories"])
        self.threshold = float(model["threshold"])
        self.thresholds = {c: float(model.get("thresholds", {}).get(c, self.threshold)) for c in self.categories}
        # candidates a YAML rule asserted pass at this lower probability (learned per category)
        self.rule_thresholds = {c: float(v) for c, v in model.get("rule_thresholds", {}).items()}
        # a page-level many-conditions finding needs the page to sell at least this much
        self.page_selling = model.get("page_selling")
        lex = model["lexical"]
        self.lex_columns = {c: i for i, c in enumerate(lex["columns"])}
        self.lex_index = {name: i for i, name in enumerate(lex["vocabulary"])}
        self.lex_W = numpy.asarray(lex["weights"], dtype="float64").reshape(len(lex["vocabulary"]), len(lex["columns"]))
        self.lex_b = numpy.asarray(lex["intercepts"], dtype="float64")
        page = model.get("page")
        self.page_index = {name: i for i, name in enumerate(page["vocabulary"])} if page else {}
        self.page_w = numpy.asarray(page["weights"], dtype="float64") if page else None
        self.page_b = float(page["intercept"]) if page else 0.0
        self.page_norm = bool(page and page.get("normalise"))
        ctx = model["context"]
        self.dense_names = ctx["features"]
        self.baseline = float(ctx["baseline"])
        trees = ctx["trees"]
        width = max(len(t["feature"]) for t in trees) if trees else 1
        T = len(trees)
        self.t_feat = numpy.zeros((T, width), dtype="int64")
        self.t_thr = numpy.zeros((T, width))
        self.t_left = numpy.zeros((T, width), dtype="int64")
        self.t_right = numpy.zeros((T, width), dtype="int64")
        self.t_leaf = numpy.ones((T, width), dtype=bool)
        self.t_value = numpy.zeros((T, width))
        for i, t in enumerate(trees):
            n = len(t["feature"])
            self.t_feat[i, :n] = t["feature"]
            self.t_thr[i, :n] = t["threshold"]
            self.t_left[i, :n] = t["left"]
            self.t_right[i, :n] = t["right"]
            self.t_leaf[i, :n] = numpy.asarray(t["leaf"], dtype=bool)
            self.t_value[i, :n] = t["value"]
        self.depth = max((_depth(t) for t in trees), default=0)
        self._rows = numpy.arange(T)

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "Judge":
        path = Path(path) if path else default_model_path()
        try:
            raw = path.read_bytes()
            model = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        except FileNotFoundError:
            raise ModelError(f"{path}: no judge model here; build one with `auditor train LABELLED_DIR -o {path}`") from None
        except (OSError, ValueError) as e:
            raise ModelError(f"{path}: cannot read the judge model ({e}); rebuild it with `auditor train`") from None
        try:
            return cls(model, hashlib.sha256(raw).hexdigest())
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise ModelError(f"{path}: not a complete judge model ({type(e).__name__}: {e}); "
                             "rebuild it with `auditor train`") from None

    @property
    def version(self) -> str:
        return self.id

    # -- scoring ----------------------------------------------------------------------------
    def selling(self, page_f: dict) -> float:
        """How likely the page sells (a clinic's own page) rather than warns or reports."""
        if self.page_w is None:
            return 0.5
        idx = [self.page_index[k] for k in page_f if k in self.page_index]
        z = self.page_w[idx].sum() if idx else 0.0
        if self.page_norm and idx:
            # training rows were L2-normalised over the kept vocabulary (all of it is in the model);
            # the features are binary, so the norm is the root of how many are present
            z = z / numpy.sqrt(len(idx))
        return float(1.0 / (1.0 + numpy.exp(-(z + self.page_b))))

    def lexical_scores(self, f: dict, category: str) -> tuple[float, float, list]:
        """(shared score, the category's own score, the present features with their weights)."""
        idx = [self.lex_index[k] for k in lexical(f) if k in self.lex_index]
        W = self.lex_W[idx] if idx else numpy.zeros((0, self.lex_W.shape[1]))
        col = self.lex_columns.get(category)
        shared = float(W[:, 0].sum() + self.lex_b[0])
        own = float(W[:, col].sum() + self.lex_b[col]) if col is not None else 0.0
        return shared, own, idx

    def rows(self, items, selling: float) -> tuple[numpy.ndarray, list]:
        """The context stage's rows for items of one page: (features, category), or (sentence
        features, own features, category) as decide() gives them, so that what candidates of one
        sentence share is read once. The lexical scores of all items are summed in one step."""
        n = len(items)
        index = self.lex_index      # holds lexical features only, so no prefix test is needed
        seen: dict = {}
        lex, parts = [], []
        for it in items:
            sf, of = (it[0], None) if len(it) == 2 else (it[0], it[1])
            got = seen.get(id(sf))
            if got is None:
                got = seen[id(sf)] = ([index[k] for k in sf if k in index], dense_part(sf), sf)
            idx = got[0] + [index[k] for k in of if k in index] if of else got[0]
            lex.append(idx)
            parts.append((sf, of, got[1], it[-1]))
        ends = numpy.cumsum([len(idx) for idx in lex])
        flat = [i for idx in lex for i in idx]
        # per-row sums of the rows' weights, as differences of one running sum
        run = numpy.vstack([numpy.zeros((1, self.lex_W.shape[1])), numpy.cumsum(self.lex_W[flat], 0)]) if flat \
            else numpy.zeros((1, self.lex_W.shape[1]))
        S = run[ends] - run[numpy.concatenate([[0], ends[:-1]])] if n else numpy.zeros((0, self.lex_W.shape[1]))
        cols = numpy.array([self.lex_columns.get(p[3], -1) for p in parts], dtype="int64")
        shared = S[:, 0] + self.lex_b[0]
        own = numpy.where(cols >= 0, S[numpy.arange(n), cols] + self.lex_b[cols], 0.0) if n else shared
        out = [dense(sf, a, b, selling, cat, self.categories, own_f=of, base=base)
               for (sf, of, base, cat), a, b in zip(parts, shared.tolist(), own.tolist())]
        return numpy.asarray(out, dtype="float64").reshape(n, len(self.dense_names)), lex

    def raw(self, X: numpy.ndarray) -> numpy.ndarray:
        """Log-odds of each row: every tree walked for every row at once, level by level."""
        n, T = len(X), len(self._rows)
        if not n or not T:
            return numpy.full(n, self.baseline)
        node = numpy.zeros((n, T), dtype="int64")
        rows = numpy.arange(n)[:, None]
        trees = self._rows[None, :]
        for _ in range(self.depth):
            f = self.t_feat[trees, node]
            go_left = X[rows, f] <= self.t_thr[trees, node]
            nxt = numpy.where(go_left, self.t_left[trees, node], self.t_right[trees, node])
            node = numpy.where(self.t_leaf[trees, node], node, nxt)
        return self.baseline + self.t_value[trees, node].sum(1)

    def probabilities(self, X: numpy.ndarray) -> numpy.ndarray:
        return 1.0 / (1.0 + numpy.exp(-self.raw(X)))

    def contributions(self, X: numpy.ndarray) -> numpy.ndarray:
        """Each row's log-odds split over the context features (Saabas): every split on a row's
        path gives its change of the score to the feature it tested. Rows add up to raw(X) minus
        the baseline."""
        n, T = len(X), len(self._rows)
        C = numpy.zeros((n, len(self.dense_names)))
        if not n or not T:
            return C
        node = numpy.zeros((n, T), dtype="int64")
        rows = numpy.arange(n)[:, None]
        trees = self._rows[None, :]
        for _ in range(self.depth):
            leaf = self.t_leaf[trees, node]
            f = self.t_feat[trees, node]
            go_left = X[rows, f] <= self.t_thr[trees, node]
            nxt = numpy.where(leaf, node, numpy.where(go_left, self.t_left[trees, node], self.t_right[trees, node]))
            step = numpy.where(leaf, 0.0, self.t_value[trees, nxt] - self.t_value[trees, node])
            numpy.add.at(C, (numpy.broadcast_to(rows, f.shape), f), step)
            node = nxt
        return C

    def explain(self, x: numpy.ndarray, lex_idx: list, category: str, top: int = 6, contrib=None) -> list:
        """The strongest reasons behind one decision, as (feature, contribution) pairs: the context
        features' shares of the trees' score (contributions()), and the lexical scores shown
        through the words that weigh most in them."""
        if contrib is None:
            contrib = self.contributions(x[None, :])[0]
        named = [(self.dense_names[f], float(contrib[f])) for f in numpy.flatnonzero(numpy.abs(contrib) >= 0.01)]
        col = self.lex_columns.get(category)
        vocab = self._vocab_names()
        words = []
        for i in lex_idx:
            w = self.lex_W[i, 0] + (self.lex_W[i, col] if col is not None else 0.0)
            words.append((f"word {vocab[i]}", float(w)))
        words.sort(key=lambda p: -abs(p[1]))
        named.sort(key=lambda p: -abs(p[1]))
        return [(k, round(v, 3)) for k, v in named[:top]] + [(k, round(v, 3)) for k, v in words[:top]]

    def _vocab_names(self):
        names = getattr(self, "_names", None)
        if names is None:
            names = self._names = self.model["lexical"]["vocabulary"]
        return names


def _depth(t: dict) -> int:
    best, stack = 0, [(0, 0)]
    while stack:
        node, d = stack.pop()
        if t["leaf"][node]:
            best = max(best, d)
        else:
            stack += [(t["left"][node], d + 1), (t["right"][node], d + 1)]
    return best
