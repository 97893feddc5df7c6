"""Which addresses the fetcher may connect to, enforced on the socket actually opened.

Checking a URL's host name before the request is not enough: the name can resolve to a public address
for the check and to ``169.254.169.254`` for the connection (DNS rebinding), and a redirect can point
anywhere. So the policy lives in an httpcore network backend: :class:`GuardedBackend` resolves the
host itself (with the injected resolver), refuses the connection if *any* resolved address is
forbidden (a name that mixes public and private records is treated as hostile rather than trimmed),
and connects to the vetted IP. TLS is layered on that stream afterwards by httpcore with the original
host name as ``server_hostname``, so SNI and certificate checks are unchanged.

:class:`GuardedTransport` is a small ``httpx.BaseTransport`` over ``httpcore.ConnectionPool`` (httpx's
own ``HTTPTransport`` takes no network backend; building ours on public httpcore API avoids patching
its private ``_pool``).

The backend's streams also enforce a per-thread wall-clock deadline (:func:`deadline`): every connect,
read and write gets at most the time left, so neither a server that trickles its headers nor one that
trickles its body can hold a fetch past it.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

import httpcore
import httpx

Resolver = Callable[[str, int], list[str]]

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not globally routable (IANA special-purpose registries), spelled out rather than taken from
# ipaddress.is_private/is_global, whose definitions changed between Python patch releases.
_FORBIDDEN_V4 = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8",  # "this network", unspecified
    "10.0.0.0/8",
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",
    "169.254.0.0/16",  # link-local, cloud metadata at 169.254.169.254
    "172.16.0.0/12",
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # TEST-NET-1
    "192.88.99.0/24",  # 6to4 relay anycast
    "192.168.0.0/16",
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # TEST-NET-2
    "203.0.113.0/24",  # TEST-NET-3
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, includes 255.255.255.255
))
_FORBIDDEN_V6 = tuple(ipaddress.IPv6Network(n) for n in (
    "::/96",  # unspecified, loopback, deprecated IPv4-compatible
    "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
    "64:ff9b:1::/48",  # local-use NAT64
    "100::/64",  # discard-only
    "2001::/23",  # IETF protocol assignments, incl. Teredo
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation
    "5f00::/16",  # SRv6 SIDs
    "fc00::/7",  # unique-local
    "fe80::/10",  # link-local
    "fec0::/10",  # deprecated site-local
    "ff00::/8",  # multicast
))
# IPv6 prefixes that embed an IPv4 address: judged by the embedded address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

_LEGACY_V4 = re.compile(r"[0-9a-fA-FxX.]+")


class ForbiddenAddressError(Exception):
    """The target host is, or resolves to, an address the policy refuses."""

    def __init__(self, host: str, ip: str) -> None:
        self.host = host
        self.ip = ip
        super().__init__(f"{host} -> {ip} is not a public address" if host != ip
                         else f"{ip} is not a public address")


class NameResolutionError(Exception):
    """The resolver could not turn the host name into addresses."""

    def __init__(self, host: str, detail: str) -> None:
        self.host = host
        self.detail = detail
        super().__init__(f"cannot resolve {host}: {detail}")


def _parse(ip: str) -> _IPAddress:
    return ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id


def is_forbidden_address(ip: str) -> bool:
    """True unless ``ip`` is a globally routable unicast address. Unparseable input counts as forbidden."""
    try:
        addr = _parse(ip)
    except ValueError:
        return True
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour
        if embedded is None and addr in _NAT64:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is not None:
            return is_forbidden_address(str(embedded))
        return any(addr in net for net in _FORBIDDEN_V6)
    return any(addr in net for net in _FORBIDDEN_V4)


def ip_literal(host: str) -> str | None:
    """The IP address ``host`` spells, in canonical form, or None for a host name.

    Besides the usual forms this accepts what inet_aton (and browsers, and getaddrinfo) accept:
    ``2130706433``, ``0x7f.1``, ``127.1`` are all 127.0.0.1.
    """
    h = host.strip()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    try:
        return str(_parse(h))
    except ValueError:
        pass
    if _LEGACY_V4.fullmatch(h) and any(c.isdigit() for c in h):
        try:
            return socket.inet_ntoa(socket.inet_aton(h))
        except OSError:
            return None
    return None


def default_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from getaddrinfo, unique, in the system's preference order."""
    seen: dict[str, None] = {}
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


