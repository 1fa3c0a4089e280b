"""The crawler is not a way into internal networks (issue 10, item 1): every host, the start URL's
and each redirect's, is resolved and checked, and the connection goes to the checked address."""
import asyncio
import json
from dataclasses import replace

import pytest

from auditor.acquire.crawl import Crawler
from auditor.config import CrawlConfig
from conftest import run_cli
from hostile import Routes, html

CFG = CrawlConfig(delay=0, jitter=0, timeout=20, request_timeout=3, connect_timeout=2, read_timeout=2, retries=0,
                  max_pages=3, warc=False, allow_private=True, contact="https://example.org/tests")


def crawl(cfg, url, **kw):
    async def go():
        c = Crawler(cfg, **kw)
        try:
            return await asyncio.wait_for(c.crawl_site(url), 30)
        finally:
            await c.aclose()
    return asyncio.run(go())


def secret_page(h):
    h.send(200, html("<p>internal admin: stem cells cure everything, guaranteed</p>"))


@pytest.mark.parametrize("host", ["127.0.0.2", "localhost", "[::1]", "2130706434", "0177.0.0.2", "0x7f.0.0.2",
                                  "[::ffff:127.0.0.2]"])
def test_a_redirect_to_another_internal_host_is_refused(host):
    """With --allow-private the start host (127.0.0.1) may be crawled, but a redirect to any other
    internal host, however it is spelled, is refused and nothing reaches it."""
    ip = {"localhost": "127.0.0.1", "[::1]": "::1"}.get(host, "127.0.0.2")
    with Routes({"/secret": secret_page}, host=ip) as secret:
        target = f"http://{host}:{secret.port}/secret"
        with Routes({"/": lambda h: h.send(302, headers=[("Location", target)])}) as start:
            docs, errors, _ = crawl(CFG, start.url + "/")
        assert secret.log == [], f"the crawler reached {target}"
    assert docs == []
    if host == "0177.0.0.2":                      # httpx itself will not read this Location
        assert errors[0].reason.startswith("redirect to an unusable Location"), errors[0].reason
        return
    assert errors[0].reason.startswith("refused: ") and "not a public one" in errors[0].reason, errors[0].reason
    assert "--allow-private admits only the start host" in errors[0].reason


@pytest.mark.parametrize("spelling", ["0177.0.0.1", "2130706433", "0x7f000001"])
def test_numeric_spellings_of_a_start_url_are_checked_as_addresses(spelling):
    with Routes({"/": secret_page}) as srv:
        docs, errors, _ = crawl(replace(CFG, allow_private=False), f"http://{spelling}:{srv.port}/")
        assert srv.log == []
    assert docs == [] and errors[0].reason.startswith("refused: 127.0.0.1 is a loopback address")


def test_a_private_start_host_needs_allow_private():
    with Routes({"/": secret_page}) as srv:
        docs, errors, info = crawl(replace(CFG, allow_private=False), srv.url + "/")
        assert srv.log == []                       # not even robots.txt was asked for
    assert docs == [] and len(errors) == 1
    assert errors[0].reason == ("refused: 127.0.0.1 is a loopback address, not a public one; "
                                "pass --allow-private to audit a site on your own network")
    assert "allow_private" not in info


def test_allow_private_is_recorded_in_the_report_and_same_host_redirects_are_followed(tmp_path):
    """(Without the flag the start host is refused: test_a_private_start_host_needs_allow_private.)"""
    routes = {"/": lambda h: h.send(301, headers=[("Location", "/home")]),
              "/home": lambda h: h.send(200, html("<p>Satisfaction guaranteed.</p>"))}
    with Routes(routes) as srv:
        r = run_cli("audit", "--allow-private", "--delay", "0", "--jitter", "0", "--only-url", "--output-dir",
                    tmp_path, "-f", "json", srv.url + "/")
        assert r.returncode == 0, r.stderr.decode()[-2000:]
        rep = json.loads(r.stdout)
        assert rep["crawl"]["allow_private"] is True
        assert [p["url"] for p in rep["pages"]] == [srv.url + "/home"]
