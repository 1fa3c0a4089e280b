"""One small connection pool per host, behind the crawler's one httpx client.

httpcore's pool scans all its connections for every request it queues or releases, and again
for every idle connection it checks (quadratic in the pool's size): one shared pool for hundreds
of hosts spent most of a batch's event loop in that bookkeeping (bench/run.py batch, concurrency
256). The crawler fetches one URL at a time per host, so a pool per origin holds a connection or
two and its bookkeeping stays constant. Pools of hosts not used lately are closed, so a list of
100,000 sites does not keep 100,000 pools.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional

import httpcore
import httpx

from .netguard import Guard, GuardedTransport


class PerHostTransport(httpx.AsyncBaseTransport):
    def __init__(self, guard: Guard, per_host: httpx.Limits, max_pools: int = 512,
                 inner: Optional[httpcore.AsyncNetworkBackend] = None):
        self.guard, self.per_host, self.max_pools, self.inner = guard, per_host, max(1, max_pools), inner
        self.ssl_context = httpx.create_ssl_context(trust_env=False)
        self.pools: OrderedDict[tuple, GuardedTransport] = OrderedDict()
        self.busy: dict[tuple, int] = {}

    def _pool(self, key: tuple) -> GuardedTransport:
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = GuardedTransport(self.guard, self.per_host, self.inner, self.ssl_context)
        self.pools.move_to_end(key)
        return pool

    async def _evict(self):
        # taken out of the dict before any await, so concurrent requests never close one twice
        closing = []
        for key in list(self.pools):
            if len(self.pools) < self.max_pools:
                break
            if not self.busy.get(key):
                closing.append(self.pools.pop(key))
        for pool in closing:
            await pool.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.scheme, url.host, url.port)
        if key not in self.pools and len(self.pools) >= self.max_pools:
            await self._evict()
        pool = self._pool(key)
        self.busy[key] = self.busy.get(key, 0) + 1
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            self._release(key)
            raise
        return _Released(response, lambda: self._release(key))

    def _release(self, key):
        n = self.busy.get(key, 1) - 1
        if n:
            self.busy[key] = n
        else:
            self.busy.pop(key, None)

    async def aclose(self):
        pools, self.pools = list(self.pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    """A response's stream that marks its host's pool free again once closed (once)."""

    def __init__(self, stream, release):
        self.stream, self.release = stream, release

    async def __aiter__(self):
        async for chunk in self.stream:
            yield chunk

    async def aclose(self):
        try:
            await self.stream.aclose()
        finally:
            release, self.release = self.release, None
            if release is not None:
                release()


def _Released(response: httpx.Response, release) -> httpx.Response:
    """The response, whose stream marks its host's pool free again once closed."""
    response.stream = _ReleasingStream(response.stream, release)
    return response
