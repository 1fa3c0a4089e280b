"""Every scale figure of issue 12, each as a ratio measured in one run; printed and written to
bench/results.json.

    python bench/run.py [--quick] [--only NAME ...] [--label before|after] [--out FILE]

Figures (NAME):
  analysis  analysis with the bundled judge vs spaCy's bare tokenizer, paired on the same texts
            (bench corpus: samples/, ../shared/devset texts, ../shared/samples), CPU time, median of
            the per-round ratios (>1 would mean faster than the tokenizer; aim >= 0.7);
  startup   wall time of `auditor scan TINY.txt` (loads the rules and the model) and of
            `auditor --help` / `auditor rules`, each over `python -c "import spacy; spacy.blank('en')"`,
            paired rounds, median (aim <= 1.3);
  workers   `scan --workers 1` time over `--workers 2` time on 2,000 small files (aim >= 1.7);
  batch     batch requests/s over the corrected politeness ideal at concurrency 64 and 256 (aim >= 0.9):
            each site costs robots.txt (latency, no delay before it) then 3 pages (delay + latency
            each), so one worker's ideal is 4 / (4 * latency + 3 * delay) requests/s; the 256 run
            also reports the batch's peak RSS (the 5,000-site batch);
  memory    peak RSS of `auditor scan` of a 10 MB page.

The machine has 2 cores shared with other jobs: every comparison is paired (both sides timed back
to back, the order alternating) and the median of the rounds is kept. results.json keeps the figures
under the run's --label, so a "before" and an "after" run sit side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
AUDITOR = [sys.executable, "-m", "auditor.cli"]
BARE = [sys.executable, "-c", "import spacy; spacy.blank('en')"]


def median_ratio(pairs):
    """pairs of (reference time, measured time): the median of reference / measured, and quartiles."""
    ratios = sorted(a / b for a, b in pairs)
    if len(ratios) > 2:
        q1, med, q3 = statistics.quantiles(ratios, n=4)
    else:
        med = statistics.median(ratios)
        q1, q3 = ratios[0], ratios[-1]
    return round(med, 3), [round(q1, 3), round(q3, 3)]


def timed(cmd, **kw):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, cwd=ROOT, **kw)
    return time.perf_counter() - t, r


def child_rss(cmd, **kw):
    """Run cmd in a fresh child; its peak RSS (MB) via a tiny wrapper that reports RUSAGE_CHILDREN."""
    wrapper = ("import resource,subprocess,sys,time;t=time.perf_counter();"
               "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE);"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024, time.perf_counter()-t, r.returncode);"
               "sys.stderr.write(r.stderr.decode()[-500:])")
    r = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, cwd=ROOT, **kw)
    rss, elapsed, rc = r.stdout.split()
    return float(rss), float(elapsed), int(rc), r.stderr


def bench_analysis(a):
    from engine import corpus, paired
    from auditor.model import Page
    from auditor.pipeline import Auditor
    texts = corpus([])
    auditor = Auditor()
    tok = auditor.engine.nlp.tokenizer
    words = sum(len(t.split()) for t in texts)
    for t in texts:
        auditor.engine.analyse(Page(url="w", text=t))
    rounds = paired([lambda: [tok(t) for t in texts],
                     lambda: [auditor.engine.analyse(Page(url="b", text=t)) for t in texts]],
                    3 if a.quick else 9)
    med, quart = median_ratio(rounds)
    rules_rounds = paired([lambda: [tok(t) for t in texts],
                           lambda: [auditor.engine.analyse(Page(url="b", text=t), judge=None) for t in texts]],
                          3 if a.quick else 7)
    rmed, rquart = median_ratio(rules_rounds)
    return {"ratio": med, "quartiles": quart, "rules_only_ratio": rmed, "rules_only_quartiles": rquart,
            "pages": len(texts), "words": words, "rounds": len(rounds),
            "tokenizer_words_per_s": round(words / statistics.median(t for t, _ in rounds)),
            "engine_words_per_s": round(words / statistics.median(t for _, t in rounds)),
            "note": "tokenizer CPU time / analysis CPU time (judge included), per round, median; "
                    "rules_only: the same with judge=None"}


def bench_startup(a, tmp):
    tiny = Path(tmp) / "tiny.txt"
    tiny.write_text("We offer stem cell therapy.\n", encoding="utf-8")
    cmds = {"scan_tiny_file": AUDITOR + ["scan", "-f", "json", str(tiny)],
            "help": AUDITOR + ["--help"], "rules": AUDITOR + ["rules"]}
    out = {}
    n = 3 if a.quick else 7
    for name, cmd in cmds.items():
        pairs = []
        for r in range(n):
            if r % 2:
                tc, res = timed(cmd)
                tb, _ = timed(BARE)
            else:
                tb, _ = timed(BARE)
                tc, res = timed(cmd)
            if res.returncode not in (0, 1):
                raise RuntimeError(f"{cmd}: exit {res.returncode}: {res.stderr.decode()[-300:]}")
            pairs.append((tc, tb))    # command time / bare spaCy time
        med, quart = median_ratio(pairs)
        out[name] = {"ratio": med, "quartiles": quart, "seconds": round(statistics.median(p[0] for p in pairs), 3),
                     "bare_spacy_seconds": round(statistics.median(p[1] for p in pairs), 3)}
    out["ratio"] = out["scan_tiny_file"]["ratio"]
    out["note"] = "wall time of the command / wall time of import spacy; spacy.blank('en'), paired rounds, median"
    return out


def small_files(folder: Path, n: int):
    from engine import corpus
    paras = [p.strip() for t in corpus([]) for p in t.split("\n\n") if len(p.split()) >= 20]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        # about 150 words: a few paragraphs, cycled through the corpus
        body = "\n\n".join(paras[(i * 3 + k) % len(paras)] for k in range(3))
        (folder / f"page{i:05}.txt").write_text(body, encoding="utf-8")


def bench_workers(a, tmp):
    folder = Path(tmp) / "small"
    n = 400 if a.quick else 2000
    small_files(folder, n)
    probe = subprocess.run(AUDITOR + ["scan", "--help"], capture_output=True, text=True, cwd=ROOT)
    if "--workers" not in probe.stdout:
        return {"ratio": None, "files": n, "note": "scan has no --workers option: everything runs on one core (ratio 1.0 by construction)"}
    pairs, outs = [], {}
    for r in range(1 if a.quick else 3):
        order = (1, 2) if r % 2 == 0 else (2, 1)
        times = {}
        for w in order:
            o = Path(tmp) / f"w{w}.jsonl"
            times[w], res = timed(AUDITOR + ["scan", "--workers", str(w), "-f", "jsonl", "-o", str(o), str(folder)])
            if res.returncode not in (0, 1):
                raise RuntimeError(res.stderr.decode()[-300:])
            outs[w] = o.read_bytes()
        pairs.append((times[1], times[2]))
    med, quart = median_ratio(pairs)
    same = _strip_times(outs[1]) == _strip_times(outs[2])
    return {"ratio": med, "quartiles": quart, "files": n, "rounds": len(pairs),
            "workers1_seconds": round(statistics.median(p[0] for p in pairs), 2),
            "workers2_seconds": round(statistics.median(p[1] for p in pairs), 2),
            "outputs_identical_but_timestamps": same, "cores": os.cpu_count(),
            "note": "wall time --workers 1 / --workers 2 (start-up included), median"}


def _strip_times(data: bytes):
    rows = []
    for line in data.decode().splitlines():
        rep = json.loads(line)
        rep.pop("audited_at", None)
        rows.append(rep)
    return rows


def bench_batch(a):
    from batch import Server
    latency, delay = 0.1, 0.5
    per_worker = 4 / (4 * latency + 3 * delay)
    out = {"latency_s": latency, "delay_s": delay, "pages_per_site": 3,
           "ideal_note": "corrected ideal = concurrency * 4 / (4 * latency + 3 * delay): robots.txt has no delay "
                         "before it; the old bench charged 4 * (latency + delay)"}
    runs = [(64, 300 if a.quick else 1000), (256, 1000 if a.quick else 5000)]
    for conc, n in runs:
        server = Server(n, latency)
        server.start()
        with tempfile.TemporaryDirectory() as tmp:
            inp = Path(tmp) / "sites.txt"
            inp.write_text("\n".join(server.urls) + "\n", encoding="utf-8")
            cmd = [sys.executable, str(ROOT / "bench" / "batch.py"), "--child", "--input", str(inp), "--out", tmp,
                   "--delay", str(delay), "--concurrency", str(conc)]
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            figures = json.loads(r.stdout.strip().splitlines()[-1])
        rate = server.requests / figures["elapsed"]
        ideal = conc * per_worker
        out[f"concurrency_{conc}"] = {"sites": n, "requests": server.requests, "seconds": round(figures["elapsed"], 1),
                                      "requests_per_s": round(rate, 1), "ideal_per_s": round(ideal, 1),
                                      "ratio": round(rate / ideal, 3), "old_ideal_ratio": round(rate / (conc / (latency + delay)), 3),
                                      "peak_rss_mb": round(figures["peak_rss_mb"])}
        server.loop.call_soon_threadsafe(server.loop.stop)
        for s in server.sockets:
            s.close()
    return out


def bench_memory(a, tmp):
    from engine import corpus
    size = int((2 if a.quick else a.page_mb) * 1024 * 1024) - 4096
    text = "\n\n".join(corpus([]))
    big = (text * (size // len(text) + 1))[:size]
    p = Path(tmp) / "big.txt"
    p.write_text(big, encoding="utf-8")
    rss, elapsed, rc, err = child_rss(AUDITOR + ["scan", "-f", "json", "-o", os.devnull, str(p)])
    return {"page_mb": round(size / 2 ** 20, 2), "peak_rss_mb": round(rss), "seconds": round(elapsed, 1),
            "exit": rc, "aim_mb": 300, "ratio": round(rss / 300, 3),
            "note": "peak RSS of `auditor scan` of one page of this size; ratio = RSS / the 300 MB aim"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds (said so in results.json)")
    ap.add_argument("--only", nargs="+", choices=["analysis", "startup", "workers", "batch", "memory"])
    ap.add_argument("--page-mb", type=float, default=10, help="size of the long page for the memory figure (default 10)")
    ap.add_argument("--label", default="current", help="key the figures are kept under in results.json")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    a = ap.parse_args()
    names = a.only or ["analysis", "startup", "workers", "batch", "memory"]
    res = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "quick": a.quick,
           "cores": os.cpu_count(), "load_avg_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            t = time.perf_counter()
            fn = globals()[f"bench_{name}"]
            res[name] = fn(a, tmp) if name in ("startup", "workers", "memory") else fn(a)
            print(f"{name} ({time.perf_counter() - t:.0f} s): {json.dumps(res[name])}", flush=True)
    res["self_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    path = Path(a.out)
    old = json.loads(path.read_text()) if path.exists() else {}
    entry = old.get(a.label, {})
    entry.update(res)
    old[a.label] = entry
    path.write_text(json.dumps(old, indent=2) + "\n", encoding="utf-8")
    print(f"written to {path} under {a.label!r}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
