"""The address guard on its own: which addresses are internal, and that a connection goes to the
address that was checked (no DNS rebinding between check and connect)."""
import ipaddress
from dataclasses import replace

import httpcore
import httpx
import pytest

from auditor.acquire.netguard import Guard, GuardedTransport, address_kind
from hostile import Routes
from test_ssrf import CFG, crawl, secret_page


class _Recorder(httpcore.AsyncNetworkBackend):
    """Records where connections go; connects only inside 127.0.0.0/8 (tests touch nothing else)."""

    def __init__(self):
        self.inner = httpcore.AnyIOBackend()
        self.hosts = []

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.hosts.append(host)
        if not ipaddress.ip_address(host).is_loopback:
            raise httpcore.ConnectError(f"test: no connection outside loopback ({host})")
        return await self.inner.connect_tcp(host, port, timeout=timeout)

    async def sleep(self, seconds):
        await self.inner.sleep(seconds)


def test_dns_rebinding_cannot_redirect_the_connection():
    """The name answers a public address when checked and a loopback one afterwards: the connection
    goes to the address that was checked, and the name is looked up once."""
    answers = []

    async def rebinding(host, port):
        answers.append(host)
        return ["93.184.216.34"] if len(answers) == 1 else ["127.0.0.1"]

    with Routes({"/": secret_page}) as secret:
        guard = Guard(resolve=rebinding)
        rec = _Recorder()
        transport = GuardedTransport(guard, httpx.Limits(max_connections=10), inner=rec)
        cfg = replace(CFG, allow_private=False, obey_robots=False)
        docs, errors, _ = crawl(cfg, f"http://clinic.test:{secret.port}/", guard=guard, transport=transport)
        assert secret.log == []
    assert rec.hosts == ["93.184.216.34"] and answers == ["clinic.test"]
    assert docs == [] and "no connection outside loopback" in errors[0].reason


@pytest.mark.parametrize("addr,kind", [
    ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"), ("100.64.0.1", "shared (CGNAT)"), ("0.0.0.0", "unspecified"),
    ("224.0.0.251", "multicast"), ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"),
    ("::1", "loopback"), ("fe80::1", "link-local"), ("fc00::1", "private"), ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback (IPv4 127.0.0.1 inside IPv6)"),
    ("::ffff:10.0.0.1", "private (IPv4 10.0.0.1 inside IPv6)"),
    ("2002:7f00:1::", "loopback (IPv4 127.0.0.1 inside IPv6)"),
    ("64:ff9b::a9fe:a9fe", "link-local (IPv4 169.254.169.254 inside IPv6)"),
    ("8.8.8.8", None), ("2001:4860:4860::8888", None), ("::ffff:8.8.8.8", None)])
def test_address_kinds(addr, kind):
    assert address_kind(ipaddress.ip_address(addr)) == kind
