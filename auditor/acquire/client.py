"""HTTP for the crawler: single requests and redirect chains, politely, within limits, archived.

Politeness: requests to one host never overlap and start at least the configured delay (or the
site's Crawl-delay) plus jitter after the last one ended, and every request says who is asking.
Limits: connect, read and total time per request; body size after decompression; redirects
(with loop detection); retries only on 429 and 5xx, with exponential backoff that honours
Retry-After. Every host is checked before it is contacted (netguard: no internal addresses) and
robots.txt is consulted (robots.py). Every request and response goes to the run's WARC file.
A failure is a result (a Fetched with an error reason), never an exception.
"""
from __future__ import annotations

import asyncio
import email.utils
import random
import socket
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Optional
from urllib.parse import urlsplit

import httpx

from ..config import CrawlConfig
from ..model import now_iso
from .fetch import Decoder, TooLarge
from .netguard import Guard, Refused
from .pools import PerHostTransport
from .robots import Robots
from .urls import normalise, same_site
from .warc import WarcLog

RETRY_STATUS = {429, 500, 502, 503, 504}
REDIRECT_STATUS = {301, 302, 303, 307, 308}


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
    truncated: bool = False                           # cut at a size limit on purpose (robots.txt)

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


class Fetcher:
    def __init__(self, cfg: CrawlConfig, warc: Optional[WarcLog] = None, transport=None,
                 guard: Optional[Guard] = None):
        self.cfg = cfg
        self.warc = warc
        self.gate = HostGate()
        self.guard = guard or Guard()
        self.robots = Robots(cfg, self)
        # one fetch at a time per host: a host's own pool needs a connection or two (pools.py)
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=2, keepalive_expiry=5.0)
        self.client = httpx.AsyncClient(
            follow_redirects=False, transport=transport or PerHostTransport(self.guard, limits), trust_env=False,
            timeout=httpx.Timeout(cfg.request_timeout, connect=cfg.connect_timeout, read=cfg.read_timeout),
            headers={"User-Agent": cfg.agent, "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
                     "Accept-Encoding": "gzip, deflate, br"},
            limits=limits)

    async def aclose(self):
        await self.client.aclose()

    # -- where we may go ---------------------------------------------------------------------
    async def address_problem(self, url: str, target: Optional[str]) -> Optional[str]:
        """Why the URL's host may not be contacted (an internal address, no DNS answer), or None.

        Only the start host of `target` may be on a non-public address, and only with
        --allow-private; the connection layer then admits that host and no other."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addrs = await asyncio.wait_for(self.guard.addresses(host, port), self.cfg.connect_timeout)
        except asyncio.TimeoutError:
            return f"DNS failure: no answer for {host} within {self.cfg.connect_timeout:g} s"
        except OSError as e:
            return f"DNS failure: host not found ({e})"
        start = _start_host(target) if target else None
        private_ok = self.cfg.allow_private and host == start
        why = self.guard.problem(host, addrs, private_ok)
        if why is None:
            if private_ok:
                self.guard.private_hosts.add(host)
            return None
        if host == start:
            return why + "; pass --allow-private to audit a site on your own network"
        if self.cfg.allow_private:
            return why + f"; --allow-private admits only the start host ({start})"
        return why

    async def allowed(self, url: str, target: Optional[str] = None) -> Optional[str]:
        """None when the URL may be fetched, else the reason it may not."""
        problem = await self.address_problem(url, target)
        if problem:
            return problem
        return await self.robots.check(url, target)

    # -- one request -----------------------------------------------------------------------
    def _host_delay(self, url: str) -> float:
        base = max(self.cfg.delay, min(self.robots.crawl_delay(url) or 0.0, self.cfg.max_crawl_delay))
        return base + (random.uniform(0, self.cfg.jitter) if self.cfg.jitter else 0)

    async def request(self, url: str, target: Optional[str], audited: bool, allow_retry: bool = True,
                      limit: Optional[int] = None) -> Fetched:
        """GET one URL (no redirects followed), politely, with retries; the body bounded.

        With `limit` the body is cut there and kept (truncated), not refused."""
        problem = await self.address_problem(url, target)
        if problem:
            return Fetched(url, error=problem)
        host = urlsplit(url).netloc
        attempt = 0
        while True:
            async with self.gate.lock(host):
                await self.gate.wait(host, self._host_delay(url))
                start = time.monotonic()
                try:
                    res = await asyncio.wait_for(self._get(url, target, audited, limit),
                                                 timeout=self.cfg.request_timeout)
                except asyncio.TimeoutError:
                    res = Fetched(url, error=f"timed out: no complete response within {self.cfg.request_timeout:g} s")
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

    async def _get(self, url: str, target: Optional[str], audited: bool, limit: Optional[int] = None) -> Fetched:
        when = now_iso("milliseconds")
        req_id = None
        if self.warc:
            hdrs = dict(self.client.headers)
            hdrs["Host"] = urlsplit(url).netloc
            req_id = self.warc.request(url, "GET", hdrs, when)
        max_bytes = limit or self.cfg.max_bytes
        try:
            async with self.client.stream("GET", url) as resp:
                out = Fetched(url, final_url=url, status=resp.status_code, headers=list(resp.headers.multi_items()),
                              content_type=resp.headers.get("content-type", ""), fetched_at=when)
                length = resp.headers.get("content-length")
                if not limit and length and length.isdigit() and int(length) > max_bytes:
                    out.error = (f"too large: Content-Length {int(length):,} bytes is over the "
                                 f"{max_bytes:,}-byte limit")
                    return out
                try:
                    dec = Decoder(resp.headers.get("content-encoding", ""), max_bytes, truncate=bool(limit))
                except ValueError as e:
                    out.error = str(e)
                    return out
                parts = []
                try:
                    async for chunk in resp.aiter_raw():
                        parts.append(dec.feed(chunk))
                        if dec.truncated:
                            break
                    parts.append(dec.finish())
                except TooLarge:
                    out.error = (f"too large: the body passed the {max_bytes:,}-byte limit "
                                 f"(after decompression); fetching stopped")
                    return out
                except Exception as e:   # zlib.error, brotli.error: a corrupt encoding
                    out.error = f"undecodable {resp.headers.get('content-encoding')} body ({type(e).__name__})"
                    return out
                out.body = b"".join(parts)
                out.truncated = dec.truncated
        except httpx.ConnectError as e:
            return Fetched(url, fetched_at=when, error=_connect_reason(e))
        except httpx.TimeoutException as e:
            return Fetched(url, fetched_at=when, error=f"timed out ({type(e).__name__})")
        except httpx.TooManyRedirects:
            return Fetched(url, fetched_at=when, error="too many redirects")
        except (httpx.RemoteProtocolError, httpx.ReadError) as e:
            if "location header" in str(e).lower():    # httpx refuses to parse some Location values
                return Fetched(url, fetched_at=when, error=f"redirect to an unusable Location ({e})")
            return Fetched(url, fetched_at=when, error=f"connection broken: {e}")
        except httpx.HTTPError as e:
            return Fetched(url, fetched_at=when, error=f"{type(e).__name__}: {e}")
        if self.warc:
            out.record_id = self.warc.response(
                url, out.status, resp.reason_phrase, out.headers, out.body, when, target=target,
                audited=audited and out.status == 200 and out.mime in self.cfg.allowed_types,
                concurrent_to=req_id, truncated=out.truncated)
        return out

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
            res = await self.request(current, target, audited)
            res.url, res.redirects = url, list(chain)
            if res.error or res.status not in REDIRECT_STATUS:
                return res
            loc = location(res.headers)
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


def location(headers: list) -> Optional[str]:
    """The Location header; raw UTF-8 bytes in it (which httpx reads as latin-1) read as UTF-8,
    as browsers do."""
    value = next((v for k, v in headers if k.lower() == "location"), None)
    if value and not value.isascii():
        try:
            value = value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return value


@lru_cache(maxsize=4096)
def _start_host(target: str) -> Optional[str]:
    start = normalise(target) or normalise("http://" + target)
    return urlsplit(start).hostname if start else None


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
        if isinstance(c, Refused):
            return str(c)
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
