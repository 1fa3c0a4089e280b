"""Every finding of the bench corpus, with the judge and with the rules alone, as one JSON file:
the check that a speed-up changed no finding.

    python bench/findings.py OUT.json [--cold]   # then: cmp cold.json warm.json

Each page's findings and suppressed matches are kept whole (rule, text, offsets, cues, the judge's
probability and features), its mitigations by rule and offsets; the corpus is bench/engine.py's (samples/,
../shared/devset texts, ../shared/samples).
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import corpus  # noqa: E402

from auditor.model import Page  # noqa: E402
from auditor.pipeline import Auditor  # noqa: E402


def snapshot(auditor, texts) -> dict:
    out = {}
    for mode, judge in (("judge", auditor.judge), ("rules", None)):
        pages = []
        for i, t in enumerate(texts):
            an = auditor.engine.analyse(Page(url=f"p{i}", text=t), judge=judge)
            pages.append({"findings": [f.to_dict() for f in an.findings],
                          "suppressed": [x.to_dict() for x in an.suppressed],
                          "mitigations": [[m.rule, m.start, m.end] for m in an.mitigations]})
        out[mode] = pages
    return out


if __name__ == "__main__":
    texts = corpus([])
    texts.append("\n\n".join(texts))          # and one long page, where the tokenizer's cache is warmed
    if "--cold" in sys.argv:                   # as before the warming: one whole-page call, 10,000 spans cached
        from auditor.analyse import nlp
        nlp.WARM_AT = float("inf")
        nlp.CACHE_SPANS = 10_000
    snap = snapshot(Auditor(), texts)
    Path(sys.argv[1]).write_text(json.dumps(snap, indent=0, sort_keys=True), encoding="utf-8")
    print(f"{len(texts)} pages: {sum(len(p['findings']) for p in snap['judge'])} findings with the judge, "
          f"{sum(len(p['findings']) for p in snap['rules'])} with the rules alone")
