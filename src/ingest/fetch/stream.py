"""Large bodies read as a stream: WARC files of a gigabyte (CC-NEWS) go to their parser piece by piece,
never whole into memory, through the same address guard and politeness as every other request.

:class:`~ingest.fetch.client.Fetcher` reads a body into memory, capped at ``max_bytes``, and holds an
attempt to a wall-clock deadline: right for pages and feeds, wrong for a file that takes minutes to
stream. Here only the start of the request (connect, status line, headers) is retried and held to
the politeness slot and ``timeout_s``; the body is then read with the read timeout alone (a stalled
stream fails, a slow one goes on), with no size cap, by whoever consumes it.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx

from ingest.clock import SYSTEM_CLOCK, Clock
from ingest.config import FetchSettings
from ingest.errors import ErrorKind
from ingest.fetch import netguard
from ingest.fetch.client import RECORDED_HEADERS, FetchRecord
from ingest.fetch.netguard import Resolver
from ingest.fetch.politeness import Politeness

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class StreamError(Exception):
    """A stream that could not be opened or broke off; ``kind`` is one of ingest's error kinds."""

    def __init__(self, kind: ErrorKind, url: str, detail: str, *, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{url}: {kind.value} ({detail})")
        self.kind, self.url, self.detail = kind, url, detail
        self.retryable, self.retry_after = retryable, retry_after


class RawStream:
    """A file-like view (``read(n)``) of a response body as it arrives; counts the bytes read."""

    def __init__(self, url: str, pieces: Iterator[bytes]) -> None:
        self.url = url
        self._pieces = pieces
        self._buffer = bytearray()
        self.n_bytes = 0
        self._done = False

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._buffer) < n):
            try:
                piece = next(self._pieces)
            except StopIteration:
                self._done = True
                break
            except httpx.TimeoutException as exc:
                raise StreamError(ErrorKind.TIMEOUT, self.url, f"{type(exc).__name__}: {exc}") from None
            except httpx.HTTPError as exc:
                raise StreamError(ErrorKind.CONNECTION, self.url, f"{type(exc).__name__}: {exc}") from None
            self._buffer += piece
        out = bytes(self._buffer if n < 0 else self._buffer[:n])
        del self._buffer[:len(out)]
        self.n_bytes += len(out)
        return out


@dataclass(frozen=True, slots=True)
class Opened:
    stream: RawStream
    status: int
    headers: dict[str, str]
    final_url: str
    started_at: datetime
    attempts: int


