"""A polite crawler that keeps the evidence: it fetches a clinic's site and hands over Documents.

Politeness: robots.txt is obeyed (protego; Crawl-delay honoured) unless the user says otherwise,
requests to one host never overlap and are spaced by at least the configured delay plus jitter,
and every request says who is asking (User-Agent with a contact URL). Limits: connect, read and
total time; body size after decompression; redirects (with loop detection); retries only on 429
and 5xx, with exponential backoff that honours Retry-After.

Every request and response goes to the run's WARC file. A failure is a result (an Error with a
reason), never an exception that stops the other pages or sites. This module knows nothing of
rules or scoring.
"""
from __future__ import annotations

import asyncio
import email.utils
from collections import OrderedDict
import hashlib
import random
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional
from urllib.parse import urlsplit

import httpx
import lxml.html
from lxml import etree
from protego import Protego

from ..config import CrawlConfig
from .fetch import Decoder, TooLarge, decode_body
from ..model import Document, Error, now_iso
from .scope import scope_reason
from .urls import normalise, priority, same_site, trap_reason
from .warc import WarcLog

RETRY_STATUS = {429, 500, 502, 503, 504}




@dataclass
class Fetched:
    """One URL's outcome: the final response (after redirects) or an error reason."""

    url: str
    final_url: str = ""
    status: Optional[int] = None
    headers: list = field(default_factory=list)
    body: bytes = b""
    content_type: str = ""
    fetched_at: Optional[str] = None
    redirects: list = field(default_factory=list)     # [(url, status), ...] before the final one
    record_id: Optional[str] = None
    error: Optional[str] = None

    @property
    def mime(self) -> str:
        return self.content_type.split(";")[0].strip().lower()


class HostGate:
    """One request at a time per host, each starting at least `delay` (+ jitter) after the last ended.

    Hosts not seen for a while are forgotten (never one whose lock is held or awaited), so a batch
    of thousands of sites keeps a bounded table.
    """

    KEEP = 1024

    def __init__(self):
        self._locks: OrderedDict[str, asyncio.Lock] = OrderedDict()
        self._last_end: dict[str, float] = {}

    def lock(self, host: str) -> asyncio.Lock:
        lock = self._locks.get(host)
        if lock is None:
            lock = self._locks[host] = asyncio.Lock()
            if len(self._locks) > self.KEEP:
                self._forget()
        else:
            self._locks.move_to_end(host)
        return lock

    def _forget(self):
        for host in list(self._locks)[: len(self._locks) - self.KEEP // 2]:
            if not self._locks[host].locked():
                del self._locks[host]
                self._last_end.pop(host, None)

    async def wait(self, host: str, delay: float):
        last = self._last_end.get(host)
        if last is not None:
            pause = last + delay - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)

    def done(self, host: str, start: float):
        self._last_end[host] = time.monotonic()


