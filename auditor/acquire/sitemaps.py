"""Sitemaps: found through robots.txt `Sitemap:` lines (protego parses them), else /sitemap.xml;
read as XML url sets, sitemap indexes, gzip files (.xml.gz) or plain-text URL lists.

Hostile sitemaps are bounded: at most `max_sitemaps` files per site (an index and each sitemap
it names count one each), each body within the crawler's size limit, gzip decompressed by the
project's bounded decoder (never more than that limit comes out), XML parsed without entities
or network, and no more than five times --max-pages URLs kept. Sitemaps on other sites are not
read. Every fetch goes through the crawler, so robots.txt, politeness and the WARC apply.
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit

from lxml import etree

from .fetch import Decoder, TooLarge
from .urls import normalise, same_site

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True,
                          load_dtd=False)


def _origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def parse(body: bytes, limit: int) -> tuple[str, list[str]]:
    """("index" | "urlset" | "text" | "invalid", locations) of one sitemap body."""
    if body[:2] == b"\x1f\x8b":                     # a .xml.gz file, not Content-Encoding
        dec = Decoder("gzip", limit)
        try:
            body = dec.feed(body)
        except TooLarge:
            return "too large", []
        except Exception:
            return "invalid", []
    head = body.lstrip()[:1]
    if head != b"<":
        lines = [ln.strip() for ln in body.decode("utf-8", "replace").splitlines()]
        urls = [ln for ln in lines if ln.startswith(("http://", "https://"))]
        return ("text", urls) if urls else ("invalid", [])
    try:
        root = etree.fromstring(body, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return "invalid", []
    if root is None:
        return "invalid", []
    kind = etree.QName(root).localname.lower()
    locs = [(el.text or "").strip() for el in root.iter("{*}loc")]
    return ("index" if kind == "sitemapindex" else "urlset"), [u for u in locs if u]


async def sitemap_urls(crawler, site: str, target: Optional[str], info: Optional[dict] = None) -> list[str]:
    """Page URLs from the site's sitemaps, within the limits above."""
    cfg = crawler.cfg
    origin = _origin(site)
    rp = crawler.robots._rules.get(origin)      # robots.txt was read for the start page
    declared = [u for u in (rp.sitemaps if rp is not None else ()) if u]
    todo = [normalise(u) for u in declared] or [origin + "/sitemap.xml"]
    seen: set[str] = set()
    out: list[str] = []
    read = []
    cap = cfg.max_pages * 5
    while todo and len(seen) < cfg.max_sitemaps and len(out) < cap:
        url = todo.pop(0)
        if not url or url in seen or not same_site(url, site):
            continue
        seen.add(url)
        res = await crawler.fetch(url, target=target, audited=False, site=site)
        if res.error or res.status != 200:
            read.append((url, res.error or f"HTTP {res.status}"))
            continue
        kind, locs = parse(res.body, cfg.max_bytes)
        read.append((url, kind))
        for loc in locs:
            u = normalise(loc, url)
            if not u:
                continue
            if kind == "index":
                todo.append(u)
            elif len(out) < cap:
                out.append(u)
    if info is not None:
        info["sitemaps"] = read
    return out
