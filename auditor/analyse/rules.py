"""Load and validate the rule data (YAML): rules, context cues, lexicons and scoring weights.

Every value keeps the line it came from, so a bad rule file fails with `path:line: what is wrong`
(the way vale reports a broken style). Nothing here knows about spaCy; compiling the patterns is
the engine's job, and it reports its errors with the same locations.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import yaml

from ..model import SEVERITIES

CATEGORIES = (
    "guarantee", "fda-misstatement", "miracle-cure", "risk-minimization", "unproven-efficacy",
    "uncited-statistic", "testimonial", "superiority-claim", "pressure-sales", "proprietary-method",
    "unapproved-product",
)
PAGE_CATEGORIES = ("many-conditions", "missing-risk-disclosure")
CONTEXT_CATEGORIES = ("negated", "hedged", "hypothetical", "question", "attributed", "warning",
                      "pseudo", "terminate", "commentary")
DIRECTIONS = ("forward", "backward", "bidirectional", "none")
RULE_KEYS = {"id", "name", "category", "severity", "confidence", "description", "rationale",
             "references", "patterns", "examples", "weight", "requires", "ignore", "scope",
             "context", "span", "with", "without"}


class RuleError(Exception):
    """A rule file is wrong; str() is `path:line: message`."""

    def __init__(self, path, line, message):
        self.path, self.line, self.message = str(path), line, message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences remember the line of each entry."""


class LDict(dict):
    line: int = 0
    lines: dict


class LList(list):
    line: int = 0
    lines: list


def _map(loader, node):
    loader.flatten_mapping(node)
    d = LDict()
    d.line = node.start_mark.line + 1
    d.lines = {}
    for k, v in node.value:
        key = loader.construct_object(k, deep=True)
        if key in d:
            raise RuleError(loader.name, k.start_mark.line + 1, f"duplicate key {key!r}")
        d[key] = loader.construct_object(v, deep=True)
        d.lines[key] = k.start_mark.line + 1
    return d


def _seq(loader, node):
    lst = LList(loader.construct_object(v, deep=True) for v in node.value)
    lst.line = node.start_mark.line + 1
    lst.lines = [v.start_mark.line + 1 for v in node.value]
    return lst


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _seq)


