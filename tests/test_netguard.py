"""The address policy, the guarded backend/transport, and the fetcher's SSRF behaviour end to end.

Only loopback ever receives packets: forbidden non-loopback targets (169.254.x, 10.x) are refused
before any connect, and 127.0.0.2 plays "internal host" with a listener that must stay untouched.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpcore
import httpx
import pytest
from faultsite import (
    FaultSite,
    RecordingSleep,
    SilentListener,
    make_certificate,
    server_tls_context,
    stub_resolver,
)

from ingest.config import FetchSettings
from ingest.errors import ErrorKind
from ingest.fetch import netguard
from ingest.fetch.client import Fetcher

RESOLVER_TABLE = {
    "metadata.test": ["169.254.169.254"],
    "internal.test": ["10.0.0.5"],
    "v6local.test": ["::1"],
    "public.test": ["127.0.0.1"],
    "mixed.test": ["127.0.0.1", "10.0.0.5"],
    "inside.test": ["127.0.0.2"],
}
PUBLIC_FOR_TESTS = ("127.0.0.1",)


@pytest.mark.parametrize("ip", [
    "127.0.0.1", "127.255.255.254", "10.0.0.5", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.254", "0.0.0.0", "0.1.2.3",
    "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1", "192.0.0.8", "192.0.2.1",
    "198.51.100.7", "203.0.113.9", "198.18.0.1",
    "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
    "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "not-an-ip", "",
])
def test_forbidden_addresses(ip: str) -> None:
    assert netguard.is_forbidden_address(ip) is True


@pytest.mark.parametrize("ip", [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "100.128.0.1", "192.169.0.1", "223.255.255.1",
    "2606:4700:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::",
])
def test_public_addresses(ip: str) -> None:
    assert netguard.is_forbidden_address(ip) is False


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"), ("017700000001", "127.0.0.1"), ("0x7F000001", "127.0.0.1"),
    ("[::1]", "::1"), ("::1", "::1"), ("::ffff:127.0.0.1", "::ffff:7f00:1"), ("8.8.8.8", "8.8.8.8"),
    ("example.com", None), ("public.test", None), ("1.2.3.4.5", None), ("deadbeef", None), ("", None),
])
def test_ip_literal(host: str, expected: str | None) -> None:
    assert netguard.ip_literal(host) == expected


def test_policy() -> None:
    strict = netguard.AddressPolicy(allowed=["127.0.0.1", "::1"])
    assert [strict.permits(ip) for ip in ("127.0.0.1", "0:0:0:0:0:0:0:1", "127.0.0.2", "8.8.8.8", "x")] == [
        True, True, False, True, False]
    open_ = netguard.AddressPolicy(allow_private_networks=True)
    assert [open_.permits(ip) for ip in ("10.0.0.5", "169.254.169.254", "::1")] == [True, True, True]


def test_default_resolver_resolves_localhost() -> None:
    assert "127.0.0.1" in netguard.default_resolver("localhost", 80)


# --- the backend ----------------------------------------------------------------------------------

@pytest.fixture
def inside() -> Iterator[SilentListener]:
    with SilentListener("127.0.0.2") as listener:
        yield listener


def _backend(table: dict[str, list[str]] | None = None) -> netguard.GuardedBackend:
    policy = netguard.AddressPolicy(allowed=PUBLIC_FOR_TESTS)
    return netguard.GuardedBackend(policy, stub_resolver(table or RESOLVER_TABLE))


@pytest.mark.parametrize("host", ["inside.test", "mixed.test", "127.0.0.2", "2130706434"])
def test_backend_refuses_before_connecting(host: str, inside: SilentListener) -> None:
    with pytest.raises(netguard.ForbiddenAddressError):
        _backend().connect_tcp(host, inside.port, timeout=1)
    assert not inside.accepted_any()


def test_backend_resolution_failure() -> None:
    with pytest.raises(netguard.NameResolutionError, match="nowhere.test"):
        _backend().connect_tcp("nowhere.test", 80, timeout=1)


def test_backend_connects_to_the_vetted_ip_and_keeps_the_host_name() -> None:
    # "public.test" exists only in the stub: the request can only work if the backend connected to
    # the address it vetted rather than resolving the name again.
    with FaultSite() as site, httpx.Client(transport=netguard.GuardedTransport(
            netguard.AddressPolicy(allowed=PUBLIC_FOR_TESTS), resolver=stub_resolver(RESOLVER_TABLE))) as client:
        response = client.get(site.url("/echo", host="public.test"))
    assert response.status_code == 200
    assert response.json()["Host"] == f"public.test:{site.port}"


def test_transport_maps_connect_errors() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    transport = netguard.GuardedTransport(netguard.AddressPolicy(allow_private_networks=True))
    with httpx.Client(transport=transport) as client, pytest.raises(httpx.ConnectError) as info:
        client.get(f"http://127.0.0.1:{port}/")
    assert isinstance(info.value.__cause__, httpcore.ConnectError)


def test_deadline_bounds_connect_and_read() -> None:
    backend = _backend()
    with FaultSite() as site:
        with netguard.deadline(time.monotonic() - 1), pytest.raises(httpcore.ConnectTimeout):
            backend.connect_tcp("public.test", site.port, timeout=5)
        stream = backend.connect_tcp("public.test", site.port, timeout=5)
        try:
            with netguard.deadline(time.monotonic() + 0.2), pytest.raises(httpcore.ReadTimeout):
                stream.read(100, timeout=30)  # the server waits for a request: nothing to read
        finally:
            stream.close()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    pytest.importorskip("cryptography", reason="cryptography makes the test certificate")
    return make_certificate("public.test", tmp_path)


def test_tls_uses_the_host_name_for_sni_and_verification(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_ctx = server_tls_context(cert, key)
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: sni.append(name)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    policy = netguard.AddressPolicy(allowed=PUBLIC_FOR_TESTS)
    table = {**RESOLVER_TABLE, "alias.test": ["127.0.0.1"]}
    with FaultSite(ssl_context=server_ctx) as site:
        transport = netguard.GuardedTransport(policy, resolver=stub_resolver(table), ssl_context=client_ctx)
        with httpx.Client(transport=transport) as client:
            assert client.get(site.url("/ok", host="public.test")).status_code == 200
            # Same IP, other name: the certificate (for public.test) must not match.
            with pytest.raises(httpx.ConnectError) as info:
                client.get(site.url("/ok", host="alias.test"))
    assert sni[0] == "public.test"
    assert isinstance(info.value.__cause__.args[0], ssl.SSLCertVerificationError)  # type: ignore[union-attr]


# --- the fetcher ----------------------------------------------------------------------------------

def _fetcher(resolver: netguard.Resolver | None = None, **overrides: object) -> Fetcher:
    settings = FetchSettings(**{"timeout_s": 1.0, "retries": 2, "backoff_base_s": 0.0, "per_host_delay_s": 0.0,
                                "respect_robots": False, **overrides})
    return Fetcher(settings, resolver=resolver or stub_resolver(RESOLVER_TABLE), sleep=RecordingSleep(),
                   allowed_addresses=PUBLIC_FOR_TESTS)


@pytest.mark.parametrize("host", ["metadata.test", "internal.test", "v6local.test", "mixed.test"])
def test_forbidden_names_are_refused_without_retry(host: str) -> None:
    with _fetcher() as fetcher:
        result = fetcher.fetch_page(f"http://{host}/latest/meta-data/")
    assert result.error is not None and result.error.kind is ErrorKind.FORBIDDEN_ADDRESS
    assert [(r.status, r.error_kind, r.final_url) for r in result.records] == [
        (None, ErrorKind.FORBIDDEN_ADDRESS, None)]
    assert host in result.error.detail


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]",
                                  "localhost"])
def test_literal_and_loopback_targets_never_reach_the_server(host: str) -> None:
    # allowed_addresses is empty here: 127.0.0.1 is not playing a public host in this test, and
    # "localhost" goes through the real resolver.
    settings = FetchSettings(timeout_s=1.0, retries=2, backoff_base_s=0.0, respect_robots=False)
    with FaultSite() as site, Fetcher(settings, sleep=RecordingSleep()) as fetcher:
        result = fetcher.fetch_page(f"http://{host}:{site.port}/ok")
    assert result.error is not None and result.error.kind is ErrorKind.FORBIDDEN_ADDRESS
    assert len(result.records) == 1
    assert site.connections == 0


def test_ipv6_loopback_literal_is_refused() -> None:
    with _fetcher() as fetcher:
        result = fetcher.fetch_page("http://[::1]:9/x")
    assert result.error is not None and result.error.kind is ErrorKind.FORBIDDEN_ADDRESS


def test_allowed_public_host_is_fetched() -> None:
    with FaultSite() as site, _fetcher() as fetcher:
        result = fetcher.fetch_page(site.url("/ok", host="public.test"))
    assert result.ok and result.status == 200
    assert [r.headers["host"] for r in site.requests] == [f"public.test:{site.port}"]


def test_private_networks_allowed_when_configured() -> None:
    settings = FetchSettings(respect_robots=False, allow_private_networks=True)
    with FaultSite() as site, Fetcher(settings) as fetcher:
        assert fetcher.fetch_page(site.url("/ok")).status == 200


@pytest.mark.parametrize("target", ["http://127.0.0.2:{port}/secret", "http://inside.test:{port}/secret",
                                    "http://metadata.test/latest/meta-data/", "http://[::1]:{port}/"])
def test_redirect_from_public_host_to_forbidden_target(target: str, inside: SilentListener) -> None:
    location = target.format(port=inside.port)
    with FaultSite() as site, _fetcher() as fetcher:
        start = site.url(f"/redirect?to={location}", host="public.test")
        result = fetcher.fetch_page(start)
    assert result.error is not None and result.error.kind is ErrorKind.FORBIDDEN_ADDRESS
    [record] = result.records
    assert (record.status, record.final_url, record.redirects) == (302, start, (location,))
    assert result.final_url == location
    assert not inside.accepted_any()


def test_dns_rebinding_is_caught_at_connect_time() -> None:
    answers = itertools.chain([["127.0.0.1"]], itertools.repeat(["127.0.0.2"]))

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    with FaultSite() as site, SilentListener("127.0.0.2", site.port) as inside, _fetcher(rebinding) as fetcher:
        first = fetcher.fetch_page(site.url("/close", host="rebind.test"))  # server closes the connection
        second = fetcher.fetch_page(site.url("/close", host="rebind.test"))
        reached_inside = inside.accepted_any()
    assert first.ok
    assert second.error is not None and second.error.kind is ErrorKind.FORBIDDEN_ADDRESS
    assert "127.0.0.2" in second.error.detail
    assert len(site.requests) == 1
    assert not reached_inside


def test_unknown_name_is_a_dns_failure_without_retry() -> None:
    with _fetcher() as fetcher:
        result = fetcher.fetch_page("http://nowhere.test/")
    assert result.error is not None and result.error.kind is ErrorKind.DNS
    assert len(result.records) == 1


def test_environment_proxies_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy would be a second way out, around the guard; here it would also be refused.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{s.getsockname()[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    with FaultSite() as site, _fetcher() as fetcher:
        assert fetcher.fetch_page(site.url("/ok", host="public.test")).ok
