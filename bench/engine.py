"""Words per second of the full engine and of spaCy's bare tokenizer, on the same text, in one run.

    python bench/engine.py [--repeat N] [FILE...]

Default text: the bundled samples plus ../shared/devset and seed texts when present. Prints both
rates and their ratio (the aim is a ratio of at least 0.5) twice: once with each text as its own
page (short excerpts, where the engine's fixed cost per page shows), once with the same words as
one long page.
"""
import argparse
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


def best_of(fns, repeat, clock=time.process_time):
    """Best time of each function, the runs interleaved so that a busy moment hits both alike.

    Both are single-threaded, so the process's CPU time is the fairer clock on a shared machine
    (--wall uses the wall clock instead)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t = clock()
            fn()
            best[k] = min(best[k], clock() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--wall", action="store_true", help="time with the wall clock, not CPU time")
    a = ap.parse_args()
    texts = corpus(a.files)
    auditor = Auditor()
    tok = auditor.engine.nlp.tokenizer
    for label, batch in ((f"{len(texts)} pages", texts), ("one page", ["\n\n".join(texts)])):
        words = sum(len(t.split()) for t in batch)
        for t in batch:                  # warm caches (lemma cache, vocab) before timing either
            auditor.engine.analyse(Page(url="w", text=t))
        t_tok, t_eng = best_of([lambda: [tok(t) for t in batch],
                                lambda: [auditor.engine.analyse(Page(url="b", text=t)) for t in batch]],
                               a.repeat, time.perf_counter if a.wall else time.process_time)
        wps_tok, wps_eng = words / t_tok, words / t_eng
        print(f"{label}, {words} words, best of {a.repeat} ({'wall' if a.wall else 'CPU'} time):")
        print(f"  spaCy tokenizer: {wps_tok:12,.0f} words/s")
        print(f"  full engine:     {wps_eng:12,.0f} words/s")
        print(f"  ratio engine/tokenizer: {wps_eng / wps_tok:.2f}")


if __name__ == "__main__":
    main()
