"""`auditor batch` locally vs `auditor batch --dask` on a LocalCluster, same list, same politeness.

    python bench/dask_batch.py [--sites 200] [--latency 0.1] [--delay 0.5] [--workers 2] [--threads 8]
                               [--paragraphs 0]

The sites are bench/batch.py's local server (one loopback address per site, a simulated latency
per request). The local batch runs with --concurrency workers*threads, so both sides have the same
number of sites in flight. The cluster is started (and its workers warmed with a two-site batch)
before the timed run, as a standing cluster would be. Times are wall clock of the whole command.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import batch  # noqa: E402
from batch import ROOT, Server  # noqa: E402

FILLER = ("<p>Patient {i} asked whether stem cell therapy for knee pain is safe; our doctors explain the "
          "procedure, the recovery time and the costs, and we guarantee results. Call us today.</p>")


def run(args, tmp, name, urls, delay, extra=()):
    inp = Path(tmp) / f"{name}.txt"
    inp.write_text("\n".join(urls) + "\n", encoding="utf-8")
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "auditor.cli", "batch", str(inp), "--allow-private", "--output-dir",
                        str(Path(tmp) / name), "--delay", str(delay), "--jitter", "0", "--max-pages", "3",
                        "--formats", "json", "-q", "--retries", "0", *extra], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{name}: exit {r.returncode}: {r.stderr[-1000:]}")
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--delay", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--paragraphs", type=int, default=0, help="extra paragraphs per page: more analysis per site")
    a = ap.parse_args()
    if a.paragraphs:
        filler = "".join(FILLER.format(i=i) for i in range(a.paragraphs)).replace("{", "{{").replace("}", "}}")
        batch.PAGE = batch.PAGE.replace("</body>", filler + "</body>")
    from distributed import LocalCluster
    server = Server(a.sites + 2, a.latency)
    server.start()
    slots = a.workers * a.threads
    with LocalCluster(n_workers=a.workers, threads_per_worker=a.threads, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, tempfile.TemporaryDirectory() as tmp:
        dask = ("--dask", cluster.scheduler_address)
        run(a, tmp, "warm", server.urls[-2:], a.delay, dask)
        sites = server.urls[:a.sites]
        local = run(a, tmp, "local", sites, a.delay, ("--concurrency", str(slots)))
        dist = run(a, tmp, "dask", sites, a.delay, dask)
    print(f"{a.sites} sites, latency {a.latency} s, delay {a.delay} s, 3 pages per site (+{a.paragraphs} "
          f"paragraphs each), {slots} sites in flight:")
    print(f"  local --concurrency {slots}: {local:.1f} s ({a.sites / local:.1f} sites/s)")
    print(f"  --dask LocalCluster({a.workers} processes x {a.threads} threads): {dist:.1f} s "
          f"({a.sites / dist:.1f} sites/s); local/dask time ratio {local / dist:.2f}")


if __name__ == "__main__":
    main()
