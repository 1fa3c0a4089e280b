"""Analyse one page's text: match the rules, weigh the context, and return plain findings.

The flow inside a page:
1. spaCy (blank English + lookup lemmas + sentence bounds) tokenises the text once;
2. one matcher (see compiled.py) finds every rule target, context trigger and terminator,
   disclosure (mitigation), voice and stance signal and lexicon term, told apart by their keys;
   another finds the rules' co-occurrence conditions (`with` / `without`) in the sentences of targets;
3. the ConText step (context.py) decides, per target, whether a trigger in its sentence governs it
   (direction, token distance, no terminator between), or whether a warning lead-in governs its
   whole block;
4. governed targets become `Suppressed` (with the cue), the rest `Finding`s; page-level findings
   (pagelevel.py) are judged last from the page as a whole.

The engine knows nothing of files, HTTP or output formats.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..model import Cue, Finding, Mitigation, Page, Suppressed, severity_rank
from . import segments
from .candidates import propose
from .compiled import CompiledRules
from .decide import decide
from .evidence import evidence, stripped, window
from .nlp import tokenize
from .features import PageFeatures
from .context import SUPPRESSING, PageState, SentenceOf, governing, line_blocks, modifiers, quoted, warned_blocks
from .pagelevel import any_in, page_level
from .rules import Rule, RuleSet


_DEFAULT = object()


@dataclass
class Hit:
    """A rule's match in one sentence, and the context cue that governs it (None: asserted)."""

    rule: Rule
    s: int                  # tokens
    e: int
    si: int                 # sentence index
    cs: int                 # characters
    ce: int
    cue: Optional[Cue] = None


@dataclass
class Analysis:
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    mitigations: list[Mitigation] = field(default_factory=list)
    signals: dict = field(default_factory=dict)


