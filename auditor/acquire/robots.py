"""robots.txt as RFC 9309 reads it, fetched once per origin and kept for the sites in flight.

- up to five redirects are followed (to any host the address check admits); more, or a redirect
  without a usable Location, counts as no robots.txt;
- a file larger than the limit is read up to it (512 KiB, above the RFC's 500 KiB floor) and the
  rules there apply; a partial last line is dropped;
- 2xx: its rules; 4xx: no rules; 5xx (after retries) or unreachable after a redirect: complete
  disallow; a host that cannot be reached at all is an error for every URL on it;
- a Crawl-delay is honoured up to `max_crawl_delay`; a site asking for more is not crawled
  ("crawl-delay too long"), since honouring it would hold the crawl for that long per page.
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import TYPE_CHECKING, Optional
from urllib.parse import urlsplit

from protego import Protego

from ..config import CrawlConfig
from .fetch import decode_body
from .urls import normalise

if TYPE_CHECKING:
    from .client import Fetcher

ROBOTS_LIMIT = 512 * 1024
MAX_HOPS = 5
KEEP = 512
_DISALLOW_ALL = "User-agent: *\nDisallow: /\n"


class Robots:
    def __init__(self, cfg: CrawlConfig, fetcher: "Fetcher"):
        self.cfg = cfg
        self.fetcher = fetcher
        self._rules: OrderedDict[str, Optional[Protego]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._unreachable: dict[str, str] = {}

    def crawl_delay(self, url: str) -> Optional[float]:
        rp = self._rules.get(origin(url))
        if rp is None:
            return None
        delay = rp.crawl_delay(self.cfg.product_token)
        return float(delay) if delay is not None else None

    async def check(self, url: str, target: Optional[str] = None) -> Optional[str]:
        """None when robots.txt lets the URL be fetched, else the reason it does not."""
        if not self.cfg.obey_robots:
            return None
        key = origin(url)
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key not in self._rules:
                self._rules[key], why = await self._load(key, target)
                if why:
                    self._unreachable[key] = why
        if key in self._unreachable:
            return self._unreachable[key]
        rp = self._rules[key]
        self._rules.move_to_end(key)
        while len(self._rules) > KEEP:                # robots.txt of sites long finished
            old, _ = self._rules.popitem(last=False)
            lock = self._locks.get(old)
            if lock is not None and not lock.locked():
                del self._locks[old]
            self._unreachable.pop(old, None)
        if rp is None:
            return None
        delay = self.crawl_delay(url)
        if delay is not None and delay > self.cfg.max_crawl_delay:
            return (f"crawl-delay too long: robots.txt asks for {delay:g} s between requests, more than the "
                    f"{self.cfg.max_crawl_delay:g} s limit (max_crawl_delay); not crawled")
        return None if rp.can_fetch(url, self.cfg.product_token) else "disallowed by robots.txt"

    async def _load(self, key: str, target: Optional[str]) -> tuple[Optional[Protego], Optional[str]]:
        """(rules or None for no rules, reason every URL of the origin is refused or None)."""
        from .client import REDIRECT_STATUS, location
        url = key + "/robots.txt"
        for hop in range(MAX_HOPS + 1):
            res = await self.fetcher.request(url, target, audited=False, limit=ROBOTS_LIMIT)
            if res.status is None:
                if hop == 0:            # the host itself cannot be reached: that is the reason
                    return None, res.error or "unreachable"
                return Protego.parse(_DISALLOW_ALL), None
            if res.status not in REDIRECT_STATUS:
                break
            loc = location(res.headers)
            nxt = normalise(loc, url) if loc else None
            if nxt is None or hop == MAX_HOPS:
                return None, None       # RFC 9309 2.3.1.2: treat as unavailable
            url = nxt
        if res.error and res.status < 500:
            return None, None           # e.g. an undecodable encoding: no rules
        if 200 <= res.status < 300:
            text, _ = decode_body(res.body, res.content_type)
            if res.truncated:
                text = text[: text.rfind("\n") + 1]
            return Protego.parse(text), None
        if res.status >= 500:
            return Protego.parse(_DISALLOW_ALL), None
        return None, None               # 4xx (and redirects that never end): no rules


def origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"
