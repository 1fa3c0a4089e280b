"""Analyse one page's text: match the rules, weigh the context, and return plain findings.

The flow inside a page:
1. spaCy (blank English + lookup lemmas + sentence bounds) tokenises the text once;
2. one matcher (fastmatch) finds every rule target, context trigger and terminator, disclosure
   (mitigation), voice and stance signal and lexicon term, told apart by their keys; another
   finds the rules' co-occurrence conditions (`with` / `without`) in the sentences of targets;
3. the ConText step decides, per target, whether a trigger in its sentence governs it (direction,
   token distance, no terminator between), or whether a warning lead-in governs its whole block;
4. governed targets become `Suppressed` (with the cue), the rest `Finding`s; page-level findings
   (many-conditions, missing-risk-disclosure) are judged last from the page as a whole.

The engine knows nothing of files, HTTP or output formats.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Optional

from spacy.schemas import validate_token_pattern

from .fastmatch import FastMatcher, MatcherGroup

from .model import Block, Cue, Finding, Mitigation, Page, Suppressed, severity_rank
from .nlp import build_nlp, lemmatizer
from .patterns import PatternError, compile_phrase
from .rules import Rule, RuleError, RuleSet

SUPPRESSING = ("negated", "hedged", "hypothetical", "question", "attributed", "warning", "commentary")
BULLET = re.compile(r"^\s*(?:[-–—•*▪◦●‣]|\d{1,2}[.)])\s+")


@dataclass
class Analysis:
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    mitigations: list[Mitigation] = field(default_factory=list)
    signals: dict = field(default_factory=dict)


@dataclass
class _State:
    """What one analysis knows about its page, shared by the steps that judge it."""

    doc: object
    sents: list            # (start, end) token offsets
    sent_of: "_SentenceOf"  # token index -> sentence index
    mods_by_sent: dict     # sentence index -> [_Mod]
    terms_by_sent: dict    # sentence index -> [token index of a terminator]
    aux_by_key: dict       # matcher key -> [(start, end)]
    signals: dict
    blocks: list
    block_starts: list
    warned: dict           # block index -> warning Cue

    text: str = ""          # the page text (doc.text would rebuild it from every token)
    tok_start: object = None   # token index -> char offset (numpy: only matched tokens are read)
    tok_end: object = None
    conditions: list = ()      # matches of the condition lexicon

    def block_of(self, char: int) -> int:
        return max(0, bisect.bisect_right(self.block_starts, char) - 1)

    def chars(self, s: int, e: int) -> tuple[int, int]:
        """Character offsets of tokens s..e (no Span objects on the hot path)."""
        return int(self.tok_start[s]), int(self.tok_end[e - 1])


@dataclass
class _Mod:
    category: str
    direction: str
    scope: int
    start: int
    end: int
    text: str
    char: tuple


class Engine:
    """Compiled rules plus the shared pipeline; build once per process, call analyse() per page."""

    def __init__(self, ruleset: RuleSet):
        self.rs = ruleset
        self.nlp = build_nlp()
        self.lem = lemmatizer(self.nlp)
        vocab = self.nlp.vocab
        # one matcher for every rule, trigger, terminator, signal, disclosure and lexicon pattern
        # (their keys tell them apart: one pass over a page's candidates serves them all), and
        # one for the rules' with/without conditions, run only in sentences where a rule matched
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
        for j, (term, path, line) in enumerate(ruleset.terminators):
            self._add(self.main, "TERM", [term], path, [line])
        self._compile_aux()
        self._compile_lexicons()
        strings = vocab.strings
        # which part of the analysis each key of the main matcher feeds
        self._key_kind = {strings.add(k): _KINDS[k[0]] for k, _, _ in self.main.source}
        targets = {h for h, kind in self._key_kind.items() if kind == "targets"}
        self.group = MatcherGroup({"main": self.main, "cond": self.cond}, within={"cond": ("main", targets)})
        self.sc = ruleset.scoring
        # what analyse() reads on every page, looked up once
        self._procs = [proc for _, proc in self.nlp.pipeline]
        self._fallback = any(m._n_fallback for m in self.group.matchers.values())
        # each matcher key's name, and the rule or trigger number in it ("R12" -> 12)
        self._key_name = {vocab.strings.add(k): k for m in self.group.matchers.values() for k, _, _ in m.source}
        self._key_index = {h: int(k[1:]) for h, k in self._key_name.items() if k[:1] in "RMT" and k[1:].isdigit()}
        stance = self.sc.get("stance", {})
        self._commentary_cats = set(stance.get("categories", []))
        self._stance_threshold = int(stance.get("threshold", 10 ** 9))
        voice = self.sc.get("voice", {})
        weights = voice.get("weights", {})
        self._voice = [(name, f"V:{name}", float(weights.get(name, 1))) for name in (voice.get("patterns") or {})]
        self._voice_threshold = float(voice.get("threshold", 3))

    # -- compiling ---------------------------------------------------------------------------
    def _tokenize(self, s: str) -> list[str]:
        return [t.text for t in self.nlp.tokenizer(s) if not t.is_space]

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
        page = self.rs.page_rules
        for cat, cfg in page.items():
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

    # -- analysis ----------------------------------------------------------------------------
    def analyse(self, page: Page, assume_voice: bool = False) -> Analysis:
        text = page.text
        # the pipeline's components in turn (Language.__call__ adds nothing here but time)
        doc = self.nlp.tokenizer(text)
        for proc in self._procs:
            # the engine reads lemmas and sentences from user_data; only spaCy's own Matcher
            # (patterns fastmatch cannot compile) needs them written into the doc
            doc = proc(doc, write=self._fallback) if proc is self.lem else proc(doc)
        n = len(doc)
        starts = doc.user_data["auditor_sents"]         # set by nlp.TokenAttributes
        sents = list(zip(starts, starts[1:] + [n]))
        sent_of = _SentenceOf(starts)
        found = self.group.run(doc, sents)
        matches = {"targets": [], "context": [], "aux": [], "mitigate": [], "conditions": [], "cond": found["cond"]}
        kind = self._key_kind
        for m in found["main"]:
            matches[kind[m[0]]].append(m)
        table, _, wids, tok_start = doc.user_data["auditor_words"]
        tok_end = tok_start + table.length[wids]

        # context triggers and terminators
        mods_by_sent: dict[int, list[_Mod]] = {}
        terms_by_sent: dict[int, list[int]] = {}
        pseudo: list[tuple[int, int]] = []
        raw_mods = []
        key_name, key_index = self._key_name, self._key_index
        for key, s, e in matches["context"]:
            if key_name[key] == "TERM":
                terms_by_sent.setdefault(sent_of[s], []).append(s)
                continue
            t = self.triggers[key_index[key]]
            if t.category == "pseudo":
                pseudo.append((s, e))
                continue
            raw_mods.append((t, s, e))
        for t, s, e in raw_mods:
            if any(ps <= s and e <= pe for ps, pe in pseudo):
                continue
            cs, ce = int(tok_start[s]), int(tok_end[e - 1])
            mods_by_sent.setdefault(sent_of[s], []).append(
                _Mod(t.category, t.direction, t.max_scope, s, e, text[cs:ce], (cs, ce)))
        for v in terms_by_sent.values():
            v.sort()

        # co-occurrence conditions and voice signals
        aux_by_key: dict[str, list[tuple[int, int]]] = {}
        for key, s, e in matches["aux"] + matches["cond"]:
            aux_by_key.setdefault(key_name[key], []).append((s, e))
        signals = self._signals(doc, aux_by_key)
        if assume_voice:
            signals["voice"] = True
            signals["commentary"] = False
        commentary = None
        commentary_cats = self._commentary_cats
        if signals["commentary"]:
            commentary = Cue("commentary", f"page reads as commentary about clinics ({signals['stance']} cues: "
                             + ", ".join(signals["stance_examples"]) + ")", "none")

        # blocks: which block each token sits in, and which blocks a warning lead-in governs
        # a plain-text page's lines matter only to a warning lead-in; most pages have none
        has_warning = any(m.category == "warning" for ms in mods_by_sent.values() for m in ms)
        blocks = page.blocks or (_line_blocks(text) if has_warning else [])
        st = _State(doc, sents, sent_of, mods_by_sent, terms_by_sent, aux_by_key, signals, blocks,
                    [b.start for b in blocks], self._warned_blocks(text, blocks, mods_by_sent), text, tok_start, tok_end,
                    conditions=matches["conditions"])

        out = Analysis(signals=signals)
        candidates = []
        for key, s, e in matches["targets"]:
            candidates.append((key_index[key], s, e))
        candidates.sort(key=lambda c: (c[1], -(c[2] - c[1])))
        for ri, s, e in candidates:
            rule = self.rules[ri]
            si = sent_of[s]
            ss, se = sents[si]
            # the condition must hold outside the claim itself ("Wharton Jelly-Derived" is a name)
            if rule.with_ and not _any_in(aux_by_key.get(f"W{ri}"), ss, se, (s, e)):
                continue
            if rule.without and _any_in(aux_by_key.get(f"X{ri}"), ss, se):
                continue
            if "voice" in rule.requires and not signals["voice"]:
                continue
            cs, ce = st.chars(s, e)
            sc, sce = st.chars(ss, se)
            span_text = text[cs:ce]
            bi = st.block_of(cs)
            region = blocks[bi].region if blocks else "main"
            cue = self._governing(rule, s, e, si, st)
            if cue is None and "warning" not in rule.ignore and bi in st.warned:
                cue = st.warned[bi]
            if cue is None and commentary is not None and "commentary" not in rule.ignore:
                if rule.category in commentary_cats:
                    cue = commentary
                else:
                    q = _quoted(text, cs, ce, sc, sce)
                    if q is not None:
                        cue = Cue("attributed", f"quoted on a commentary page: {q}", "none")
            sentence_text = text[sc:sce].strip()
            if cue is not None:
                out.suppressed.append(Suppressed(rule.id, rule.category, span_text, sentence_text,
                                                 cs, ce, cue.category, cue))
                continue
            weighed = [Cue(m.category, m.text, m.direction, *m.char) for m in mods_by_sent.get(si, [])
                       if m.category not in SUPPRESSING or m.category in rule.ignore]
            out.findings.append(Finding(
                rule=rule.id, category=rule.category, severity=rule.severity, confidence=rule.confidence,
                text=span_text, sentence=sentence_text, start=cs, end=ce,
                cues=weighed, region=region, note=f"pattern of {rule.id} matched"))
        out.findings = _dedupe(out.findings)
        out.suppressed = _dedupe(out.suppressed)
        out.mitigations = self._mitigations(doc, matches["mitigate"])
        out.findings += self._page_level(st, out)
        out.findings.sort(key=lambda f: (f.start if f.start is not None else -1, f.category))
        return out

    def _governing(self, rule, s, e, si, st: _State) -> Optional[Cue]:
        """The first context trigger that governs tokens s..e, ConText-style, or None."""
        doc = st.doc
        terms = st.terms_by_sent.get(si, [])
        # a claim that is one conjunct of a list ("seeks to repair X, reduce Y, and alleviate Z")
        # shares the verb's hedge or negation with the first conjunct
        prev = doc[s - 1].lower_ if s > 0 else ""
        conjunct = prev in ("and", "or", "&")
        for m in st.mods_by_sent.get(si, []):
            if m.category not in SUPPRESSING or m.category in rule.ignore:
                continue
            if m.start < e and s < m.end:   # a cue inside the claim is part of the claim
                continue
            if m.direction in ("forward", "bidirectional") and m.end <= s:
                scope = max(m.scope, 15) if conjunct and m.category == "hedged" else m.scope
                if s - m.end <= scope and not any(m.end <= t < s for t in terms):
                    return Cue(m.category, m.text, m.direction, *m.char)
            if m.direction in ("backward", "bidirectional") and m.start >= e:
                if m.start - e <= m.scope and not any(e <= t < m.start for t in terms):
                    return Cue(m.category, m.text, m.direction, *m.char)
        if "question" not in rule.ignore:
            sc, sce = st.chars(*st.sents[si])
            body = st.text[sc:sce].rstrip()
            if body.endswith("?"):
                return Cue("question", "?", "none", sc + len(body) - 1, sc + len(body))
        return None

    def _warned_blocks(self, text, blocks, mods_by_sent) -> dict[int, Cue]:
        """Blocks governed by a warning lead-in ("Red Flags to Watch For", "Be wary of clinics that:")."""
        if not blocks:
            return {}
        lead_cues = {}
        for si, mods in mods_by_sent.items():
            for m in mods:
                if m.category == "warning":
                    lead_cues.setdefault(m.char[0], m)
        if not lead_cues:
            return {}
        starts = sorted(lead_cues)
        out: dict[int, Cue] = {}
        i = 0
        while i < len(blocks):
            b = blocks[i]
            j = bisect.bisect_left(starts, b.start)
            if j < len(starts) and starts[j] < b.end:
                body = text[b.start:b.end].strip()
                words = len(body.split())
                is_lead = body.endswith(":") or (b.kind == "heading") or (words <= 10 and body[-1:] not in ".!")
                if is_lead:
                    m = lead_cues[starts[j]]
                    cue = Cue("warning", body[:120], "forward", m.char[0], m.char[1])
                    k = i + 1
                    while k < len(blocks):
                        nb = blocks[k]
                        nbody = text[nb.start:nb.end].strip()
                        if not nbody:
                            k += 1
                            continue
                        item = nb.kind == "item" or BULLET.match(nbody) or (
                            len(nbody.split()) <= 12 and nbody[-1:] not in ".:")
                        lead2 = (nbody.endswith(":") and bisect.bisect_left(starts, nb.start) < len(starts)
                                 and starts[bisect.bisect_left(starts, nb.start)] < nb.end)
                        if not (item or lead2) or k - i > 15:
                            break
                        out.setdefault(k, cue)
                        k += 1
            i += 1
        return out

    def _signals(self, doc, aux_by_key) -> dict:
        counts, value = {}, 0.0
        for name, key, weight in self._voice:
            c = counts[name] = len(aux_by_key.get(key, ()))
            value += c * weight
        cues = aux_by_key.get("S", ())
        return {"voice_counts": counts, "voice_value": value, "voice": value >= self._voice_threshold,
                "stance": len(cues), "stance_examples": [doc[s:e].text for s, e in cues[:4]],
                "commentary": len(cues) >= self._stance_threshold}

    def _mitigations(self, doc, found) -> list[Mitigation]:
        out, seen = [], set()
        for key, s, e in sorted(found, key=lambda m: m[1]):
            r = self.mit_rules[self._key_index[key]]
            span = doc[s:e]
            norm = (r.id, span.text.lower())
            if norm in seen:
                continue
            seen.add(norm)
            out.append(Mitigation(r.id, r.name, span.text, span.start_char, span.end_char))
        return out

    def _page_level(self, st: _State, out: Analysis) -> list[Finding]:
        res = []
        pr = self.rs.page_rules
        doc, sent_of, signals = st.doc, st.sent_of, st.signals
        if signals.get("commentary"):
            return res
        cfg = pr.get("many-conditions")
        if cfg:
            f = self._many_conditions(cfg, st)
            if f:
                res.append(f)
        cfg = pr.get("missing-risk-disclosure")
        if cfg and signals["voice"]:
            # "the risks are minimal to none" mentions risk only to deny it
            denied = {sent_of[doc.char_span(f.start, f.end, alignment_mode="expand").start]
                      for f in out.findings if f.category == "risk-minimization"}
            risk = [(s, e) for s, e in st.aux_by_key.get("P:missing-risk-disclosure:risk_terms", [])
                    if sent_of[s] not in denied]
            promotes = len(out.findings) >= int(cfg.get("min_findings", 1))
            if promotes and not risk:
                res.append(Finding(
                    rule="page.missing-risk-disclosure", category="missing-risk-disclosure",
                    severity=cfg["severity"], confidence=float(cfg.get("confidence", 0.6)),
                    text="(no mention of risks, side effects or complications)", sentence=None,
                    start=None, end=None, note=(f"page promotes a treatment ({len(out.findings)} claims, "
                                                f"clinic voice {signals['voice_value']:.0f}) and never "
                                                "mentions risks, side effects or complications")))
        return res

    def _many_conditions(self, cfg, st: _State):
        if "voice" in cfg.get("requires", []) and not st.signals["voice"]:
            return None
        treat = st.aux_by_key.get("P:many-conditions:treat_terms", [])
        notoff = st.aux_by_key.get("P:many-conditions:not_offered", [])
        groups: dict[str, list[str]] = {}
        for key, s, e in st.conditions:
            si = st.sent_of[s]
            ss, se = st.sents[si]
            if any(m.category in SUPPRESSING for m in st.mods_by_sent.get(si, [])):
                continue
            if _any_in(notoff, ss, se):
                continue
            if st.warned and st.block_of(int(st.tok_start[s])) in st.warned:
                continue
            # a condition counts when its sentence speaks of treating it, or it sits in a list
            # whose lead-in does
            if not _any_in(treat, ss, se) and not _any_in(treat, max(0, ss - 60), ss):
                continue
            g = self._key_name[key][2:]
            groups.setdefault(g, [])
            t = st.text[slice(*st.chars(s, e))]
            if t.lower() not in (x.lower() for x in groups[g]):
                groups[g].append(t)
        need = int(cfg.get("min_groups", 3))
        if len(groups) < need:
            return None
        listing = "; ".join(f"{g}: {', '.join(v[:4])}" for g, v in sorted(groups.items()))
        return Finding(rule="page.many-conditions", category="many-conditions", severity=cfg["severity"],
                       confidence=float(cfg.get("confidence", 0.7)), text=listing, sentence=None, start=None,
                       end=None, note=f"conditions from {len(groups)} unrelated disease groups offered for "
                                      f"treatment (threshold {need})")


_OPEN_QUOTES = {"“": "”", '"': '"', "‘": "’", "«": "»"}


def _quoted(text, s, e, ss, se):
    """The quotation (inside the sentence) that encloses s..e, or None."""
    before = text[ss:s]
    # a straight single quote opens a quotation only after a space, or it is an apostrophe
    i = max(before.rfind(" '"), -1 if not before.startswith("'") else 0)
    if i >= 0 and "'" not in before[i + 2:]:
        m = re.search(r"'(?=[\s.,;:!?)]|$)", text[e:se + 1])
        if m:
            return text[ss + i:e + m.end()].strip()[:120]
    for op, cl in _OPEN_QUOTES.items():
        i = before.rfind(op)
        if i < 0:
            continue
        if op == cl and before.count(op) % 2 == 0:
            continue
        if op != cl and before.rfind(cl) > i:
            continue
        j = text.find(cl, e, se + 1)
        if j >= 0:
            return text[ss + i:j + 1][:120]
    return None


# what the first letter of a main-matcher key says it is (see Engine.__init__)
_KINDS = {"R": "targets", "T": "context", "M": "mitigate", "V": "aux", "S": "aux", "P": "aux", "C": "conditions"}


class _SentenceOf:
    """token index -> sentence index, by bisection over the sentence starts: only the tokens of
    matches are ever asked about, so a list over every token would cost more than it saves."""

    __slots__ = ("starts",)

    def __init__(self, starts):
        self.starts = starts

    def __getitem__(self, i: int) -> int:
        return bisect.bisect_right(self.starts, i) - 1


def _any_in(spans, ss, se, outside=None) -> bool:
    """Whether a span (of a list sorted by start) lies within ss..se, and outside `outside` if given."""
    if not spans:
        return False
    for k in range(bisect.bisect_left(spans, (ss,)), len(spans)):
        s, e = spans[k]
        if s >= se:
            return False
        if e <= se and (outside is None or e <= outside[0] or s >= outside[1]):
            return True
    return False


def _line_blocks(text: str) -> list[Block]:
    blocks, pos = [], 0
    for line in text.split("\n"):
        end = pos + len(line)
        if line.strip():
            blocks.append(Block(pos, end, "item" if BULLET.match(line) else "para"))
        pos = end + 1
    return blocks


def _dedupe(items):
    """Overlapping matches of one category keep the most severe, then the longest."""
    items = sorted(items, key=lambda f: (f.start, -(f.end - f.start)))
    kept = []
    for f in items:
        clash = None
        for k in kept[-8:]:
            if k.category == f.category and f.start < k.end and k.start < f.end:
                clash = k
                break
        if clash is None:
            kept.append(f)
        elif hasattr(f, "severity") and severity_rank(f.severity) > severity_rank(clash.severity):
            kept[kept.index(clash)] = f
    return kept
