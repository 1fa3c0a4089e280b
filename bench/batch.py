"""Batch throughput against its politeness ideal, and peak memory for 500 and for 5,000 sites.

    python bench/batch.py [--sites 500 5000] [--latency 0.1] [--delay 0.5] [--concurrency 64]

A local server (one asyncio loop, one listening socket per site on its own loopback address
127.0.x.y, so every site is its own host) answers every request after a simulated latency. Each
batch runs as a child process, which reports its own peak RSS. The ideal rate is what the
politeness settings allow: a host gets one request at a time, spaced by the delay, and a site is
4 requests of which the first (robots.txt) has no delay before it, so each of the `concurrency`
workers makes 4 requests per (4 * latency + 3 * delay) seconds (as bench/run.py batch).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ("<!DOCTYPE html><html><head><title>Clinic {n}</title></head><body><h1>Clinic {n}</h1>"
        "<p>We offer umbilical cord stem cell injections. Satisfaction guaranteed.</p>"
        "<p>Our stem cells regenerate cartilage. Call us today.</p>"
        "<a href='/treatments'>Treatments</a> <a href='/faq'>FAQ</a></body></html>")


class Server:
    def __init__(self, n_sites: int, latency: float):
        self.n, self.latency = n_sites, latency
        self.requests = 0
        self.loop = asyncio.new_event_loop()
        self.sockets = []
        port = None
        for i in range(n_sites):
            ip = f"127.0.{1 + i // 250}.{1 + i % 250}"
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port or 0))
            port = port or s.getsockname()[1]
            s.listen(64)
            s.setblocking(False)
            self.sockets.append(s)
        self.urls = [f"http://{s.getsockname()[0]}:{port}/" for s in self.sockets]

    async def handle(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                path = line.split()[1].decode() if len(line.split()) > 1 else "/"
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                self.requests += 1
                await asyncio.sleep(self.latency)
                if path == "/robots.txt":
                    body, ctype = b"User-agent: *\nAllow: /\n", "text/plain"
                else:
                    body, ctype = PAGE.format(n=path).encode(), "text/html; charset=utf-8"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
                             % (ctype.encode(), len(body), body))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def start(self):
        async def serve():
            for s in self.sockets:
                await asyncio.start_server(self.handle, sock=s)
        self.loop.run_until_complete(serve())
        threading.Thread(target=self.loop.run_forever, daemon=True).start()


def child(args):
    """Run one batch in this process and print its figures as JSON."""
    from click.testing import CliRunner  # noqa: F401  (imports click's machinery like the CLI does)
    from auditor.cli import main
    t = time.perf_counter()
    try:
        main(["batch", args.input, "--allow-private", "--output-dir", args.out, "--delay", str(args.delay), "--jitter", "0",
              "--max-pages", "3", "--concurrency", str(args.concurrency), "--formats", "json", "-q", "--retries", "0"],
             standalone_mode=False)
    except SystemExit:
        pass
    elapsed = time.perf_counter() - t
    print(json.dumps({"elapsed": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, nargs="+", default=[500, 5000])
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--delay", type=float, default=0.5)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a)
    print(f"latency {a.latency} s, delay {a.delay} s, concurrency {a.concurrency}, 3 pages per site")
    ideal = a.concurrency * 4 / (4 * a.latency + 3 * a.delay)
    for n in a.sites:
        server = Server(n, a.latency)
        server.start()
        with tempfile.TemporaryDirectory() as tmp:
            inp = Path(tmp) / "sites.txt"
            inp.write_text("\n".join(server.urls) + "\n", encoding="utf-8")
            out = subprocess.run([sys.executable, __file__, "--child", "--input", str(inp), "--out", tmp,
                                  "--delay", str(a.delay), "--concurrency", str(a.concurrency)],
                                 capture_output=True, text=True, cwd=ROOT)
            figures = json.loads(out.stdout.strip().splitlines()[-1])
        rate = server.requests / figures["elapsed"]
        print(f"{n:6} sites: {server.requests} requests in {figures['elapsed']:.1f} s = {rate:.1f} req/s; "
              f"ideal {ideal:.1f} req/s; ratio {rate / ideal:.2f}; peak RSS {figures['peak_rss_mb']:.0f} MB")
        server.loop.call_soon_threadsafe(server.loop.stop)
        for s in server.sockets:
            s.close()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
