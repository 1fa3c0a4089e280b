"""Crawl scope: --include / --exclude patterns, and sitemaps found through robots.txt (gzip, indexes,
hostile ones bounded), against real HTTP servers on 127.0.0.1."""
import asyncio
import gzip
import threading
import time
from dataclasses import replace
from http.server import ThreadingHTTPServer

import pytest

from auditor.acquire.crawl import Crawler
from auditor.acquire.sitemaps import parse
from auditor.config import ConfigError, CrawlConfig, load
from conftest import run_cli
from siteserver import FixtureServer, _Handler, page

FAST = CrawlConfig(allow_private=True, delay=0, jitter=0, timeout=3, connect_timeout=2, read_timeout=2, max_bytes=1_000_000,
                   retries=0, contact="https://example.org/tests", warc=False)


def crawl(cfg, url):
    async def go():
        c = Crawler(cfg)
        try:
            return await c.crawl_site(url)
        finally:
            await c.aclose()
    return asyncio.run(go())


def test_include_and_exclude_choose_which_links_are_followed():
    with FixtureServer() as server:
        docs, errors, info = crawl(replace(FAST, include=(r"/treat", r"/pricing$", r"/about"),
                                           exclude=(r"/about",)), server.url + "/")
        fetched = {e["path"] for e in server.site.log}
    got = {d.url.removeprefix(server.url) for d in docs}
    assert got == {"/", "/treatments", "/pricing"}                   # the start page is always audited
    assert "/faq" not in fetched and "/conditions" not in fetched     # no --include pattern matched
    assert "/about" not in fetched                                    # --exclude wins over --include
    reasons = dict(info["skipped"])
    assert reasons[server.url + "/faq"] == "matches no --include pattern"
    assert reasons[server.url + "/about"] == "excluded by --exclude '/about'"


def test_bad_include_pattern_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="not a regular expression"):
        load(None, include=("(",))
    cfg = tmp_path / "c.toml"
    cfg.write_text('[crawl]\ndelay = "fast"\n', encoding="utf-8")
    r = run_cli("audit", "--config", cfg, "http://127.0.0.1:9/")
    assert r.returncode == 2
    assert r.stderr.decode().strip().splitlines()[-1] == f"auditor: bad configuration: {cfg}: delay = 'fast': input should be a valid number"


class MapSite:
    """robots.txt names a sitemap index; the index names a gzip sitemap, a plain one, an off-site
    one, a gzip bomb and forty more, so the count limit shows."""

    def __init__(self):
        self.hits: list[str] = []
        self.lock = threading.Lock()
        self.bomb = gzip.compress(b"<urlset>" + b" " * (30 * 1024 * 1024), compresslevel=9)

    def handler(self):
        site = self

        class H(_Handler):
            def do_GET(self):
                path = self.path
                with site.lock:
                    site.hits.append(path)
                port = self.server.server_address[1]
                base = f"http://127.0.0.1:{port}"
                if path == "/robots.txt":
                    return self.send(200, f"User-agent: *\nAllow: /\nSitemap: {base}/maps/index.xml\n".encode(),
                                     "text/plain")
                if path == "/maps/index.xml":
                    names = ["a.xml.gz", "b.xml", "bomb.xml.gz"] + [f"extra{i}.xml" for i in range(40)]
                    locs = "".join(f"<sitemap><loc>{base}/maps/{n}</loc></sitemap>" for n in names)
                    locs = f"<sitemap><loc>http://localhost:{port}/maps/offsite.xml</loc></sitemap>" + locs
                    return self.send(200, f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/'
                                          f'schemas/sitemap/0.9">{locs}</sitemapindex>'.encode(), "application/xml")
                if path == "/maps/a.xml.gz":
                    xml = f"<urlset><url><loc>{base}/from-gzip</loc></url></urlset>".encode()
                    return self.send(200, gzip.compress(xml), "application/x-gzip")
                if path == "/maps/b.xml":
                    return self.send(200, f'<urlset><url><loc>{base}/from-plain</loc></url>'
                                          f'<url><loc>{base}/extra-page</loc></url></urlset>'.encode(),
                                     "application/xml")
                if path == "/maps/bomb.xml.gz":
                    return self.send(200, site.bomb, "application/x-gzip")
                if path.startswith("/maps/extra"):
                    return self.send(200, b"<urlset></urlset>", "application/xml")
                if path in ("/", "/from-gzip", "/from-plain", "/extra-page"):
                    return self.send(200, page(path, "<p>Satisfaction guaranteed.</p>"))
                return self.send(404, b"no", "text/plain")
        return H


def test_sitemaps_from_robots_txt_gzip_and_index_within_limits():
    site = MapSite()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), site.handler())
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        t0 = time.monotonic()
        docs, errors, info = crawl(replace(FAST, sitemap=True, max_sitemaps=6, max_bytes=2_000_000), url)
        took = time.monotonic() - t0
    finally:
        httpd.shutdown()
        httpd.server_close()
    got = {d.url.rsplit("/", 1)[1] for d in docs}
    assert {"from-gzip", "from-plain", "extra-page"} <= got            # through the index, gzip included
    maps = [h for h in site.hits if h.startswith("/maps/")]
    assert "/maps/offsite.xml" not in maps                            # another host: not read
    assert len(maps) == 6                                              # the count limit
    kinds = dict(info["sitemaps"])
    assert kinds[url + "maps/index.xml"] == "index"
    assert kinds[url + "maps/bomb.xml.gz"] == "too large"              # 30 MB of gzip stopped at 2 MB
    assert took < 20


def test_sitemap_parser_refuses_entities_and_reads_text_lists():
    evil = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<urlset><url><loc>http://a.example/&e;</loc></url></urlset>')
    kind, locs = parse(evil, 10_000)
    assert kind == "urlset" and all("root:" not in u for u in locs)
    assert parse(b"http://a.example/x\nnot a url\nhttps://a.example/y\n", 1000) == \
        ("text", ["http://a.example/x", "https://a.example/y"])
    assert parse(b"\x1f\x8b garbage", 1000)[0] == "invalid"


def test_urls_that_name_one_page_normalise_alike():
    from auditor.acquire.urls import normalise
    same = [("http://Clinic.Example/stem%7ecells", "http://clinic.example/stem~cells"),
            ("http://clinic.example/café", "http://clinic.example/caf%C3%A9"),
            ("http://clinic.example:80/a b?utm_source=x&b=1&a=2#top", "http://clinic.example/a%20b?a=2&b=1"),
            ("http://bücher.example/x", "http://xn--bcher-kva.example/x")]
    for a, b in same:
        assert normalise(a) == normalise(b), (a, b)
    assert normalise("http://[::1]:8080/x") == "http://[::1]:8080/x"
    assert normalise("mailto:x@example.org") is None