def load_yaml(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    loader = _Loader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise RuleError(path, mark.line + 1 if mark else 0, f"YAML: {e.problem or e}") from None
    finally:
        loader.dispose()


def _line_of(obj, key=None, default=0) -> int:
    if key is not None and isinstance(obj, LDict):
        return obj.lines.get(key, obj.line)
    if key is not None and isinstance(obj, LList) and isinstance(key, int) and key < len(obj.lines):
        return obj.lines[key]
    return getattr(obj, "line", default)


@dataclass
class Rule:
    id: str
    name: str
    category: str
    severity: str
    confidence: float
    description: str
    rationale: str
    references: list[str]
    patterns: list            # raw patterns: phrase strings or token-pattern lists
    examples: dict            # {"fire": [...], "quiet": [...]}
    path: str = ""
    line: int = 0
    pattern_lines: list = field(default_factory=list)
    weight: Optional[float] = None
    requires: list = field(default_factory=list)    # e.g. ["voice"]: only on a page in a clinic's voice
    ignore: list = field(default_factory=list)      # context categories this rule does not yield to
    scope: str = "sentence"                         # "sentence" or "block" for headings and items
    span: str = "match"                             # "match" or "sentence": the evidence span
    with_: list = field(default_factory=list)       # the sentence must also match one of these
    without: list = field(default_factory=list)     # ... and none of these

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Trigger:
    category: str
    direction: str
    phrases: list
    max_scope: int
    path: str
    line: int
    pattern_lines: list
    name: str = ""


@dataclass
class Candidates:
    """A category's broad vocabulary: a sentence holding one of its phrases is a candidate."""

    category: str
    phrases: list
    path: str
    line: int
    pattern_lines: list
    source: str = ""
    severity: str = "medium"


@dataclass
class RuleSet:
    rules: list[Rule]
    triggers: list[Trigger]
    terminators: list
    lexicons: dict        # name -> LDict/LList of terms (conditions by group, single-token sets)
    scoring: dict
    mitigations: list[Rule]
    page_rules: dict      # category -> config dict (many-conditions, missing-risk-disclosure)
    version: str
    root: str
    files: list = field(default_factory=list)
    candidates: dict = field(default_factory=dict)   # category -> Candidates (the judge's broad vocabulary)

    def by_id(self, rid: str) -> Rule:
        for r in self.rules + self.mitigations:
            if r.id == rid:
                return r
        raise KeyError(rid)


def default_rules_dir() -> Path:
    """The rule data: `rules/` beside the package in a checkout, else the copy installed with it."""
    here = Path(__file__).resolve().parent
    repo = here.parents[1] / "rules"
    if (repo / "context.yml").exists():
        return repo
    return Path(str(resources.files("auditor") / "rules_data"))


line_of = _line_of


def _need(obj, key, typ, path, what="") -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise RuleError(path, line_of(obj), f"{what}missing required key {key!r}")
    v = obj[key]
    if typ is not None and not isinstance(v, typ):
        tn = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise RuleError(path, line_of(obj, key), f"{what}{key!r} must be {tn}, not {type(v).__name__}")
    return v


def _check_patterns(pats, path, where):
    if not isinstance(pats, list) or not pats:
        raise RuleError(path, line_of(pats) or where, "'patterns' must be a non-empty list")
    for i, p in enumerate(pats):
        ln = line_of(pats, i)
        if isinstance(p, str):
            if not p.strip():
                raise RuleError(path, ln, "empty phrase pattern")
        elif isinstance(p, list):
            if not p or not all(isinstance(t, dict) for t in p):
                raise RuleError(path, ln, "a token pattern must be a non-empty list of mappings")
        else:
            raise RuleError(path, ln, f"a pattern must be a phrase string or a token list, not {type(p).__name__}")


def parse_rule(d, path, defaults, categories) -> Rule:
    if not isinstance(d, dict):
        raise RuleError(path, _line_of(d), "each rule must be a mapping")
    unknown = set(d) - RULE_KEYS
    if unknown:
        k = sorted(unknown)[0]
        raise RuleError(path, _line_of(d, k), f"unknown key {k!r} (known: {', '.join(sorted(RULE_KEYS))})")
    merged = dict(defaults)
    merged.update(d)

    def line_of(obj, key=None, default=0):  # a key missing from the rule points at the file default
        if obj is d and key is not None and key not in d and isinstance(defaults, LDict) and key in defaults:
            return defaults.lines.get(key, defaults.line)
        return _line_of(obj, key, default)
    rid = _need(d, "id", str, path)
    what = f"rule {rid}: "
    if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", rid):
        raise RuleError(path, line_of(d, "id"), f"{what}id must be dotted lowercase, like 'guarantee.outcome'")
    cat = merged.get("category")
    if cat not in categories:
        raise RuleError(path, line_of(d, "category"), f"{what}unknown category {cat!r} (known: {', '.join(categories)})")
    sev = merged.get("severity")
    if sev not in SEVERITIES:
        raise RuleError(path, line_of(d, "severity"), f"{what}severity must be one of {', '.join(SEVERITIES)}, not {sev!r}")
    conf = merged.get("confidence", 0.8)
    if not isinstance(conf, (int, float)) or not 0 < conf <= 1:
        raise RuleError(path, line_of(d, "confidence"), f"{what}confidence must be a number in (0, 1]")
    for key in ("description", "rationale"):
        v = merged.get(key)
        if not isinstance(v, str) or not v.strip():
            raise RuleError(path, line_of(d, key), f"{what}missing or empty {key!r}")
    refs = merged.get("references")
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) and r.strip() for r in refs):
        raise RuleError(path, line_of(d, "references"), f"{what}'references' must be a non-empty list of sources")
    pats = _need(d, "patterns", list, path, what)
    _check_patterns(pats, path, line_of(d, "patterns"))
    ex = _need(d, "examples", dict, path, what)
    for kind in ("fire", "quiet"):
        lst = ex.get(kind)
        if not isinstance(lst, list) or len(lst) < 3 or not all(isinstance(s, str) and s.strip() for s in lst):
            raise RuleError(path, line_of(ex, kind) or line_of(ex),
                            f"{what}examples.{kind} needs at least three texts")
    ignore = merged.get("ignore", [])
    for i, c in enumerate(ignore):
        if c not in CONTEXT_CATEGORIES:
            raise RuleError(path, line_of(ignore, i), f"{what}unknown context category {c!r} in 'ignore'")
    scope = merged.get("scope", "sentence")
    if scope not in ("sentence", "block"):
        raise RuleError(path, line_of(d, "scope"), f"{what}scope must be 'sentence' or 'block'")
    span = merged.get("span", "match")
    if span not in ("match", "sentence"):
        raise RuleError(path, line_of(d, "span"), f"{what}span must be 'match' or 'sentence'")
    cond = {}
    for key in ("with", "without"):
        v = merged.get(key, [])
        if v:
            _check_patterns(v, path, line_of(d, key))
        cond[key] = list(v)
    weight = merged.get("weight")
    if weight is not None and not isinstance(weight, (int, float)):
        raise RuleError(path, line_of(d, "weight"), f"{what}weight must be a number")
    requires = merged.get("requires", [])
    for i, r in enumerate(requires):
        if r not in ("voice", "offer"):
            raise RuleError(path, line_of(requires, i), f"{what}unknown requirement {r!r} (known: voice, offer)")
    return Rule(
        id=rid, name=str(merged.get("name") or rid), category=cat, severity=sev, confidence=float(conf),
        description=merged["description"].strip(), rationale=" ".join(merged["rationale"].split()),
        references=list(refs), patterns=list(pats), examples={k: list(ex[k]) for k in ("fire", "quiet")},
        path=str(path), line=line_of(d), pattern_lines=[line_of(pats, i) for i in range(len(pats))],
        weight=weight, requires=list(requires), ignore=list(ignore), scope=scope, span=span,
        with_=cond["with"], without=cond["without"],
    )


