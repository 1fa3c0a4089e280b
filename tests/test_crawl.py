"""The crawler against a real HTTP server on 127.0.0.1: a fixture clinic site and hostile cases."""
import asyncio
import json
from dataclasses import replace

import pytest
from warcio.archiveiterator import ArchiveIterator

from auditor.config import CrawlConfig
from auditor.acquire.crawl import Crawler
from conftest import run_cli
from siteserver import FixtureServer, Site

FAST = CrawlConfig(delay=0.02, jitter=0, timeout=30, request_timeout=3, connect_timeout=2, read_timeout=2,
                   max_bytes=1_000_000, retries=2, contact="https://example.org/tests", warc=False,
                   allow_private=True)       # the test servers are on 127.0.0.1


@pytest.fixture()
def server():
    with FixtureServer() as s:
        yield s


def crawl(cfg, url, warc=None):
    async def go():
        c = Crawler(cfg, warc)
        try:
            return await c.crawl_site(url), c
        finally:
            await c.aclose()
    return asyncio.run(go())


def fetch_one(cfg, url):
    (docs, errors, info), _ = crawl(replace(cfg, only_url=True), url)
    return docs, errors


def test_fixture_site_crawl_skips_traps_offsite_and_files(server):
    (docs, errors, info), crawler = crawl(FAST, server.url + "/")
    fetched = [e["path"] for e in server.site.log]
    urls = {d.url for d in docs}
    assert server.url + "/treatments" in urls and server.url + "/conditions" in urls
    assert server.url + "/treatments-new" in urls                 # reached through the 301
    moved = next(d for d in docs if d.url.endswith("/treatments-new"))
    assert moved.redirects == [server.url + "/moved"]
    assert not any(p.startswith("/calendar") for p in fetched)      # endless calendar: skipped
    assert not any(p.startswith("/list") for p in fetched)          # endless query string: skipped
    assert "/brochure.pdf" not in fetched                           # a file, not a page
    assert "/private/notes" not in fetched                          # robots.txt disallow
    assert all(e["host"].startswith("127.0.0.1") for e in server.site.log)   # off-site never fetched
    assert fetched.count("/faq") == 1                               # fragments de-duplicated
    pdf = [e for e in errors if e.target.endswith("/download")]
    assert pdf and "not HTML or text (application/pdf)" in pdf[0].reason
    assert any(e.reason == "disallowed by robots.txt" and e.target.endswith("/private/notes") for e in errors)
    assert all(e["agent"].startswith("auditor/") and "+https://example.org/tests" in e["agent"]
               for e in server.site.log)
    reasons = dict(info["skipped"])
    assert reasons[f"http://localhost:{server.port}/offsite"] == "off-site"
    assert any("calendar" in why for why in reasons.values())


def test_sitemap_seeds_pages_no_link_reaches(server):
    (docs, errors, info), _ = crawl(FAST, server.url + "/")
    assert "/hidden-offer" not in server.site.hits                    # no link leads there
    (docs, errors, info), _ = crawl(replace(FAST, sitemap=True), server.url + "/")
    assert server.url + "/hidden-offer" in {d.url for d in docs}
    assert all(e["host"].startswith("127.0.0.1") for e in server.site.log)


def test_robots_disallowed_start_page_is_an_error_not_a_fetch(server):
    docs, errors = fetch_one(FAST, server.url + "/private/notes")
    assert docs == [] and errors[0].reason == "disallowed by robots.txt"
    assert "/private/notes" not in [e["path"] for e in server.site.log]
    # --ignore-robots fetches it (and the 404 is the result)
    docs, errors = fetch_one(replace(FAST, obey_robots=False), server.url + "/private/notes")
    assert errors[0].reason == "HTTP 404"


def test_redirect_loop(server):
    docs, errors = fetch_one(FAST, server.url + "/loop1")
    assert docs == [] and errors[0].reason.startswith("redirect loop")
    assert server.site.hits["/loop1"] == 1 and server.site.hits["/loop2"] == 1


def test_50mb_body_is_cut_at_the_limit(server):
    docs, errors = fetch_one(FAST, server.url + "/huge")
    assert docs == [] and errors[0].reason.startswith("too large")


def test_gzip_bomb_is_capped_after_decompression(server):
    docs, errors = fetch_one(FAST, server.url + "/bomb")
    assert docs == [] and "too large" in errors[0].reason and "after decompression" in errors[0].reason


def test_dripping_response_times_out(server):
    import time
    t = time.monotonic()
    docs, errors = fetch_one(replace(FAST, request_timeout=2, retries=0), server.url + "/drip")
    assert docs == [] and errors[0].reason.startswith("timed out")
    assert time.monotonic() - t < 10


@pytest.mark.parametrize("path,expect", [("/latin1", "Café Regenerativo"), ("/nocharset", "“Miracle” stem cells – a")])
def test_wrong_or_missing_charset(server, path, expect):
    docs, errors = fetch_one(FAST, server.url + path)
    assert errors == [] and expect in docs[0].text


