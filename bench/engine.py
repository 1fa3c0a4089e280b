"""Words per second of the full engine and of spaCy's bare tokenizer, on the same text, in one run.

    python bench/engine.py [--repeat N] [FILE...]

Default text: the bundled samples plus ../shared/devset and seed texts when present. Prints both
rates and their ratio (the aim is a ratio of at least 0.5) twice: once with each text as its own
page (short excerpts, where the engine's fixed cost per page shows), once with the same words as
one long page. Each round times both on the same text back to back; the ratio printed is the
median of the rounds' ratios, with its quartiles.
"""
import argparse
import statistics
import time
from pathlib import Path

from auditor.model import Page
from auditor.pipeline import Auditor

ROOT = Path(__file__).resolve().parent.parent


def corpus(files):
    if files:
        return [Path(f).read_text(encoding="utf-8") for f in files]
    paths = sorted((ROOT / "samples").glob("*.txt")) + sorted((ROOT.parent / "shared" / "devset" / "texts").glob("*.txt"))
    paths += sorted((ROOT.parent / "shared" / "samples").glob("*.txt"))
    return [p.read_text(encoding="utf-8") for p in paths]


def paired(fns, repeat, clock=time.process_time):
    """Time each function once per round, the order alternating, for `repeat` rounds.

    Returns the times per round. This machine's speed drifts by half or more from one second
    to the next, so the two timings of one round (taken back to back) are compared with each
    other, never a fast moment of one with a slow moment of the other. Both are
    single-threaded, so the process's CPU time is the fairer clock (--wall uses the wall clock).
    """
    rounds = []
    for r in range(repeat):
        times = [0.0] * len(fns)
        for k in (range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))):
            t = clock()
            fns[k]()
            times[k] = clock() - t
        rounds.append(times)
    return rounds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*")
    ap.add_argument("--repeat", type=int, default=20, help="rounds (default 20)")
    ap.add_argument("--wall", action="store_true", help="time with the wall clock, not CPU time")
    a = ap.parse_args()
    texts = corpus(a.files)
    auditor = Auditor()
    tok = auditor.engine.nlp.tokenizer
    for label, batch in ((f"{len(texts)} pages", texts), ("one page", ["\n\n".join(texts)])):
        words = sum(len(t.split()) for t in batch)
        for t in batch:                  # warm caches (lemma cache, vocab) before timing either
            auditor.engine.analyse(Page(url="w", text=t))
        rounds = paired([lambda: [tok(t) for t in batch],
                         lambda: [auditor.engine.analyse(Page(url="b", text=t)) for t in batch]],
                        a.repeat, time.perf_counter if a.wall else time.process_time)
        ratios = sorted(t_tok / t_eng for t_tok, t_eng in rounds)
        q1, med, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        wps_tok = words / statistics.median(t for t, _ in rounds)
        wps_eng = words / statistics.median(t for _, t in rounds)
        print(f"{label}, {words} words, {a.repeat} rounds ({'wall' if a.wall else 'CPU'} time, medians):")
        print(f"  spaCy tokenizer: {wps_tok:12,.0f} words/s")
        print(f"  full engine:     {wps_eng:12,.0f} words/s")
        print(f"  ratio engine/tokenizer: {med:.2f}  (per round, quartiles {q1:.2f} to {q3:.2f})")
        best = min(t for t, _ in rounds) / min(t for _, t in rounds)
        print(f"  (best time of each, wherever it fell: {best:.2f})")


if __name__ == "__main__":
    main()
