"""The rule set compiled for matching: every rule, context trigger, terminator, disclosure,
voice and stance signal and lexicon term as patterns of one matcher, told apart by their keys.

One main matcher serves them all (one pass over a page's candidates); a second holds the rules'
co-occurrence conditions (`with` / `without`) and runs only in sentences where a rule matched.
A pattern that does not compile fails here with the `path:line` of the rule file it came from.
"""
from __future__ import annotations

from spacy.schemas import validate_token_pattern

from .fastmatch import FastMatcher, MatcherGroup
from .nlp import build_nlp, lemmatizer
from .patterns import PatternError, compile_phrase, op_problem, regex_problem
from .rules import Rule, RuleError, RuleSet

# what the first letter of a main-matcher key says it is
KINDS = {"K": "candidates", "R": "targets", "T": "context", "M": "mitigate", "V": "aux", "S": "aux", "P": "aux", "C": "conditions"}


class CompiledRules:
    """The matchers built from a RuleSet, and the tables that map a match's key back to its rule."""

    def __init__(self, ruleset: RuleSet):
        self.rs = ruleset
        self.nlp = build_nlp()
        self.lem = lemmatizer(self.nlp)
        self._tokens: dict[str, list[str]] = {}
        vocab = self.nlp.vocab
        self.main = FastMatcher(vocab)
        self.cond = FastMatcher(vocab)
        self.rules: list[Rule] = list(ruleset.rules)
        self.mit_rules: list[Rule] = list(ruleset.mitigations)
        for i, r in enumerate(self.rules):
            self._add(self.main, f"R{i}", r.patterns, r.path, r.pattern_lines, greedy="LONGEST")
        for i, r in enumerate(self.mit_rules):
            self._add(self.main, f"M{i}", r.patterns, r.path, r.pattern_lines, greedy="LONGEST")
        self.triggers = list(ruleset.triggers)
        for i, t in enumerate(self.triggers):
            self._add(self.main, f"T{i}", t.phrases, t.path, t.pattern_lines, greedy="LONGEST")
        for term, path, line in ruleset.terminators:
            self._add(self.main, "TERM", [term], path, [line])
        for cat, cand in ruleset.candidates.items():
            self._add(self.main, f"K:{cat}", cand.phrases, cand.path, cand.pattern_lines)
        self._compile_aux()
        self._compile_lexicons()
        strings = vocab.strings
        # which part of the analysis each key of the main matcher feeds
        self.key_kind = {strings.add(k): KINDS[k[0]] for k, _, _ in self.main.source}
        targets = {h for h, kind in self.key_kind.items() if kind == "targets"}
        self.group = MatcherGroup({"main": self.main, "cond": self.cond}, within={"cond": ("main", targets)})
        # spaCy's own Matcher runs the patterns fastmatch cannot compile; it needs lemmas in the doc
        self.fallback = any(m._n_fallback for m in self.group.matchers.values())
        # each matcher key's name, and the rule or trigger number in it ("R12" -> 12)
        self.key_name = {strings.add(k): k for m in self.group.matchers.values() for k, _, _ in m.source}
        self.key_index = {h: int(k[1:]) for h, k in self.key_name.items() if k[:1] in "RMT" and k[1:].isdigit()}
        # candidate keys ("K:guarantee") -> their category
        self.key_category = {h: k[2:] for h, k in self.key_name.items() if k.startswith("K:")}
        sc = ruleset.scoring
        stance = sc.get("stance", {})
        self.commentary_cats = set(stance.get("categories", []))
        self.stance_threshold = int(stance.get("threshold", 10 ** 9))
        voice = sc.get("voice", {})
        weights = voice.get("weights", {})
        self.voice = [(name, f"V:{name}", float(weights.get(name, 1))) for name in (voice.get("patterns") or {})]
        self.voice_threshold = float(voice.get("threshold", 3))

    def _tokenize(self, s: str) -> list[str]:
        # the rule phrases' 3,200 slots hold only 1,400 distinct strings: each is tokenized once
        got = self._tokens.get(s)
        if got is None:
            got = self._tokens[s] = [t.text for t in self.nlp.tokenizer(s) if not t.is_space]
        return list(got)

    def compile(self, pattern, path="", line=0):
        if isinstance(pattern, list):
            return [dict(t) for t in pattern]
        try:
            return compile_phrase(pattern, self._tokenize, self.lem.lemma, self.rs.lexicons)
        except PatternError as e:
            raise RuleError(path, line, str(e)) from None

    def _add(self, matcher, key, patterns, path, lines, greedy=None):
        compiled = []
        for p, ln in zip(patterns, lines or [0] * len(patterns)):
            cp = self.compile(p, path, ln)
            problems = validate_token_pattern(cp)   # spaCy's own schema check of a token pattern
            if problems:
                raise RuleError(path, ln, f"bad token pattern: {problems[0]}")
            problem = next(filter(None, (_token_problem(t) for t in cp)), None)
            if problem:
                raise RuleError(path, ln, problem)
            compiled.append(cp)
        matcher.add(key, compiled, greedy=greedy)

    def _compile_aux(self):
        for i, r in enumerate(self.rules):
            if r.with_:
                self._add(self.cond, f"W{i}", r.with_, r.path, [r.line] * len(r.with_))
            if r.without:
                self._add(self.cond, f"X{i}", r.without, r.path, [r.line] * len(r.without))
        voice = self.rs.scoring.get("voice", {})
        for name, pats in (voice.get("patterns") or {}).items():
            self._add(self.main, f"V:{name}", pats, self.rs.scoring.get("__path__", ""), None)
        stance = self.rs.scoring.get("stance", {})
        if stance.get("patterns"):
            self._add(self.main, "S", stance["patterns"], self.rs.scoring.get("__path__", ""), None)
        for cat, cfg in self.rs.page_rules.items():
            for key in ("risk_terms", "treat_terms", "not_offered"):
                if cfg.get(key):
                    self._add(self.main, f"P:{cat}:{key}", cfg[key], cfg["__path__"], None)

    def _compile_lexicons(self):
        # the condition lexicon, as phrases of lowercase words
        groups = self.rs.lexicons.get("conditions")
        if isinstance(groups, dict):
            for group, terms in groups.items():
                phrases = [[{"LOWER": t.lower_} for t in self.nlp.make_doc(term) if not t.is_space] for term in terms]
                self.main.add(f"C:{group}", [p for p in phrases if p])


def _token_problem(tok: dict):
    """An operator that cannot match ({9,2}) or a REGEX that does not compile or can take
    exponential time, anywhere in one token of a pattern; None when the token is fine."""
    problem = op_problem(tok.get("OP"))
    if problem:
        return problem
    todo = [v for k, v in tok.items() if k != "OP"]
    while todo:
        v = todo.pop()
        if isinstance(v, dict):
            for k, sub in v.items():
                if k == "REGEX":
                    problem = regex_problem(sub)
                    if problem:
                        return problem
                else:
                    todo.append(sub)
    return None