def _parse_rule_file(data, path, categories):
    if not isinstance(data, dict):
        raise RuleError(path, 1, "a rule file must be a mapping with a 'rules' list")
    defaults = LDict((k, v) for k, v in data.items() if k in ("category", "severity", "confidence", "references",
                                                              "requires", "ignore", "scope", "with", "without"))
    defaults.line, defaults.lines = data.line, data.lines
    rules = _need(data, "rules", list, path)
    return [parse_rule(r, path, defaults, categories) for r in rules]


def _parse_context(data, path):
    if not isinstance(data, dict):
        raise RuleError(path, 1, "context.yml must be a mapping with 'triggers' and 'terminators'")
    triggers = []
    for t in _need(data, "triggers", list, path):
        cat = _need(t, "category", str, path, "trigger: ")
        if cat not in CONTEXT_CATEGORIES:
            raise RuleError(path, line_of(t, "category"), f"trigger: unknown category {cat!r} "
                            f"(known: {', '.join(CONTEXT_CATEGORIES)})")
        direction = t.get("direction", "forward")
        if direction not in DIRECTIONS:
            raise RuleError(path, line_of(t, "direction"), f"trigger: direction must be one of {', '.join(DIRECTIONS)}")
        phrases = _need(t, "phrases", list, path, "trigger: ")
        _check_patterns(phrases, path, line_of(t, "phrases"))
        scope = t.get("max_scope", 8)
        if not isinstance(scope, int) or scope < 0:
            raise RuleError(path, line_of(t, "max_scope"), "trigger: max_scope must be a whole number of tokens")
        triggers.append(Trigger(cat, direction, list(phrases), scope, str(path), line_of(t),
                                [line_of(phrases, i) for i in range(len(phrases))], str(t.get("name", cat))))
    terms = data.get("terminators", [])
    _check_patterns(terms, path, line_of(data, "terminators"))
    return triggers, list(terms), [line_of(terms, i) for i in range(len(terms))]