class StreamFetcher:
    """Opens streamed GETs. ``shared_slots`` is the cross-process host limit (store/hostslots.py), as
    for :class:`~ingest.fetch.client.Fetcher`; the other arguments are its too."""

    def __init__(self, settings: FetchSettings, *, resolver: Resolver | None = None,
                 sleep: Callable[[float], None] = time.sleep, allowed_addresses: Collection[str] = (),
                 shared_slots: Callable[[str], contextlib.AbstractContextManager[object]] | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self._settings = settings
        self._sleep = sleep
        self._clock = clock
        policy = netguard.AddressPolicy(allow_private_networks=settings.allow_private_networks,
                                        allowed=allowed_addresses)
        self._policy = policy
        # trust_env=False: an environment proxy would be a second transport, outside the guard.
        # identity: a WARC file is gzip members already, read as they are
        self._client = httpx.Client(
            transport=netguard.GuardedTransport(policy, resolver=resolver, max_connections=4),
            follow_redirects=False, trust_env=False, timeout=httpx.Timeout(settings.timeout_s),
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "identity"})
        self._politeness = Politeness(settings, sleep, shared_slots)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> StreamFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def open(self, url: str) -> Iterator[Opened]:
        """The body of ``url`` as a stream (2xx only): connect errors, timeouts, 429 and 5xx are retried
        with backoff and Retry-After like any fetch; anything else raises :class:`StreamError`."""
        s = self._settings
        for attempt in range(1, s.retries + 2):
            try:
                response, final_url, started = self._start(url)
            except StreamError as exc:
                retry_after = exc.retry_after
                if not exc.retryable or attempt > s.retries:
                    raise
                if retry_after is not None and retry_after > s.retry_after_max_s:
                    raise
                self._sleep(retry_after if retry_after is not None else
                            random.uniform(0, min(s.backoff_max_s, s.backoff_base_s * 2 ** (attempt - 1))))
                continue
            try:
                headers = {k.lower(): v for k, v in response.headers.items()}
                yield Opened(RawStream(final_url, response.iter_raw()), response.status_code, headers, final_url,
                             started, attempt)
            finally:
                response.close()
            return

    def _start(self, url: str) -> tuple[httpx.Response, str, datetime]:
        target, hops = url, 0
        while True:
            try:
                u = httpx.URL(target)
            except httpx.InvalidURL as exc:
                raise StreamError(ErrorKind.UNSUPPORTED_URL, target, str(exc)) from None
            if u.scheme not in ("http", "https") or not u.host:
                raise StreamError(ErrorKind.UNSUPPORTED_URL, target, "not an absolute http(s) URL")
            ip = netguard.ip_literal(u.host)
            if ip is not None and not self._policy.permits(ip):
                raise StreamError(ErrorKind.FORBIDDEN_ADDRESS, target, str(netguard.ForbiddenAddressError(u.host, ip)))
            with self._politeness.slot(u.host):
                started = self._clock.now()
                try:
                    with netguard.deadline(time.monotonic() + self._settings.timeout_s):
                        response = self._client.send(self._client.build_request("GET", target), stream=True)
                except httpx.HTTPError as exc:
                    raise _failure(target, exc) from None
            status = response.status_code
            if status in _REDIRECTS and (location := response.headers.get("location")):
                response.close()
                hops += 1
                if hops > self._settings.max_redirects:
                    raise StreamError(ErrorKind.TOO_MANY_REDIRECTS, url, f"more than {self._settings.max_redirects}")
                target = str(httpx.URL(target).join(location))
                continue
            if 200 <= status < 300:
                return response, target, started
            response.close()
            raise _http_failure(target, status, response.headers.get("retry-after"), self._clock.now())


def _failure(url: str, exc: Exception) -> StreamError:
    for e in (exc, exc.__cause__, exc.__context__):
        if isinstance(e, netguard.ForbiddenAddressError):
            return StreamError(ErrorKind.FORBIDDEN_ADDRESS, url, str(e))
        if isinstance(e, netguard.NameResolutionError):
            return StreamError(ErrorKind.DNS, url, str(e))
    kind = ErrorKind.TIMEOUT if isinstance(exc, httpx.TimeoutException) else ErrorKind.CONNECTION
    if isinstance(exc, httpx.ConnectError) and "refused" in str(exc).lower():
        kind = ErrorKind.REFUSED
    return StreamError(kind, url, f"{type(exc).__name__}: {exc}", retryable=True)


def _http_failure(url: str, status: int, retry_after: str | None, now: datetime) -> StreamError:
    from ingest.fetch.client import _retry_after  # the one parser of Retry-After (seconds or HTTP-date)

    if status == 429:
        return StreamError(ErrorKind.RATE_LIMITED, url, "429 Too Many Requests", retryable=True,
                           retry_after=_retry_after(retry_after, now))
    if status >= 500:
        return StreamError(ErrorKind.HTTP_5XX, url, f"HTTP {status}", retryable=True,
                           retry_after=_retry_after(retry_after, now))
    return StreamError(ErrorKind.HTTP_4XX, url, f"HTTP {status}")


def stream_record(url: str, opened: Opened | None, *, at: datetime, error: StreamError | None = None,
                  duration_ms: int = 0) -> FetchRecord:
    """The fetch row of a streamed request (its bytes are not kept: they are the records read from it)."""
    return FetchRecord(
        url=url, final_url=opened.final_url if opened else None, redirects=(),
        status=opened.status if opened else None,
        headers={k: opened.headers[k] for k in RECORDED_HEADERS if opened and k in opened.headers},
        n_bytes=opened.stream.n_bytes if opened else 0, sha256=None,
        started_at=opened.started_at if opened else at, duration_ms=duration_ms,
        attempt=opened.attempts if opened else 1, error_kind=error.kind if error else None,
        error_detail=error.detail if error else None)


__all__ = ["Opened", "RawStream", "StreamError", "StreamFetcher", "stream_record"]