class AddressPolicy:
    """Forbidden addresses are refused unless private networks are allowed outright.

    ``allowed`` lists addresses that count as public anyway (tests let a loopback server play a
    public host with it).
    """

    def __init__(self, *, allow_private_networks: bool = False, allowed: Collection[str] = ()) -> None:
        self.allow_private_networks = allow_private_networks
        self.allowed = frozenset(str(_parse(a)) for a in allowed)

    def permits(self, ip: str) -> bool:
        if self.allow_private_networks:
            return True
        try:
            canonical = str(_parse(ip))
        except ValueError:
            return False
        return canonical in self.allowed or not is_forbidden_address(canonical)


# --- per-thread deadline -------------------------------------------------------------------------

_local = threading.local()


@contextlib.contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Within the block, network operations of this thread end by ``at`` (time.monotonic())."""
    previous = getattr(_local, "at", None)
    _local.at = at
    try:
        yield
    finally:
        _local.at = previous


def _time_left(timeout: float | None, expired: type[Exception]) -> float | None:
    at = getattr(_local, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("deadline exceeded")
    return left if timeout is None else min(timeout, left)


# --- httpcore backend ----------------------------------------------------------------------------

class _GuardedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname,
                                      _time_left(timeout, httpcore.ConnectTimeout))
        return _GuardedStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, vets, then connects to the vetted IP; see the module docstring."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver | None = None,
                 inner: httpcore.NetworkBackend | None = None) -> None:
        self._policy = policy
        self._resolver = resolver or default_resolver
        self._inner = inner or httpcore.SyncBackend()

    def vetted_addresses(self, host: str, port: int) -> list[str]:
        literal = ip_literal(host)
        if literal is not None:
            candidates = [literal]
        else:
            try:
                candidates = list(self._resolver(host, port))
            except Exception as exc:  # an injected resolver may fail any way it likes
                raise NameResolutionError(host, str(exc) or type(exc).__name__) from exc
            if not candidates:
                raise NameResolutionError(host, "no addresses")
        for ip in candidates:
            if not self._policy.permits(ip):
                raise ForbiddenAddressError(host, ip)
        return candidates

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None) -> httpcore.NetworkStream:
        failure: Exception | None = None
        for ip in self.vetted_addresses(host, port):
            try:
                stream = self._inner.connect_tcp(ip, port, _time_left(timeout, httpcore.ConnectTimeout),
                                                 local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _GuardedStream(stream)
        assert failure is not None
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                            ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# --- httpx transport -----------------------------------------------------------------------------

# Most specific first: the first isinstance match wins.
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
)


@contextlib.contextmanager
def _httpx_exceptions() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _EXCEPTIONS:
            if isinstance(exc, source):
                raise target(str(exc) or type(exc).__name__) from exc
        raise


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_exceptions():
            yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process: loading the CA bundle costs ~35 ms of CPU, which every
    run (every fetcher) paid again; a context is safe to share between connections and threads."""
    return httpx.create_ssl_context()


class GuardedTransport(httpx.BaseTransport):
    """HTTP/1.1 over a connection pool whose every socket goes through :class:`GuardedBackend`."""

    def __init__(self, policy: AddressPolicy, *, resolver: Resolver | None = None,
                 max_connections: int = 16, ssl_context: ssl.SSLContext | None = None) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or default_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            network_backend=GuardedBackend(policy, resolver),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                             port=request.url.port, target=request.url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_exceptions():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_ResponseStream(response.stream), extensions=response.extensions)

    def close(self) -> None:
        self._pool.close()