def test_429_retry_after_then_200(server):
    docs, errors = fetch_one(FAST, server.url + "/flaky429")
    assert errors == [] and docs[0].status == 200
    times = [e["start"] for e in server.site.log if e["path"] == "/flaky429"]
    assert len(times) == 2 and times[1] - times[0] >= 0.95     # Retry-After: 1 honoured


def test_500_then_200(server):
    docs, errors = fetch_one(FAST, server.url + "/flaky500")
    assert errors == [] and server.site.hits["/flaky500"] == 2


def test_connection_refused_is_a_result():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    docs, errors = fetch_one(FAST, f"http://127.0.0.1:{port}/")
    assert docs == [] and errors[0].reason == "connection refused"
    docs, errors = fetch_one(replace(FAST, obey_robots=False), f"http://127.0.0.1:{port}/")
    assert errors[0].reason == "connection refused"


def test_requests_to_one_host_never_overlap_and_respect_the_delay(server):
    cfg = replace(FAST, delay=0.25, max_pages=6)
    crawl(cfg, server.url + "/")
    log = sorted((e["start"], e["end"]) for e in server.site.log)
    assert len(log) >= 5
    for (s1, e1), (s2, _) in zip(log, log[1:]):
        assert s2 >= e1, "two requests to one host overlapped"
        assert s2 - e1 >= 0.24, f"only {s2 - e1:.3f} s between requests"


def test_crawl_delay_from_robots_is_honoured():
    site = Site(robots="User-agent: *\nCrawl-delay: 0.6\nDisallow: /private/\n")
    with FixtureServer(site) as s:
        crawl(replace(FAST, delay=0.01, max_pages=3), s.url + "/")
        log = sorted((e["start"], e["end"]) for e in s.site.log)
        assert len(log) >= 3
        assert all(b[0] - a[1] >= 0.58 for a, b in zip(log, log[1:]))


def test_audit_cli_writes_report_and_warc_and_scan_reproduces_it(server, tmp_path):
    out = tmp_path / "out"
    r = run_cli("audit", "--allow-private", "--delay", "0.02", "--jitter", "0", "--output-dir", out, "--format", "json",
                "--max-pages", "8", server.url + "/")
    assert r.returncode == 3, r.stderr.decode()[-2000:]      # partial: the PDF is recorded, not audited
    report = json.loads(r.stdout)
    assert report["score"] > 40 and report["band"] in ("high", "severe")
    cats = {f["category"] for p in report["pages"] for f in p["findings"]}
    assert {"fda-misstatement", "guarantee", "unapproved-product", "many-conditions"} <= cats
    # the footer's guarantee stands on every page and is reported once, from the header/footer region
    footer = [f for p in report["pages"] for f in p["findings"] if f["text"].lower().startswith("satisfaction")]
    assert len(footer) == 1 and footer[0]["region"] == "footer"
    for p in report["pages"]:
        assert p["status"] == 200 and p["sha256"] and p["warc_record_id"] and p["fetched_at"]
    warcs = list(out.glob("*.warc.gz"))
    assert len(warcs) == 1
    with open(warcs[0], "rb") as fh:
        recs = [(rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI")) for rec in ArchiveIterator(fh)]
    requests = [u for t, u in recs if t == "request"]
    responses = [u for t, u in recs if t == "response"]
    assert len(requests) == len(server.site.log) == len(responses)   # every fetch, both ways
    # re-audit the archive offline: the same findings
    r2 = run_cli("scan", "--format", "json", warcs[0])
    assert r2.returncode == 0, r2.stderr.decode()
    again = json.loads(r2.stdout)

    def key(rep):
        return sorted((p["url"], f["rule"], f["text"], f["start"], f["end"]) for p in rep["pages"] for f in p["findings"])
    assert key(again) == key(report)
    assert again["score"] == report["score"]
    assert {p["sha256"] for p in again["pages"]} == {p["sha256"] for p in report["pages"]}


def test_ignore_robots_is_loud_and_recorded(server, tmp_path):
    r = run_cli("audit", "--allow-private", "--only-url", "--ignore-robots", "--delay", "0", "--jitter", "0",
                "--output-dir", tmp_path, "--format", "json", server.url + "/treatments")
    assert r.returncode in (0, 1)
    assert b"WARNING" in r.stderr and b"robots.txt will NOT be obeyed" in r.stderr
    assert json.loads(r.stdout)["robots"].startswith("IGNORED")


def test_config_file_and_bad_config(tmp_path, server):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[crawl]\nuser_agent = "TestBot/1.0 (+https://example.org/bot)"\ndelay = 0\njitter = 0\n'
                   'max_pages = 2\n', encoding="utf-8")
    r = run_cli("audit", "--allow-private", "--config", cfg, "--output-dir", tmp_path, "--format", "jsonl",
                server.url + "/")
    assert r.returncode in (0, 1, 3)
    assert {e["agent"] for e in server.site.log} == {"TestBot/1.0 (+https://example.org/bot)"}
    pages = [e for e in server.site.log if e["path"] != "/robots.txt"]
    assert len(pages) == 2
    cfg.write_text("[crawl]\ndelya = 1\n", encoding="utf-8")
    r = run_cli("audit", "--config", cfg, server.url + "/")
    assert r.returncode == 2 and b"unknown setting 'delya'" in r.stderr