class Engine:
    """Compiled rules plus the shared pipeline; build once per process, call analyse() per page."""

    def __init__(self, ruleset: RuleSet, judge=None):
        self.rs = ruleset
        self.judge = judge        # a judge.Judge, or None: the rules alone decide
        self.c = CompiledRules(ruleset)
        self.nlp = self.c.nlp
        self.rules = self.c.rules
        # the pipeline's components, looked up once (Language.__call__ adds nothing here but time)
        self._procs = [proc for _, proc in self.nlp.pipeline]
        self._fallback = self.c.fallback

    def analyse(self, page: Page, assume_voice: bool = False, judge=_DEFAULT) -> Analysis:
        """Findings of one page. The engine's judge decides unless `judge` says otherwise
        (None: the rules alone, as the rule examples are checked)."""
        judge = self.judge if judge is _DEFAULT else judge
        if len(page.text) > segments.SEGMENT_CHARS:
            # a very long page in pieces: memory grows with tokens held at once (segments.py)
            out, seen, pool = Analysis(), set(), {}
            for a, b in segments.cuts(page):
                segments.merge(out, self._analyse(segments.sub_page(page, a, b), assume_voice, judge), a, seen, pool)
            out.findings.sort(key=lambda f: (f.start if f.start is not None else -1, f.category))
            return out
        return self._analyse(page, assume_voice, judge)

    def _analyse(self, page: Page, assume_voice: bool, judge) -> Analysis:
        st, matches = self.state(page, assume_voice)
        out = Analysis(signals=st.signals)
        hits = self.rule_hits(st, matches["targets"])
        if judge is None:
            self._rule_output(st, hits, out)
            out.findings = _dedupe(out.findings)
            out.suppressed = _dedupe(out.suppressed)
        else:
            cands, pf = self.candidates(st, matches, hits)
            selling = judge.selling(pf.page_words())
            out.findings, out.suppressed = decide(judge, st, cands, pf, self.rs.candidates, selling)
            out.signals["judge"] = judge.id
            out.signals["selling"] = round(selling, 3)
        out.mitigations = self._mitigations(st.doc, matches["mitigate"])
        page = page_level(self.rs.page_rules, self.c.key_name, st, out.findings)
        if judge is not None and judge.page_selling is not None:
            # a list of conditions on a page that does not sell (a review, a warning, a trial
            # registry) is not an offer to treat them: the judge's page voice decides
            page, dismissed = ([f for f in page if f.category != "many-conditions" or selling >= judge.page_selling],
                               [f for f in page if f.category == "many-conditions" and selling < judge.page_selling])
            out.suppressed += [Suppressed(f.rule, f.category, f.text, None, None, None, "judge", None,
                                          probability=round(selling, 3), model=judge.id) for f in dismissed]
        out.findings += page
        out.findings.sort(key=lambda f: (f.start if f.start is not None else -1, f.category))
        return out

    def state(self, page: Page, assume_voice: bool = False) -> tuple[PageState, dict]:
        """Tokenise the page, run the matchers and gather what the judging steps need."""
        c, text = self.c, page.text
        doc = tokenize(self.nlp, text)
        for proc in self._procs:
            # the engine reads lemmas and sentences from user_data; only spaCy's own Matcher
            # (patterns fastmatch cannot compile) needs them written into the doc
            doc = proc(doc, write=self._fallback) if proc is c.lem else proc(doc)
        n = len(doc)
        starts = doc.user_data["auditor_sents"]         # set by nlp.TokenAttributes
        sents = list(zip(starts, starts[1:] + [n]))
        sent_of = SentenceOf(starts)
        found = c.group.run(doc, sents)
        matches = {"targets": [], "context": [], "aux": [], "mitigate": [], "conditions": [], "candidates": [],
                   "cond": found["cond"]}
        kind = c.key_kind
        for m in found["main"]:
            matches[kind[m[0]]].append(m)
        table, _, wids, tok_start = doc.user_data["auditor_words"]
        tok_end = tok_start + table.length[wids]
        mods_by_sent, terms_by_sent = modifiers(matches["context"], c, sent_of, text, tok_start, tok_end)

        # co-occurrence conditions and voice signals
        aux_by_key: dict[str, list[tuple[int, int]]] = {}
        for key, s, e in matches["aux"] + matches["cond"]:
            aux_by_key.setdefault(c.key_name[key], []).append((s, e))
        signals = self._signals(doc, aux_by_key)
        if assume_voice:
            signals["voice"] = True
            signals["commentary"] = False

        # blocks: which block each token sits in, and which blocks a warning lead-in governs
        # a plain-text page's lines matter only to a warning lead-in; most pages have none
        has_warning = any(m.category == "warning" for ms in mods_by_sent.values() for m in ms)
        blocks = page.blocks or (line_blocks(text) if has_warning else [])
        st = PageState(doc, sents, sent_of, mods_by_sent, terms_by_sent, aux_by_key, signals, blocks,
                       [b.start for b in blocks], warned_blocks(text, blocks, mods_by_sent), text, tok_start,
                       tok_end, conditions=matches["conditions"])
        return st, matches

    def candidates(self, st: PageState, matches: dict, hits: list) -> tuple[list, PageFeatures]:
        """The page's candidate claims and the features the judge reads of them."""
        cands = propose(st, matches["candidates"], self.c.key_category, hits)
        return cands, PageFeatures(st, self.nlp.vocab.strings, hits)

    def rule_hits(self, st: PageState, targets) -> list[Hit]:
        """Each rule match whose conditions hold, with the cue that governs it (None: asserted)."""
        c, text, signals = self.c, st.text, st.signals
        commentary = None
        if signals["commentary"]:
            commentary = Cue("commentary", f"page reads as commentary about clinics ({signals['stance']} cues: "
                             + ", ".join(signals["stance_examples"]) + ")", "none")
        hits = []
        candidates = sorted(((c.key_index[key], s, e) for key, s, e in targets), key=lambda m: (m[1], -(m[2] - m[1])))
        for ri, s, e in candidates:
            rule = self.rules[ri]
            si = st.sent_of[s]
            ss, se = st.sents[si]
            # the condition must hold outside the claim itself ("Wharton Jelly-Derived" is a name)
            if rule.with_ and not any_in(st.aux_by_key.get(f"W{ri}"), ss, se, (s, e)):
                continue
            if rule.without and any_in(st.aux_by_key.get(f"X{ri}"), ss, se):
                continue
            if "voice" in rule.requires and not signals["voice"]:
                continue
            cs, ce = st.chars(s, e)
            bi = st.block_of(cs)
            cue = governing(rule.ignore, s, e, si, st)
            if cue is None and "warning" not in rule.ignore and bi in st.warned:
                cue = st.warned[bi]
            if cue is None and commentary is not None and "commentary" not in rule.ignore:
                if rule.category in c.commentary_cats:
                    cue = commentary
                else:
                    q = quoted(text, cs, ce, *st.chars(ss, se))
                    if q is not None:
                        cue = Cue("attributed", f"quoted on a commentary page: {q}", "none")
            hits.append(Hit(rule, s, e, si, cs, ce, cue))
        return hits

    def _rule_output(self, st: PageState, hits: list[Hit], out: Analysis) -> None:
        """The rules alone decide: an asserted hit is a Finding, a governed one is Suppressed."""
        text = st.text
        for h in hits:
            rule = h.rule
            sentence_text, ws, we = window(text, *stripped(text, *st.chars(*st.sents[h.si])), h.cs, h.ce)
            span_text = evidence(text, h.cs, h.ce)
            if h.cue is not None:
                out.suppressed.append(Suppressed(rule.id, rule.category, span_text, sentence_text,
                                                 h.cs, h.ce, h.cue.category, h.cue, sentence_start=ws, sentence_end=we))
                continue
            region = st.blocks[st.block_of(h.cs)].region if st.blocks else "main"
            weighed = [Cue(m.category, m.text, m.direction, *m.char) for m in st.mods_by_sent.get(h.si, [])
                       if m.category not in SUPPRESSING or m.category in rule.ignore]
            out.findings.append(Finding(
                rule=rule.id, category=rule.category, severity=rule.severity, confidence=rule.confidence,
                text=span_text, sentence=sentence_text, start=h.cs, end=h.ce,
                cues=weighed, region=region, note=f"pattern of {rule.id} matched", sentence_start=ws, sentence_end=we))

    def _signals(self, doc, aux_by_key) -> dict:
        c = self.c
        counts, value = {}, 0.0
        for name, key, weight in c.voice:
            n = counts[name] = len(aux_by_key.get(key, ()))
            value += n * weight
        cues = aux_by_key.get("S", ())
        return {"voice_counts": counts, "voice_value": value, "voice": value >= c.voice_threshold,
                "stance": len(cues), "stance_examples": [doc[s:e].text for s, e in cues[:4]],
                "commentary": len(cues) >= c.stance_threshold}

    def _mitigations(self, doc, found) -> list[Mitigation]:
        out, seen = [], set()
        for key, s, e in sorted(found, key=lambda m: m[1]):
            r = self.c.mit_rules[self.c.key_index[key]]
            span = doc[s:e]
            norm = (r.id, span.text.lower())
            if norm in seen:
                continue
            seen.add(norm)
            out.append(Mitigation(r.id, r.name, span.text, span.start_char, span.end_char))
        return out


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
