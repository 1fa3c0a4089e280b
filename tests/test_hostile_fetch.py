"""Hostile responses against the crawler (issue 10, items 2, 8, 9, 10, 11): decompression bombs,
non-ASCII URLs, Crawl-delay and site time, robots.txt edge cases, charsets and binary bodies.
Every server is on 127.0.0.1; every crawl is bounded by asyncio.wait_for or a subprocess timeout."""
import asyncio
import brotli
import json
import subprocess
import sys
import time
import zlib
from dataclasses import replace

import pytest
from warcio.archiveiterator import ArchiveIterator

from auditor.acquire.crawl import Crawler
from auditor.acquire.warc import read_sites
from auditor.config import CrawlConfig
from conftest import ROOT, run_cli
from hostile import Routes, html

CFG = CrawlConfig(delay=0, jitter=0, timeout=20, request_timeout=5, connect_timeout=2, read_timeout=3, retries=0,
                  max_pages=5, max_bytes=1_000_000, warc=False, allow_private=True,
                  contact="https://example.org/tests")


def crawl(cfg, url, bound=30, warc=None):
    async def go():
        c = Crawler(cfg, warc)
        try:
            return await asyncio.wait_for(c.crawl_site(url), bound)
        finally:
            await c.aclose()
    return asyncio.run(go())


