"""robots.txt, fetched once per origin per Fetcher and consulted before every page request.

What an unusable robots.txt means follows RFC 9309 §2.3.1:

* 2xx: parse it (urllib.robotparser; the first 512 KiB, the RFC's minimum, are parsed, the rest is
  ignored);
* 4xx, including 401/403 ("unavailable"), and more redirects than allowed: no rules, everything is
  allowed;
* 5xx, 429 and network failures ("unreachable"): everything is disallowed *for now*, for the rest of
  this Fetcher's life (one run). A site whose robots.txt is failing is likely failing or shedding load;
  crawling it anyway would ignore rules we could not read. A page refused this way carries the robots
  fetch's own kind (``http_5xx``, ``rate_limited``, ``timeout``, ``refused`` …), not ``robots``: those
  kinds are retryable, so the page is tried again on the item retry schedule, when robots.txt may
  answer. (``robots`` is final: it means the rules were read and say no.)
* the robots.txt URL itself refused by our own policy (forbidden address, unsupported redirect
  target): treated as allowing, so that the page fetch goes ahead and fails with the precise reason
  (the same policy applies to it).

A robots.txt answered (2xx or 4xx) within the last 24 hours, as the archive recorded it, is reused
instead of fetched again (RFC 9309 2.4 allows caching it that long; polls run every few minutes).
Unreachable answers are not reused: the next run asks again.

Feeds are not checked: they are published to be polled.

The rules are matched by Protego (Scrapy's parser): RFC 9309 longest match (``Disallow: /`` then
``Allow: /news/`` allows ``/news/a.html``), ``*`` and ``$`` wildcards, percent-encoding normalised.
urllib.robotparser, used before, takes the first matching rule and reads ``*`` literally. Crawl-delay
is not applied: politeness comes from the configured per-host delay.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from protego import Protego

from ingest.errors import ErrorKind, FetchError


class FetchResult(Protocol):
    """What robots.txt handling reads of a fetch (:class:`ingest.fetch.client.FetchResult` is one)."""

    @property
    def status(self) -> int | None: ...
    @property
    def body(self) -> bytes: ...
    @property
    def error(self) -> FetchError | None: ...

ROBOTS_MAX_BYTES = 512 * 1024

_ALLOW_ON = frozenset({ErrorKind.HTTP_4XX, ErrorKind.TOO_MANY_REDIRECTS, ErrorKind.FORBIDDEN_ADDRESS,
                       ErrorKind.UNSUPPORTED_URL})


def user_agent_token(user_agent: str) -> str:
    """The product token robots.txt groups are matched against: ``ingest/0.1 (+url)`` -> ``ingest``."""
    return user_agent.split("/", 1)[0].split()[0].strip().lower() if user_agent.strip() else "*"


def robots_url(url: str) -> str | None:
    """Where the robots.txt governing ``url`` lives, or None when ``url`` is not http(s)."""
    try:
        u = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return None
    if u.scheme not in ("http", "https") or not u.host:
        return None
    return f"{u.scheme}://{u.netloc.decode('ascii')}/robots.txt"


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """The outcome for one origin: parsed rules, or a blanket allow/disallow."""

    allow_all: bool
    parser: Protego | None = None
    reason: str = ""
    kind: ErrorKind = ErrorKind.ROBOTS  # what a refusal is reported as

    def allows(self, token: str, url: str) -> bool:
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, token))


def rules_from_result(result: FetchResult) -> RobotsRules:
    """Turn the robots.txt fetch into rules, per the table in the module docstring."""
    if result.error is None:
        parser = Protego.parse(result.body.decode("utf-8-sig", errors="replace"))
        return RobotsRules(allow_all=True, parser=parser, reason=f"robots.txt {result.status}")
    kind = result.error.kind
    if kind in _ALLOW_ON:
        return RobotsRules(allow_all=True, reason=f"robots.txt unavailable ({kind.value})")
    return RobotsRules(allow_all=False, kind=kind,
                       reason=f"robots.txt unreachable ({result.error.detail}): assumed disallowed for now")


@dataclass(frozen=True, slots=True)
class RobotsDecision:
    allowed: bool
    kind: ErrorKind = ErrorKind.ROBOTS  # when not allowed
    reason: str = ""


@dataclass(slots=True)
class _Entry:
    ready: threading.Event = field(default_factory=threading.Event)
    rules: RobotsRules = field(default_factory=lambda: RobotsRules(allow_all=False, reason="not read"))


class RobotsCache:
    """Thread-safe: concurrent checks of one origin wait for a single robots.txt fetch.

    The robots.txt fetch results are kept until :meth:`take_fetches`, so the caller can archive them
    as ``robots`` fetches (they are not mixed into the page results that caused them).
    """

    def __init__(self, fetch: Callable[[str], FetchResult], user_agent: str,
                 recall: Callable[[str], FetchResult | None] | None = None) -> None:
        self._fetch = fetch
        # a robots.txt this archive fetched recently (RFC 9309 2.4: it may be cached up to 24 hours), so
        # that runs every few minutes do not each fetch it again; None when there is none to reuse
        self._recall = recall
        self._token = user_agent_token(user_agent)
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._fetched: list[FetchResult] = []

    def check(self, url: str) -> RobotsDecision:
        where = robots_url(url)
        if where is None:  # the fetcher rejects such URLs itself
            return RobotsDecision(True)
        with self._lock:
            entry = self._entries.get(where)
            owner = entry is None
            if entry is None:
                entry = self._entries[where] = _Entry()
        if owner:
            try:
                result = self._recall(where) if self._recall is not None else None
                if result is None:
                    result = self._fetch(where)
                    with self._lock:
                        self._fetched.append(result)
                entry.rules = rules_from_result(result)
            finally:
                entry.ready.set()
        else:
            entry.ready.wait()
        rules = entry.rules
        if rules.allows(self._token, url):
            return RobotsDecision(True)
        reason = f"disallowed by {where}" if rules.parser is not None else f"{where}: {rules.reason}"
        return RobotsDecision(False, rules.kind, reason)

    def take_fetches(self) -> list[FetchResult]:
        """The robots.txt fetches made since the last call, oldest first."""
        with self._lock:
            taken, self._fetched = self._fetched, []
        return taken