def _parse_candidates(data, path) -> dict:
    cats = _need(data, "categories", dict, path)
    out = {}
    for cat, cfg in cats.items():
        if cat not in CATEGORIES:
            raise RuleError(path, line_of(cats, cat), f"candidates: unknown category {cat!r} "
                            f"(known: {', '.join(CATEGORIES)})")
        phrases = _need(cfg, "phrases", list, path, f"candidates {cat}: ")
        sev = cfg.get("severity", "medium")
        if sev not in SEVERITIES:
            raise RuleError(path, line_of(cfg, "severity"), f"candidates {cat}: severity must be one of "
                            f"{', '.join(SEVERITIES)}, not {sev!r}")
        _check_patterns(phrases, path, line_of(cfg, "phrases"))
        out[cat] = Candidates(cat, list(phrases), str(path), line_of(cfg),
                              [line_of(phrases, i) for i in range(len(phrases))], str(cfg.get("source", "")), sev)
    return out


def load_rules(root: Optional[Path] = None) -> RuleSet:
    """Read every YAML file under root (default: the bundled rules) into one validated RuleSet."""
    root = Path(root) if root else default_rules_dir()
    if not root.is_dir():
        raise RuleError(root, 0, "not a folder of rule files")
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml"))
    if not files:
        raise RuleError(root, 0, "no .yml rule files here")
    digest = hashlib.sha256()
    rules, mitigations, triggers, terminators, lexicons, scoring, page_rules = [], [], [], [], {}, {}, {}
    candidates: dict = {}
    for path in files:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        data = load_yaml(path)
        kind = data.get("kind", "rules") if isinstance(data, dict) else "rules"
        if kind == "context":
            t, terms, term_lines = _parse_context(data, path)
            triggers += t
            terminators += [(x, str(path), ln) for x, ln in zip(terms, term_lines)]
        elif kind == "lexicon":
            name = _need(data, "name", str, path)
            if name in lexicons:
                raise RuleError(path, line_of(data, "name"), f"lexicon {name!r} is defined twice")
            terms = _need(data, "terms", (list, dict), path)
            lexicons[name] = terms
            lexicons[name + ".__path__"] = str(path)
        elif kind == "scoring":
            scoring = data
            scoring["__path__"] = str(path)
        elif kind == "page":
            for cat, cfg in _need(data, "page_rules", dict, path).items():
                if cat not in PAGE_CATEGORIES:
                    raise RuleError(path, line_of(data["page_rules"], cat), f"unknown page-level category {cat!r}")
                for key in ("description", "rationale", "references", "severity"):
                    if key not in cfg:
                        raise RuleError(path, line_of(cfg), f"page rule {cat}: missing {key!r}")
                cfg["__path__"] = str(path)
                page_rules[cat] = cfg
        elif kind == "candidates":
            for cat, cand in _parse_candidates(data, path).items():
                if cat in candidates:
                    raise RuleError(path, cand.line, f"candidates for {cat!r} are defined twice")
                candidates[cat] = cand
        elif kind == "mitigations":
            mitigations += _parse_rule_file(data, path, ("mitigation",))
        elif kind == "rules":
            rules += _parse_rule_file(data, path, CATEGORIES)
        else:
            raise RuleError(path, line_of(data, "kind"), f"unknown kind {kind!r} "
                            "(rules, mitigations, context, lexicon, scoring, page, candidates)")
    seen = {}
    for r in rules + mitigations:
        if r.id in seen:
            raise RuleError(r.path, r.line, f"rule id {r.id!r} already defined at {seen[r.id]}")
        seen[r.id] = r.where
    if not scoring:
        raise RuleError(root, 0, "no scoring file (kind: scoring) among the rules")
    return RuleSet(rules, triggers, terminators, lexicons, scoring, mitigations, page_rules,
                   version=digest.hexdigest()[:12], root=str(root), files=[str(f) for f in files],
                   candidates=candidates)