# -- item 2: decompression bombs --------------------------------------------------------------
def _bomb(encoding: str, size: int = 256 << 20) -> bytes:
    zeros = b"\0" * (16 << 20)
    if encoding == "br":
        c = brotli.Compressor(quality=5)
        return b"".join([c.process(zeros) for _ in range(size // len(zeros))] + [c.finish()])
    c = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    return b"".join([c.compress(zeros) for _ in range(size // len(zeros))] + [c.flush()])


_CHILD = r"""
import asyncio, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))     # the test bounds its own memory
from auditor.acquire.crawl import Crawler
from auditor.acquire.warc import read_sites
from auditor.config import CrawlConfig
cfg = CrawlConfig(delay=0, jitter=0, request_timeout=20, retries=0, max_bytes=1_000_000, warc=False,
                  allow_private=True, obey_robots=False, only_url=True)
async def go(url):
    c = Crawler(cfg)
    try:
        return await c.crawl_site(url)
    finally:
        await c.aclose()
base = sys.argv[1]
asyncio.run(go(base + "/small"))                                # warm up: imports, connections
out = {}
for enc in sys.argv[2:]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    docs, errors, _ = asyncio.run(go(base + "/" + enc))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out[enc] = {"grew_mb": (after - before) / 1024, "errors": [e.reason for e in errors], "docs": len(docs)}
print(json.dumps(out))
"""


def test_decompression_bombs_cost_no_more_than_the_limit():
    """256 MB of zeros in 405 bytes (br) or 255 KB (gzip, deflate): each fetch stops at the 1 MB
    limit and the crawler's peak memory grows by far less than the inflated size."""
    encodings = ["br", "gzip", "deflate"]
    routes = {"/small": lambda h: h.send(200, html("<p>small</p>"))}
    for enc in encodings:
        bomb = _bomb(enc)
        routes["/" + enc] = (lambda b, e: lambda h: h.send(200, b, headers=[("Content-Encoding", e)]))(bomb, enc)
    with Routes(routes) as srv:
        r = subprocess.run([sys.executable, "-c", _CHILD, srv.url, *encodings], capture_output=True, timeout=120,
                           cwd=ROOT)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    for enc, out in json.loads(r.stdout).items():
        assert out["docs"] == 0 and out["errors"][0].startswith("too large: the body passed the 1,000,000-byte limit")
        assert out["grew_mb"] < 32, f"{enc} bomb: peak memory grew by {out['grew_mb']:.0f} MB"


# -- item 8: non-ASCII URLs ------------------------------------------------------------------
def _clinica_routes():
    page = html("<p>Clínica regenerativa. Satisfaction guaranteed.</p>"
                "<a href='/tratamientos/células madre'>Células madre</a> <a href='/vieja'>old</a>")
    return {"/cl%C3%ADnica": lambda h: h.send(200, page),
            "/tratamientos/c%C3%A9lulas%20madre":
                lambda h: h.send(200, html("<p>Our exosome therapy is FDA approved.</p>")),
            # raw UTF-8 bytes in Location, as some servers send them
            "/vieja": lambda h: h.send_raw(b"HTTP/1.1 301 Moved\r\nContent-Length: 0\r\nLocation: /se\xc3\xb1al"),
            "/se%C3%B1al": lambda h: h.send(200, html("<p>Se\u00f1al.</p>"))}


def test_non_ascii_start_url_links_and_location_are_fetched_and_archived(tmp_path):
    with Routes(_clinica_routes()) as srv:
        r = run_cli("audit", "--allow-private", "--delay", "0", "--jitter", "0", "--output-dir", tmp_path, "-f", "json",
                    srv.url + "/clínica")
        assert r.returncode == 0, r.stderr.decode()[-2000:]
        asked = srv.paths()
    rep = json.loads(r.stdout)
    assert rep["target"] == srv.url + "/clínica"
    urls = [p["url"] for p in rep["pages"]]
    assert urls == [srv.url + "/cl%C3%ADnica", srv.url + "/tratamientos/c%C3%A9lulas%20madre",
                    srv.url + "/se%C3%B1al"], urls
    assert {"/cl%C3%ADnica", "/tratamientos/c%C3%A9lulas%20madre", "/vieja", "/se%C3%B1al"} <= set(asked)
    warc = next(tmp_path.glob("*.warc.gz"))
    with open(warc, "rb") as fh:
        uris = [rec.rec_headers.get_header("WARC-Target-URI") for rec in ArchiveIterator(fh)
                if rec.rec_type == "response"]
    assert srv.url + "/cl%C3%ADnica" in uris and all(u.isascii() for u in uris)
    # encoded once: the archive gives back the same pages
    assert [[d.url for d in docs] for _, docs, _ in read_sites(warc)] == [urls]


def test_non_ascii_url_in_a_batch_is_audited(tmp_path):
    with Routes(_clinica_routes()) as srv:
        inp = tmp_path / "list.txt"
        inp.write_text(srv.url + "/clínica\n", encoding="utf-8")
        r = run_cli("batch", inp, "--allow-private", "--delay", "0", "--jitter", "0", "--output-dir", tmp_path / "out",
                    "--formats", "json", "-q")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    line = json.loads((tmp_path / "out" / "run-1" / "summary.jsonl").read_text(encoding="utf-8"))
    assert line["url"] == srv.url + "/cl%C3%ADnica" and line["error"] is None and line["band"]


# -- item 9: Crawl-delay and the site's time ---------------------------------------------------
def test_a_huge_crawl_delay_is_refused_at_once():
    routes = {"/robots.txt": lambda h: h.send(200, b"User-agent: *\nCrawl-delay: 999999\n", "text/plain"),
              "/": lambda h: h.send(200, html("<p>hello</p>"))}
    t = time.monotonic()
    with Routes(routes) as srv:
        docs, errors, _ = crawl(CFG, srv.url + "/", bound=15)
        assert srv.paths() == ["/robots.txt"]
    assert time.monotonic() - t < 5
    assert docs == [] and errors[0].reason.startswith("crawl-delay too long: robots.txt asks for 999999 s")


def test_timeout_bounds_the_whole_site_and_keeps_what_was_fetched():
    """Crawl-delay 0.6 s (allowed) and 10 linked pages, with --timeout 1.5: the site stops after
    about 1.5 s with the pages fetched by then, and says so."""
    links = "".join(f"<a href='/p{i}'>treatment {i}</a>" for i in range(10))
    routes = {"/robots.txt": lambda h: h.send(200, b"User-agent: *\nCrawl-delay: 0.6\n", "text/plain"),
              "/": lambda h: h.send(200, html("<p>Satisfaction guaranteed.</p>" + links))}
    routes.update({f"/p{i}": (lambda h: h.send(200, html("<p>A page.</p>"))) for i in range(10)})
    t = time.monotonic()
    with Routes(routes) as srv:
        docs, errors, info = crawl(replace(CFG, timeout=1.5, max_pages=10), srv.url + "/", bound=20)
    took = time.monotonic() - t
    assert took < 3, f"the site took {took:.1f} s"
    assert 1 <= len(docs) <= 3
    assert errors[-1].reason.startswith("site time limit: stopped after 1.5 s (--timeout)")
    assert info["timed_out"] and info["queued_not_fetched"] >= 6


# -- item 10: robots.txt per RFC 9309 ---------------------------------------------------------
def test_robots_txt_redirects_are_followed():
    routes = {"/robots.txt": lambda h: h.send(301, headers=[("Location", "/r1")]),
              "/r1": lambda h: h.send(302, headers=[("Location", "/r2")]),
              "/r2": lambda h: h.send(200, b"User-agent: *\nDisallow: /\n", "text/plain"),
              "/": lambda h: h.send(200, html("<p>hello</p>"))}
    with Routes(routes) as srv:
        docs, errors, _ = crawl(CFG, srv.url + "/")
        assert "/" not in srv.paths()
    assert docs == [] and errors[0].reason == "disallowed by robots.txt"


def test_more_than_five_robots_redirects_count_as_no_robots_txt():
    routes = {"/robots.txt": lambda h: h.send(301, headers=[("Location", "/r1")]),
              "/": lambda h: h.send(200, html("<p>hello</p>"))}
    for i in range(1, 7):
        routes[f"/r{i}"] = (lambda n: lambda h: h.send(301, headers=[("Location", f"/r{n + 1}")]))(i)
    with Routes(routes) as srv:
        docs, errors, _ = crawl(CFG, srv.url + "/")
        assert srv.paths().count("/") == 1 and "/r6" not in srv.paths()
    assert len(docs) == 1


def test_an_oversized_robots_txt_is_read_up_to_the_limit():
    """12 MB of robots.txt: the rules in its first 500 KiB apply (a disallow near its start, and one
    at 400 KiB); a rule far past the limit does not."""
    pad = b"# padding padding padding padding padding padding padding padding padding padding\n"
    body = (b"User-agent: *\nDisallow: /private\n" + pad * (400 * 1024 // len(pad)) + b"Disallow: /late\n"
            + pad * (12 * 1024 * 1024 // len(pad)) + b"Disallow: /\n")
    links = "<a href='/private/a'>a</a> <a href='/late/b'>b</a> <a href='/ok'>ok</a>"
    routes = {"/robots.txt": lambda h: h.send(200, body, "text/plain"),
              "/": lambda h: h.send(200, html("<p>hello</p>" + links)),
              "/ok": lambda h: h.send(200, html("<p>ok</p>"))}
    with Routes(routes) as srv:
        docs, errors, _ = crawl(replace(CFG, max_bytes=5_000_000), srv.url + "/")
        asked = srv.paths()
    assert "/private/a" not in asked and "/late/b" not in asked and "/ok" in asked
    assert {e.reason for e in errors} == {"disallowed by robots.txt"}
    assert [d.url for d in docs] == [srv.url + "/", srv.url + "/ok"]


# -- item 11: charsets and binary bodies ------------------------------------------------------
@pytest.mark.parametrize("repeat", [3, 300])        # a short page, and one long enough for detection
def test_utf8_with_a_few_bad_bytes_is_read_as_utf8(repeat):
    text = "<p>Clínica de células madre en México: terapia regenerativa.</p>" * repeat
    body = html(text).replace(b"</body>", b"<p>stray \xe9 byte and \xff\xfe</p></body>")
    with Routes({"/": lambda h: h.send(200, body, "text/html; charset=utf-8")}) as srv:
        docs, errors, _ = crawl(replace(CFG, only_url=True), srv.url + "/")
    assert errors == []
    assert "Clínica de células madre en México" in docs[0].text
    assert "stray \ufffd byte" in docs[0].text and "Ã" not in docs[0].text


def test_a_binary_body_served_as_html_is_an_error():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 8
    with Routes({"/": lambda h: h.send(200, png, "text/html")}) as srv:
        docs, errors, _ = crawl(replace(CFG, only_url=True), srv.url + "/")
    assert docs == []
    assert errors[0].reason == "binary content (control bytes, no markup) served as text/html; not audited"


def test_utf16_html_with_a_bom_is_text_not_binary():
    body = "\ufeff<html><body><p>Satisfaction guaranteed. Clínica.</p></body></html>".encode("utf-16-le")
    with Routes({"/": lambda h: h.send(200, body, "text/html")}) as srv:
        docs, errors, _ = crawl(replace(CFG, only_url=True), srv.url + "/")
    assert errors == [] and "Satisfaction guaranteed. Clínica." in docs[0].text
