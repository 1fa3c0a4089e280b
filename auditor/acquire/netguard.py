"""Which addresses the crawler may connect to, and a connection layer that connects only there.

A hostile page must not lead the crawler to internal addresses (SSRF). As OWASP's SSRF guidance
says, every host is resolved, the start URL's and each redirect's alike, and every address it
resolves to is checked: loopback, private, link-local, shared (CGNAT), multicast, reserved and
other non-global ranges are refused, for IPv4 and IPv6, including IPv4 addresses embedded in IPv6
(mapped, 6to4, NAT64, Teredo). Numeric spellings (decimal, octal, hex) are read as addresses by
`urls.canonical_host` before this point, and resolution checks what the name finally means.

The check and the connection use one answer: `GuardedBackend` (an httpcore network backend) looks
the name up once, checks the addresses and connects to one of them, so a DNS answer that changes
between check and connect (rebinding) cannot lead elsewhere. The name still goes into the Host
header and into TLS (SNI and certificate check), because httpcore takes those from the URL.

With `--allow-private` the host the user named may be on such an address (a test server, an
intranet mirror); no other host may.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import OrderedDict
from typing import Awaitable, Callable, Iterable, Optional

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class Refused(httpcore.ConnectError):
    """An address the crawler will not connect to (raised by the backend, carried by httpx)."""


def address_kind(ip: IPAddress) -> Optional[str]:
    """None for a public (globally routable unicast) address, else what kind of address it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and any(ip in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            kind = address_kind(embedded)
            return f"{kind} (IPv4 {embedded} inside IPv6)" if kind else None
        if ip.teredo:
            return "Teredo tunnel"
        if ip.is_site_local:
            return "site-local"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "shared (CGNAT)"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-global"
    return None


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for *_, sockaddr in infos:
        if sockaddr[0] not in out:
            out.append(sockaddr[0])
    return out


class Guard:
    """Resolves hosts (one answer per host for `ttl` seconds) and says which may be connected to.

    `private_hosts` holds the hosts allowed on a non-public address: the crawler adds a start
    host there when --allow-private lets it through, and nothing else is ever added.
    """

    KEEP = 4096

    def __init__(self, resolve: Optional[Resolver] = None, ttl: float = 300.0):
        self._resolve = resolve or system_resolve
        self.ttl = ttl
        self._cache: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()
        self.private_hosts: set[str] = set()

    async def addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses (an IP literal is its own); socket.gaierror when it has none."""
        host = host.strip("[]").lower()
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        hit = self._cache.get(host)
        if hit and hit[0] > time.monotonic():
            self._cache.move_to_end(host)
            return hit[1]
        addrs = await self._resolve(host, port)
        if not addrs:
            raise socket.gaierror(socket.EAI_NONAME, "no addresses")
        self._cache[host] = (time.monotonic() + self.ttl, addrs)
        while len(self._cache) > self.KEEP:
            self._cache.popitem(last=False)
        return addrs

    def problem(self, host: str, addrs: Iterable[str], private_ok: bool = False) -> Optional[str]:
        """Why these addresses of `host` may not be visited, or None."""
        for a in addrs:
            kind = address_kind(ipaddress.ip_address(a.split("%")[0]))
            if kind and not private_ok:
                shown = host if host == a else f"{host} ({a})"
                return f"refused: {shown} is a {kind} address, not a public one"
        return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the address the guard checked, never to a fresh lookup of the name."""

    def __init__(self, guard: Guard, inner: Optional[httpcore.AsyncNetworkBackend] = None):
        self.guard = guard
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: Optional[float] = None,
                          local_address: Optional[str] = None, socket_options=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            addrs = await asyncio.wait_for(self.guard.addresses(host, port), timeout)
        except asyncio.TimeoutError:
            raise httpcore.ConnectTimeout(f"DNS lookup of {host} timed out") from None
        except OSError as e:
            raise httpcore.ConnectError(f"DNS failure: {host}: {e}") from e
        why = self.guard.problem(host, addrs, host.strip("[]").lower() in self.guard.private_hosts)
        if why:
            raise Refused(why)
        error: Optional[Exception] = None
        for addr in addrs[:3]:
            left = None if deadline is None else max(0.01, deadline - time.monotonic())
            try:
                return await self.inner.connect_tcp(addr, port, timeout=left, local_address=local_address,
                                                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e
        assert error is not None
        raise error

    async def connect_unix_socket(self, *a, **kw):    # never used: only TCP is allowed
        raise httpcore.ConnectError("unix sockets are not used by the crawler")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a connection pool that uses GuardedBackend.

    httpx does not yet take a network backend as a parameter (encode/httpx#3749), so the pool it
    built is replaced by one made the same way with the backend added; no proxies are used.
    """

    def __init__(self, guard: Guard, limits: httpx.Limits, inner: Optional[httpcore.AsyncNetworkBackend] = None,
                 ssl_context=None):
        # building an SSL context loads the CA bundle (tens of ms): a pool per host shares one
        ssl_context = ssl_context or httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=GuardedBackend(guard, inner))
