"""Cut a very long page into segments the engine analyses one at a time, and merge the results.

spaCy's doc, the matchers' spans and the judge's features cost several hundred bytes per
token; a 10 MB page analysed at once needed gigabytes. Pages up to SEGMENT_CHARS are analysed
whole (their findings are unchanged); longer ones are cut at block, paragraph or line
boundaries, each piece analysed as a page of its own, and offsets shifted back into the page.

Limits: a sentence or rule co-occurrence never spans a cut (cuts fall at paragraph breaks where
they can); page-level findings and signals are per segment, merged (one page-level finding per
rule, counts summed, flags or-ed).
"""
from __future__ import annotations

from dataclasses import replace

from ..model import Block, Page

SEGMENT_CHARS = 150_000


def cuts(page: Page, size: int = SEGMENT_CHARS) -> list[tuple[int, int]]:
    """(start, end) character ranges covering page.text, each at most about `size` long."""
    text, n = page.text, len(page.text)
    bounds = sorted({b.start for b in page.blocks if 0 < b.start < n})
    out, a = [], 0
    while n - a > size:
        lo, hi = a + size // 2, a + size
        cut = _last_block_start(bounds, lo, hi)
        if cut is None:
            for sep in ("\n\n", "\n", ". ", " "):
                i = text.rfind(sep, lo, hi)
                if i != -1:
                    cut = i + len(sep)
                    break
            else:
                cut = hi
        out.append((a, cut))
        a = cut
    out.append((a, n))
    return out


def _last_block_start(bounds, lo, hi):
    import bisect
    i = bisect.bisect_right(bounds, hi) - 1
    return bounds[i] if i >= 0 and bounds[i] >= lo else None


def sub_page(page: Page, a: int, b: int) -> Page:
    blocks = [Block(max(x.start, a) - a, min(x.end, b) - a, x.kind, x.region)
              for x in page.blocks if x.end > a and x.start < b]
    return Page(page.url, page.text[a:b], blocks, page.title, page.meta)


def _shift(obj, d: int, names=("start", "end", "sentence_start", "sentence_end")):
    if obj is None:
        return None
    changes = {k: getattr(obj, k) + d for k in names if getattr(obj, k, None) is not None}
    if getattr(obj, "cue", None) is not None:
        changes["cue"] = _shift(obj.cue, d)
    if getattr(obj, "cues", None):
        changes["cues"] = [_shift(c, d) for c in obj.cues]
    return replace(obj, **changes)


def merge_signals(into: dict, new: dict) -> dict:
    for k, v in new.items():
        if k not in into:
            into[k] = v
        elif k == "selling":                      # the page sells if any part of it does
            into[k] = max(into[k], v)
        elif isinstance(v, bool):
            into[k] = into[k] or v
        elif isinstance(v, (int, float)):
            into[k] = into[k] + v
        elif isinstance(v, dict):
            for kk, vv in v.items():
                into[k][kk] = into[k].get(kk, 0) + vv
        elif isinstance(v, list):
            into[k] = (into[k] + v)[:4]
    return into


_SHARED = ("text", "sentence", "note", "model", "rule", "category", "reason", "severity", "region")


def _share(obj, pool: dict):
    """Long pages repeat themselves (listings, boilerplate): equal strings and feature lists of
    different findings become one object, so a page's results cost memory per distinct claim."""
    for k in _SHARED:
        v = getattr(obj, k, None)
        if isinstance(v, str):
            setattr(obj, k, pool.setdefault(v, v))
    v = getattr(obj, "features", None)
    if isinstance(v, list):
        # features are [name, value] pairs: lists, so the key is made of tuples
        obj.features = pool.setdefault(("features", tuple(map(tuple, v))), v)
    return obj


def merge(out, part, offset: int, seen_page_rules: set, pool: dict) -> None:
    """Add one segment's Analysis `part` (offsets relative to `offset`) to `out`."""
    for x in part.findings + part.suppressed:
        _share(x, pool)
    for f in part.findings:
        if f.start is None:
            if (f.rule, f.category) in seen_page_rules:
                continue
            seen_page_rules.add((f.rule, f.category))
            out.findings.append(f)
        else:
            out.findings.append(_shift(f, offset))
    out.suppressed += [s if s.start is None else _shift(s, offset) for s in part.suppressed]
    seen = {(m.rule, m.text.lower()) for m in out.mitigations}
    for m in part.mitigations:
        if (m.rule, m.text.lower()) not in seen:
            seen.add((m.rule, m.text.lower()))
            out.mitigations.append(_shift(m, offset))
    merge_signals(out.signals, part.signals)
