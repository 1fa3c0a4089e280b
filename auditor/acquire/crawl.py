"""The crawl of one site: from its start page, the same-site pages most worth auditing.

Pages are taken in order of depth and of how much their URL and anchor text promise (treatments,
conditions, prices, testimonials first), skipping traps (calendars, endless query strings,
repeating paths), files and off-site links, up to max_pages. The whole site is bounded by
`--timeout`: what was fetched by then is kept and the rest is reported as not fetched. When the
site is done an end-of-site record (listing its audited pages and errors) goes to the WARC, so a
scan of the archive can tell a finished site from one whose crawl was killed.

Requests, politeness, limits and the address check live in client.py; this module knows nothing
of rules or scoring.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Optional

import lxml.html
from lxml import etree

from ..model import Document, Error
from .client import Fetched, Fetcher
from .fetch import binary_reason, decode_body
from .scope import scope_reason
from .urls import normalise, priority, same_site, trap_reason


class Crawler(Fetcher):
    # -- a site -------------------------------------------------------------------------------
    async def crawl_site(self, target: str, progress=None) -> tuple[list[Document], list[Error], dict]:
        """Fetch the start page and up to max_pages-1 same-site pages; (documents, errors, info).

        Within --timeout seconds for the whole site: past it the pages fetched so far are kept
        and an error says how many were left."""
        cfg = self.cfg
        start = normalise(target)
        if start is None:
            return [], [Error(target, f"{target}: not an http(s) URL")], {}
        docs: list[Document] = []
        errors: list[Error] = []
        info = {"start_url": start, "ignored_robots": not cfg.obey_robots, "skipped": []}
        if cfg.allow_private:
            info["allow_private"] = True
        queue: list[tuple[int, int, int, str, str]] = []      # (depth, priority, order, url, anchor text)
        began = time.monotonic()
        try:
            async with asyncio.timeout(cfg.timeout):
                await self._crawl(target, start, docs, errors, info, queue, progress)
        except TimeoutError:
            errors.append(Error(start, f"site time limit: stopped after {cfg.timeout:g} s (--timeout) with "
                                       f"{len(docs)} page(s) audited and {len(queue)} queued not fetched"))
            info["timed_out"] = True
        info["pages_fetched"] = len(docs)
        info["queued_not_fetched"] = len(queue)
        info["seconds"] = round(time.monotonic() - began, 3)
        if self.warc:
            self.warc.site_end(target, start, [d.warc_record_id for d in docs if d.warc_record_id], errors)
        return docs, errors, info

    async def _crawl(self, target, start, docs, errors, info, queue, progress):
        cfg = self.cfg
        seen = {start}
        order = 0
        first = await self.fetch(start, target=target)
        site = first.final_url or start
        seen.add(site)
        if cfg.sitemap and not cfg.only_url:
            for u in await self._sitemap_urls(site, target, info):
                if u not in seen and same_site(u, site) and not trap_reason(u, cfg.max_query_params) \
                        and not scope_reason(u, cfg.include, cfg.exclude):
                    seen.add(u)
                    order += 1
                    queue.append((1, priority(u), order, u, ""))
        attempts, finals = 1, set()
        pending = [(first, 0)]
        while pending:
            res, depth = pending.pop()
            if progress:
                progress(res)
            doc, err = self._document(res, target)
            if err:
                errors.append(err)
            else:
                docs.append(doc)
                finals.add(doc.url)
                if not cfg.only_url and depth < cfg.depth and res.mime != "text/plain":
                    for u, text in _links(doc.text or "", res.final_url):
                        if u in seen:
                            continue
                        seen.add(u)
                        if not same_site(u, site):
                            info["skipped"].append((u, "off-site"))
                            continue
                        why = trap_reason(u, cfg.max_query_params) or scope_reason(u, cfg.include, cfg.exclude)
                        if why:
                            info["skipped"].append((u, why))
                            continue
                        order += 1
                        queue.append((depth + 1, priority(u, text), order, u, text))
            if cfg.only_url:
                break
            while queue and attempts < cfg.max_pages:
                queue.sort()
                d, _, _, u, _ = queue.pop(0)
                attempts += 1
                nxt = await self.fetch(u, target=target, site=site)
                if nxt.error is None and nxt.final_url in finals:
                    continue            # another link to a page already audited
                pending.append((nxt, d))
                break

    def _document(self, res: Fetched, target: str) -> tuple[Optional[Document], Optional[Error]]:
        where = res.final_url or res.url
        if res.error:
            return None, Error(where, res.error, _detail(res))
        if res.status is None or res.status >= 400:
            return None, Error(where, f"HTTP {res.status}", _detail(res))
        if res.status != 200:
            return None, Error(where, f"HTTP {res.status}: not a page", _detail(res))
        if res.mime not in self.cfg.allowed_types:
            return None, Error(where, f"not HTML or text ({res.mime or 'no content type'}); recorded, not audited",
                               _detail(res))
        binary = binary_reason(res.body, res.content_type)
        if binary:
            return None, Error(where, binary, _detail(res))
        text, charset = decode_body(res.body, res.content_type)
        return Document(target=target, url=where, content=res.body, text=text,
                        content_type="text/plain" if res.mime == "text/plain" else "text/html",
                        status=res.status, fetched_at=res.fetched_at, sha256=hashlib.sha256(res.body).hexdigest(),
                        warc_record_id=res.record_id, redirects=[u for u, _ in res.redirects]), None

    async def _sitemap_urls(self, site: str, target: str, info: Optional[dict] = None) -> list[str]:
        from .sitemaps import sitemap_urls      # robots.txt Sitemap: lines, gzip, indexes, bounded
        return await sitemap_urls(self, site, target, info)


def _links(html: str, base: str) -> list[tuple[str, str]]:
    """(absolute URL, anchor text) of every <a href> (lxml directly: this runs on every page)."""
    try:
        root = lxml.html.fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    out = []
    for a in root.iter("a"):
        href = a.get("href")
        u = normalise(href, base) if href else None
        if u:
            out.append((u, " ".join(a.text_content().split())[:100]))
    return out



def _links(html: str, base: str) -> list[tuple[str, str]]:
    """(absolute URL, anchor text) of every <a href> (lxml directly: this runs on every page)."""
    try:
        root = lxml.html.fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    out = []
    for a in root.iter("a"):
        href = a.get("href")
        u = normalise(href, base) if href else None
        if u:
            out.append((u, " ".join(a.text_content().split())[:100]))
    return out



def _detail(res: Fetched) -> str:
    bits = []
    if res.redirects:
        bits.append("redirects: " + " -> ".join(f"{u} ({s})" for u, s in res.redirects))
    if res.final_url and res.final_url != res.url:
        bits.append(f"final URL: {res.final_url}")
    return "; ".join(bits)