class Crawler:
    def __init__(self, cfg: CrawlConfig, warc: Optional[WarcLog] = None, transport=None):
        self.cfg = cfg
        self.warc = warc
        self.gate = HostGate()
        self._robots: OrderedDict[str, Optional[Protego]] = OrderedDict()
        self._robots_lock: dict[str, asyncio.Lock] = {}
        self._unreachable: dict[str, str] = {}
        self.client = httpx.AsyncClient(
            follow_redirects=False, transport=transport, trust_env=False,
            timeout=httpx.Timeout(cfg.timeout, connect=cfg.connect_timeout, read=cfg.read_timeout),
            headers={"User-Agent": cfg.agent, "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
                     "Accept-Encoding": "gzip, deflate, br"},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))

    async def aclose(self):
        await self.client.aclose()

    # -- one request -----------------------------------------------------------------------
    def _host_delay(self, url: str) -> float:
        rp = self._robots.get(_origin(url))
        crawl_delay = rp.crawl_delay(self.cfg.product_token) if rp is not None else None
        base = max(self.cfg.delay, float(crawl_delay or 0))
        return base + (random.uniform(0, self.cfg.jitter) if self.cfg.jitter else 0)

    async def _request(self, url: str, target: Optional[str], audited: bool, allow_retry: bool = True) -> Fetched:
        """GET one URL (no redirects followed), politely, with retries; the body bounded."""
        host = urlsplit(url).netloc
        attempt = 0
        while True:
            async with self.gate.lock(host):
                await self.gate.wait(host, self._host_delay(url))
                start = time.monotonic()
                try:
                    res = await asyncio.wait_for(self._get(url, target, audited), timeout=self.cfg.timeout)
                except asyncio.TimeoutError:
                    res = Fetched(url, error=f"timed out: no complete response within {self.cfg.timeout:g} s")
                finally:
                    self.gate.done(host, start)
            if not (allow_retry and res.status in RETRY_STATUS and attempt < self.cfg.retries):
                return res
            wait = _retry_after(res.headers)
            if wait is None:
                wait = max(self.cfg.delay, 0.1) * (2 ** attempt)
            if wait > self.cfg.max_retry_after:
                res.error = f"HTTP {res.status}; server asked to retry after {wait:.0f} s (limit {self.cfg.max_retry_after:g} s)"
                return res
            attempt += 1
            await asyncio.sleep(wait)

    async def _get(self, url: str, target: Optional[str], audited: bool) -> Fetched:
        when = now_iso("milliseconds")
        req_id = None
        if self.warc:
            hdrs = dict(self.client.headers)
            hdrs["Host"] = urlsplit(url).netloc
            req_id = self.warc.request(url, "GET", hdrs, when)
        try:
            async with self.client.stream("GET", url) as resp:
                out = Fetched(url, final_url=url, status=resp.status_code, headers=list(resp.headers.multi_items()),
                              content_type=resp.headers.get("content-type", ""), fetched_at=when)
                length = resp.headers.get("content-length")
                if length and length.isdigit() and int(length) > self.cfg.max_bytes:
                    out.error = (f"too large: Content-Length {int(length):,} bytes is over the "
                                 f"{self.cfg.max_bytes:,}-byte limit")
                    return out
                try:
                    dec = Decoder(resp.headers.get("content-encoding", ""), self.cfg.max_bytes)
                except ValueError as e:
                    out.error = str(e)
                    return out
                parts = []
                try:
                    async for chunk in resp.aiter_raw():
                        parts.append(dec.feed(chunk))
                except TooLarge:
                    out.error = (f"too large: the body passed the {self.cfg.max_bytes:,}-byte limit "
                                 f"(after decompression); fetching stopped")
                    return out
                except Exception as e:   # zlib.error, brotli.error: a corrupt encoding
                    out.error = f"undecodable {resp.headers.get('content-encoding')} body ({type(e).__name__})"
                    return out
                out.body = b"".join(parts)
        except httpx.ConnectError as e:
            return Fetched(url, fetched_at=when, error=_connect_reason(e))
        except httpx.TimeoutException as e:
            return Fetched(url, fetched_at=when, error=f"timed out ({type(e).__name__})")
        except httpx.TooManyRedirects:
            return Fetched(url, fetched_at=when, error="too many redirects")
        except (httpx.RemoteProtocolError, httpx.ReadError) as e:
            return Fetched(url, fetched_at=when, error=f"connection broken: {e}")
        except httpx.HTTPError as e:
            return Fetched(url, fetched_at=when, error=f"{type(e).__name__}: {e}")
        if self.warc:
            out.record_id = self.warc.response(
                url, out.status, resp.reason_phrase, out.headers, out.body, when, target=target,
                audited=audited and out.status == 200 and out.mime in self.cfg.allowed_types,
                concurrent_to=req_id)
        return out

    # -- robots.txt ----------------------------------------------------------------------------
    async def allowed(self, url: str, target: Optional[str] = None) -> Optional[str]:
        """None when the URL may be fetched, else the reason it may not."""
        if not self.cfg.obey_robots:
            return None
        origin = _origin(url)
        async with self._robots_lock.setdefault(origin, asyncio.Lock()):
            if origin not in self._robots:
                res = await self._request(origin + "/robots.txt", target, audited=False)
                if res.status is None:
                    # the host cannot be reached at all: that is the reason, for every URL on it
                    self._robots[origin] = None
                    self._unreachable[origin] = res.error or "unreachable"
                elif res.error and res.status < 500:
                    self._robots[origin] = None         # e.g. an oversized robots.txt: no rules
                elif 200 <= res.status < 300:
                    text, _ = decode_body(res.body, res.content_type)
                    self._robots[origin] = Protego.parse(text)
                elif res.status >= 500:
                    self._robots[origin] = Protego.parse("User-agent: *\nDisallow: /")
                else:                                  # 4xx: no rules
                    self._robots[origin] = None
        if origin in self._unreachable:
            return self._unreachable[origin]
        rp = self._robots[origin]
        self._robots.move_to_end(origin)
        while len(self._robots) > 512:                 # robots.txt of sites long finished
            old, _ = self._robots.popitem(last=False)
            lock = self._robots_lock.get(old)
            if lock is not None and not lock.locked():
                del self._robots_lock[old]
            self._unreachable.pop(old, None)
        return None if rp is None or rp.can_fetch(url, self.cfg.product_token) else "disallowed by robots.txt"

    # -- a page, following redirects --------------------------------------------------------
    async def fetch(self, url: str, target: Optional[str] = None, audited: bool = True,
                    site: Optional[str] = None) -> Fetched:
        chain: list[tuple[str, int]] = []
        seen = {url}
        current = url
        for _ in range(self.cfg.max_redirects + 1):
            refused = await self.allowed(current, target)
            if refused:
                return Fetched(url, final_url=current, redirects=chain, error=refused)
            res = await self._request(current, target, audited)
            res.url, res.redirects = url, list(chain)
            if res.error or res.status not in (301, 302, 303, 307, 308):
                return res
            loc = dict((k.lower(), v) for k, v in res.headers).get("location")
            nxt = normalise(loc, current) if loc else None
            chain.append((current, res.status))
            if nxt is None:
                res.error = f"HTTP {res.status} redirect without a usable Location"
                res.redirects = chain
                return res
            if nxt in seen:
                return Fetched(url, final_url=nxt, status=res.status, redirects=chain,
                               error=f"redirect loop: {nxt} was already visited")
            if site and not same_site(nxt, site):
                return Fetched(url, final_url=nxt, status=res.status, redirects=chain,
                               error=f"redirected off-site to {nxt}")
            seen.add(nxt)
            current = nxt
        return Fetched(url, final_url=current, redirects=chain,
                       error=f"too many redirects (more than {self.cfg.max_redirects})")

    # -- a site -------------------------------------------------------------------------------
    async def crawl_site(self, target: str, progress=None) -> tuple[list[Document], list[Error], dict]:
        """Fetch the start page and up to max_pages-1 same-site pages; (documents, errors, info)."""
        cfg = self.cfg
        start = normalise(target)
        if start is None:
            return [], [Error(target, f"{target}: not an http(s) URL")], {}
        docs, errors = [], []
        info = {"start_url": start, "ignored_robots": not cfg.obey_robots, "skipped": []}
        queue: list[tuple[int, int, int, str, str]] = []      # (depth, priority, order, url, anchor text)
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
        info["pages_fetched"] = len(docs)
        info["queued_not_fetched"] = len(queue)
        return docs, errors, info

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


def _origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def _retry_after(headers: list) -> Optional[float]:
    value = next((v for k, v in headers if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def _connect_reason(e: Exception) -> str:
    chain, cur = [], e
    while cur is not None and len(chain) < 8:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for c in chain:
        if isinstance(c, ssl.SSLError):
            return f"TLS error: {c}"
        if isinstance(c, socket.gaierror):
            return f"DNS failure: host not found ({c})"
        if isinstance(c, ConnectionRefusedError):
            return "connection refused"
    text = " ".join(str(c) for c in chain).lower()
    if "ssl" in text or "certificate" in text:
        return f"TLS error: {e}"
    if "name or service not known" in text or "temporary failure in name" in text or "getaddrinfo" in text:
        return f"DNS failure: host not found ({e})"
    if "refused" in text or "all connection attempts failed" in text:
        return "connection refused"
    return f"cannot connect: {e}"


def _detail(res: Fetched) -> str:
    bits = []
    if res.redirects:
        bits.append("redirects: " + " -> ".join(f"{u} ({s})" for u, s in res.redirects))
    if res.final_url and res.final_url != res.url:
        bits.append(f"final URL: {res.final_url}")
    return "; ".join(bits)
