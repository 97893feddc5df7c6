"""The one place that talks HTTP: feeds, pages and robots.txt, politely and within limits.

Every fetch returns a :class:`FetchResult`; network, HTTP and policy failures are values on it, never
exceptions. Each HTTP attempt becomes one :class:`FetchRecord` (a row of the ``fetches`` table).

Limits, all from :class:`~ingest.config.FetchSettings`:

* time: httpx connect/read/pool timeouts, plus a wall-clock deadline per attempt (all its redirect
  hops) enforced on every socket operation by :mod:`ingest.fetch.netguard`;
* size: Content-Length over ``max_bytes`` is refused before reading; otherwise the body is read raw
  and decoded here, in bounded pieces, so a compression bomb stops at ``max_bytes`` + one piece;
* addresses: :mod:`ingest.fetch.netguard` vets the IP of every connection, redirects included;
* politeness: per-host concurrency and spacing of request starts, a global in-flight cap, robots.txt
  for pages (:mod:`ingest.fetch.robots`).

Redirects are followed here, not by httpx, so every hop is recorded and re-checked.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import random
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import brotli
import httpx

from ingest.clock import SYSTEM_CLOCK, Clock
from ingest.config import FetchSettings
from ingest.errors import ErrorKind, FetchError
from ingest.fetch import netguard
from ingest.fetch.botwall import detect_bot_wall
from ingest.fetch.decompress import ACCEPT_ENCODING, DECODE_CHUNK, Decoder, IncompleteEncoding
from ingest.fetch.netguard import Resolver
from ingest.fetch.politeness import Politeness
from ingest.fetch.refresh import meta_refresh_target
from ingest.fetch.robots import ROBOTS_MAX_BYTES, RobotsCache

__all__ = ["DECODE_CHUNK", "FetchCancelled", "FetchRecord", "FetchResult", "Fetcher", "Resolver", "host_of"]

Kind = Literal["feed", "page", "robots", "other"]

RECORDED_HEADERS = ("content-type", "content-length", "content-encoding", "etag", "last-modified",
                    "cache-control", "retry-after", "expires", "age", "date", "server", "location")

_ACCEPT: dict[str, str] = {
    "feed": ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
             "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"),
    "page": "text/html, application/xhtml+xml;q=0.9, */*;q=0.8",
    "robots": "text/plain, */*;q=0.5",
    "other": "*/*",
}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
BOT_WALL_STATUSES = frozenset({403, 429, 503})
BOT_WALL_SNIFF_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class FetchRecord:
    """One HTTP attempt (all its redirect hops). ``final_url``/``status`` are those of the last
    response received (None when none was); ``n_bytes`` counts decoded body bytes read, also when
    reading stopped at a limit; ``sha256`` is set only for a body read completely."""

    url: str
    final_url: str | None
    redirects: tuple[str, ...]
    status: int | None
    headers: dict[str, str]
    n_bytes: int
    sha256: str | None
    started_at: datetime
    duration_ms: int
    attempt: int
    error_kind: ErrorKind | None
    error_detail: str | None
    meta_refresh: tuple[str, ...] = ()  # hops (also in ``redirects``) reached by <meta http-equiv=refresh>


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    final_url: str
    status: int | None
    headers: dict[str, str]
    body: bytes
    records: tuple[FetchRecord, ...]
    not_modified: bool
    error: FetchError | None
    retry_after_s: float | None
    moved_to: str | None = None  # the final URL, when every redirect hop was permanent (301/308)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


class FetchCancelled(Exception):
    """The fetcher's ``cancel`` event was set while a request waited for its turn: it was not sent.
    Not a failure of the URL (nothing is recorded for it); the run is stopping."""


class _Failure(Exception):
    def __init__(self, kind: ErrorKind, detail: str, *, retryable: bool = False,
                 retry_after: float | None = None, n_bytes: int = 0) -> None:
        super().__init__(detail)
        self.kind, self.detail, self.retryable, self.retry_after = kind, detail, retryable, retry_after
        self.n_bytes = n_bytes  # decoded bytes read before giving up


# --- helpers --------------------------------------------------------------------------------------

def _causes(exc: BaseException) -> Iterator[BaseException]:
    """exc and everything it wraps (httpcore keeps the OSError in args, httpx in __cause__)."""
    todo, seen = [exc], set()
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend(x for x in (e.__cause__, e.__context__, *e.args) if isinstance(x, BaseException))


def _classify(exc: Exception) -> _Failure:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    chain = list(_causes(exc))
    for e in chain:
        if isinstance(e, netguard.ForbiddenAddressError):
            return _Failure(ErrorKind.FORBIDDEN_ADDRESS, str(e))
        if isinstance(e, netguard.NameResolutionError):
            return _Failure(ErrorKind.DNS, str(e))
    if isinstance(exc, httpx.TimeoutException):
        return _Failure(ErrorKind.TIMEOUT, detail, retryable=True)
    if isinstance(exc, httpx.ConnectError):
        for e in chain:
            if isinstance(e, ssl.SSLError | ssl.CertificateError):
                return _Failure(ErrorKind.TLS, f"{type(e).__name__}: {e}")
            if isinstance(e, ConnectionRefusedError):
                return _Failure(ErrorKind.REFUSED, detail, retryable=True)
            if isinstance(e, socket.gaierror):
                return _Failure(ErrorKind.DNS, detail)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return _Failure(ErrorKind.UNSUPPORTED_URL, detail)
    if isinstance(exc, httpx.HTTPError):
        return _Failure(ErrorKind.CONNECTION, detail, retryable=True)
    raise exc


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date; None when absent or unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _content_length(headers: httpx.Headers) -> int | None:
    value = headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


def host_of(url: str) -> str:
    """The host a request to ``url`` counts against for politeness (the URL itself when it has none)."""
    with contextlib.suppress(httpx.InvalidURL, TypeError):
        return httpx.URL(url).host or url
    return url


_host_key = host_of


# --- the fetcher ----------------------------------------------------------------------------------

def _conditional(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """The headers of a conditional GET (RFC 9110 13.1) for the validators held."""
    return ({"If-None-Match": etag} if etag else {}) | ({"If-Modified-Since": last_modified} if last_modified else {})


class Fetcher:
    """Thread-safe HTTP fetcher; see the module docstring. Use as a context manager or call close().

    ``resolver`` replaces getaddrinfo (tests map fake names); ``allowed_addresses`` are IPs treated
    as public even if the policy forbids them (tests let a loopback server play a public host);
    ``sleep`` receives every wait (backoff, Retry-After, per-host spacing); ``clock`` gives the times
    written on fetch records and the "now" an HTTP-date Retry-After is counted from; once ``cancel`` is
    set, a request that has not been sent raises :class:`FetchCancelled` instead (a stopping run does
    not wait for a queue of requests behind per-host limits); ``recall_robots`` returns a robots.txt
    fetched recently (from the archive) or None (ingest/robots.py).
    """

    def __init__(self, settings: FetchSettings, *, resolver: Resolver | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 allowed_addresses: Collection[str] = (),
                 shared_slots: Callable[[str], contextlib.AbstractContextManager[object]] | None = None,
                 clock: Clock = SYSTEM_CLOCK, cancel: threading.Event | None = None,
                 recall_robots: Callable[[str], FetchResult | None] | None = None) -> None:
        self._settings = settings
        self._clock = clock
        self._cancel = cancel
        self._sleep = sleep
        self._policy = netguard.AddressPolicy(allow_private_networks=settings.allow_private_networks,
                                              allowed=allowed_addresses)
        transport = netguard.GuardedTransport(self._policy, resolver=resolver,
                                              max_connections=settings.max_connections)
        # trust_env=False: an environment proxy would be a second transport, outside the guard.
        self._client = httpx.Client(
            transport=transport, follow_redirects=False, trust_env=False,
            timeout=httpx.Timeout(settings.timeout_s),
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        )
        self._politeness = Politeness(settings, sleep, shared_slots)
        self._robots = RobotsCache(lambda u: self.fetch(u, kind="robots"), settings.user_agent, recall_robots)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fetch_feed(self, url: str, *, etag: str | None = None,
                   last_modified: str | None = None) -> FetchResult:
        return self.fetch(url, kind="feed", headers=_conditional(etag, last_modified))

    def fetch_page(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """A page; with validators (a re-check of an archived page) an unchanged page costs a 304."""
        return self.fetch(url, kind="page", headers=_conditional(etag, last_modified))

    def take_robots_fetches(self) -> list[FetchResult]:
        """robots.txt fetches made (for pages) since the last call, to archive as kind "robots"."""
        return self._robots.take_fetches()

    def fetch(self, url: str, *, kind: Kind, headers: Mapping[str, str] | None = None) -> FetchResult:
        request_headers = {"Accept": _ACCEPT[kind], **(headers or {})}
        conditional = any(k.lower() in ("if-none-match", "if-modified-since") for k in request_headers)
        s = self._settings
        records: list[FetchRecord] = []
        retry_after: float | None = None
        for n in range(1, s.retries + 2):
            attempt = self._attempt(url, kind, request_headers, conditional, n)
            record, failure, body, response_headers, target, moved = attempt
            records.append(record)
            if failure is not None and failure.retry_after is not None:
                retry_after = failure.retry_after
            if failure is None or not failure.retryable or n > s.retries:
                break
            if failure.retry_after is not None:
                if failure.retry_after > s.retry_after_max_s:
                    break  # not waited out inside a run: the caller pushes the next poll back
                wait = failure.retry_after
            else:
                wait = random.uniform(0, min(s.backoff_max_s, s.backoff_base_s * 2 ** (n - 1)))
            self._sleep(wait)
        error = None if failure is None else FetchError(failure.kind, url, failure.detail, record.status)
        return FetchResult(url=url, final_url=target, status=record.status, headers=response_headers,
                           body=body if failure is None else b"", records=tuple(records),
                           not_modified=failure is None and record.status == 304,
                           error=error, retry_after_s=retry_after, moved_to=moved if failure is None else None)

    def _attempt(self, url: str, kind: Kind, headers: dict[str, str], conditional: bool, n: int
                 ) -> tuple[FetchRecord, _Failure | None, bytes, dict[str, str], str, str | None]:
        """One attempt, all hops (each checked against robots.txt for pages). A page whose head holds
        a prompt ``<meta http-equiv="refresh">`` is a hop too (ingest/refresh.py), within the same
        redirect budget and through the same checks.

        Time spent queueing for a politeness slot or reading robots.txt is neither charged to the
        attempt's deadline nor counted in its duration."""
        t0 = time.monotonic()
        started_at: datetime | None = None
        waited = 0.0
        cap = ROBOTS_MAX_BYTES if kind == "robots" else self._settings.max_bytes
        target, hops, refreshed = url, [], []
        seen = {url}
        permanent: bool | None = None  # every HTTP redirect so far was 301/308
        status: int | None = None
        final_url: str | None = None
        response_headers: dict[str, str] = {}
        body, n_bytes, failure = b"", 0, None
        try:
            while True:
                self._check_target(target)
                if kind == "page" and self._settings.respect_robots:
                    w0 = time.monotonic()
                    decision = self._robots.check(target)
                    waited += time.monotonic() - w0
                    if not decision.allowed:
                        raise _Failure(decision.kind, decision.reason)
                w0 = time.monotonic()
                with self._politeness.slot(_host_key(target)):
                    waited += time.monotonic() - w0
                    if self._cancel is not None and self._cancel.is_set():
                        raise FetchCancelled(target)
                    started_at = started_at or self._clock.now()
                    with netguard.deadline(t0 + waited + self._settings.timeout_s):
                        request = self._client.build_request("GET", target, headers=headers)
                        response = self._client.send(request, stream=True)
                        try:
                            status, final_url = response.status_code, target
                            response_headers = {k.lower(): v for k, v in response.headers.items()}
                            location = response.headers.get("location")
                            if status in _REDIRECTS and location is not None:
                                target = self._next_hop(target, location, hops, seen)
                                permanent = (permanent is not False) and status in _PERMANENT
                                continue
                            try:
                                self._check_status(status, response.headers, conditional)
                            except _Failure as refused:
                                raise self._bot_wall(response, t0 + waited) or refused from None
                            if status != 304:
                                body, n_bytes = self._read_body(response, cap, t0 + waited,
                                                                truncate=kind == "robots")
                            if kind == "page" and status == 200 and (
                                    nxt := self._refresh_hop(target, body, hops, seen)) is not None:
                                refreshed.append(nxt)
                                target, body, n_bytes, permanent = nxt, b"", 0, False
                                continue
                        finally:
                            response.close()
                break
        except _Failure as exc:
            failure = exc
            n_bytes = exc.n_bytes
        except Exception as exc:
            failure = _classify(exc)  # re-raises what is not a network/HTTP failure
        record = FetchRecord(
            url=url, final_url=final_url, redirects=tuple(hops), status=status,
            headers={k: response_headers[k] for k in RECORDED_HEADERS if k in response_headers},
            n_bytes=n_bytes,
            sha256=hashlib.sha256(body).hexdigest() if failure is None and status != 304 else None,
            started_at=started_at or self._clock.now(),
            duration_ms=max(0, round((time.monotonic() - t0 - waited) * 1000)), attempt=n,
            error_kind=failure.kind if failure else None, error_detail=failure.detail if failure else None,
            meta_refresh=tuple(refreshed),
        )
        return record, failure, body, response_headers, target, target if permanent and hops else None

    def _bot_wall(self, response: httpx.Response, t0: float) -> _Failure | None:
        """Challenge pages (Cloudflare, DDoS-Guard, captchas…) come as 403/429/503: say so, as their own
        kind, instead of a plain HTTP error. Only a small head of the body is read to decide."""
        if response.status_code not in BOT_WALL_STATUSES:
            return None
        vendor = detect_bot_wall("", response.status_code, response.headers)
        if vendor is None:
            try:
                head, _ = self._read_body(response, BOT_WALL_SNIFF_BYTES, t0, truncate=True)
            except Exception:  # noqa: BLE001 - the HTTP error stands on its own
                return None
            vendor = detect_bot_wall(head.decode("utf-8", "replace"), response.status_code, response.headers)
        if vendor is None:
            return None
        return _Failure(ErrorKind.BOT_WALL, f"{vendor} challenge (HTTP {response.status_code})")

    def _check_target(self, target: str) -> None:
        """Refuse before connecting what never needs a connection to refuse."""
        try:
            u = httpx.URL(target)
        except (httpx.InvalidURL, TypeError) as exc:
            raise _Failure(ErrorKind.UNSUPPORTED_URL, f"invalid URL {target!r}: {exc}") from None
        if u.scheme not in ("http", "https") or not u.host:
            raise _Failure(ErrorKind.UNSUPPORTED_URL, f"not an absolute http(s) URL: {target!r}")
        ip = netguard.ip_literal(u.host)
        if ip is not None and not self._policy.permits(ip):
            raise _Failure(ErrorKind.FORBIDDEN_ADDRESS, str(netguard.ForbiddenAddressError(u.host, ip)))

    def _refresh_hop(self, target: str, body: bytes, hops: list[str], seen: set[str]) -> str | None:
        """The next hop of a meta refresh, or None when the page has none to follow (none, a refresh
        of itself, or a target that is no http(s) URL: then the page itself is the result)."""
        location = meta_refresh_target(body)
        if location is None:
            return None
        try:
            nxt = httpx.URL(target).join(location)
        except (httpx.InvalidURL, TypeError):
            return None
        if nxt.scheme not in ("http", "https") or not nxt.host or str(nxt).split("#")[0] == target.split("#")[0]:
            return None
        return self._next_hop(target, location, hops, seen)

    def _next_hop(self, base: str, location: str, hops: list[str], seen: set[str]) -> str:
        try:
            nxt = str(httpx.URL(base).join(location))
        except httpx.InvalidURL as exc:
            raise _Failure(ErrorKind.UNSUPPORTED_URL, f"bad Location {location!r}: {exc}") from None
        if nxt in seen:
            raise _Failure(ErrorKind.TOO_MANY_REDIRECTS, f"redirect loop back to {nxt}")
        if len(hops) >= self._settings.max_redirects:
            raise _Failure(ErrorKind.TOO_MANY_REDIRECTS,
                           f"more than {self._settings.max_redirects} redirects (next: {nxt})")
        hops.append(nxt)
        seen.add(nxt)
        return nxt

    def _check_status(self, status: int, headers: httpx.Headers, conditional: bool) -> None:
        if 200 <= status < 300 or (status == 304 and conditional):
            return
        if status == 429:
            raise _Failure(ErrorKind.RATE_LIMITED, "429 Too Many Requests", retryable=True,
                           retry_after=_retry_after(headers.get("retry-after"), self._clock.now()))
        if status >= 500:
            ra = _retry_after(headers.get("retry-after"), self._clock.now()) if status == 503 else None
            raise _Failure(ErrorKind.HTTP_5XX, f"HTTP {status}", retryable=True, retry_after=ra)
        if 300 <= status < 400:  # no Location, or 304 to an unconditional request: nothing to use
            raise _Failure(ErrorKind.UNSUPPORTED_URL, f"HTTP {status} without a usable Location")
        raise _Failure(ErrorKind.HTTP_4XX, f"HTTP {status}")

    def _read_body(self, response: httpx.Response, cap: int, started: float, *,
                   truncate: bool) -> tuple[bytes, int]:
        """The decoded body, at most ``cap`` bytes (``truncate``: keep the first ``cap`` bytes)."""
        deadline_at = started + self._settings.timeout_s
        length = _content_length(response.headers)
        if length is not None and length > cap and not truncate:
            raise _Failure(ErrorKind.TOO_LARGE, f"Content-Length {length} > {cap}")
        encoding = response.headers.get("content-encoding", "")
        decoder = Decoder(encoding)
        out = bytearray()
        wire = 0

        def full(pieces: Iterator[bytes]) -> bool:
            nonlocal out
            for piece in pieces:
                out += piece
                if len(out) > cap:
                    if truncate:
                        del out[cap:]
                        return True
                    raise _Failure(ErrorKind.TOO_LARGE, f"body over {cap} bytes once decoded")
            return False

        try:
            for raw in response.iter_raw():
                wire += len(raw)
                if full(decoder.feed(raw)):
                    return bytes(out), len(out)
                if wire > cap and not truncate:
                    raise _Failure(ErrorKind.TOO_LARGE, f"body over {cap} bytes on the wire")
                if time.monotonic() > deadline_at:
                    raise _Failure(ErrorKind.TIMEOUT, "body not complete within the deadline", retryable=True)
            full(decoder.finish())
        except _Failure as failure:
            failure.n_bytes = len(out)
            raise
        except httpx.RemoteProtocolError as exc:
            if length is not None and wire < length:
                raise _Failure(ErrorKind.TRUNCATED, f"{wire} of {length} bytes: {exc}", retryable=True,
                               n_bytes=len(out)) from None
            raise _Failure(ErrorKind.CONNECTION, f"RemoteProtocolError: {exc}", retryable=True,
                           n_bytes=len(out)) from None
        except httpx.HTTPError as exc:
            failure = _classify(exc)
            failure.n_bytes = len(out)
            raise failure from None
        except IncompleteEncoding as exc:
            raise _Failure(ErrorKind.TRUNCATED, f"{exc} body ends before its end marker", retryable=True,
                           n_bytes=len(out)) from None
        except (zlib.error, brotli.error) as exc:
            raise _Failure(ErrorKind.CONNECTION, f"undecodable {encoding} body: {exc}",
                           n_bytes=len(out)) from None
        return bytes(out), len(out)
