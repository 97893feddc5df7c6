"""Find the feeds of a URL (a feed, or a site's page): fetch through the guarded fetcher, list the
candidates (:mod:`ingest.feeds.discover`), and keep those that fetch and parse as feeds, best first.

Every request goes through :class:`~ingest.fetch.client.Fetcher`: the address guard (no private
networks unless the config allows them), size and time limits, per-host spacing; the page itself is
fetched as a page (robots.txt applies), candidates as feeds. The common paths are probed only when the
page names no working feed, and stop at the first that works unless every feed is wanted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ingest.errors import FeedParseError
from ingest.feeds.discover import (
    Candidate,
    common_candidates,
    media_type,
    page_candidates,
    rank_key,
    sniff_feed,
)
from ingest.feeds.parse import ParsedFeed, parse_feed

if TYPE_CHECKING:
    from ingest.fetch.client import Fetcher, FetchResult

MAX_CANDIDATES = 20  # requests spent on the page's candidates (then on the common paths)


@dataclass(frozen=True, slots=True)
class FoundFeed:
    """A candidate that fetched and parsed as a feed."""

    url: str  # what to configure: the candidate, or where it permanently moved (301/308)
    origin: str  # self | link | anchor | common
    title: str | None
    items: int
    newest_title: str | None
    newest_at: datetime | None
    version: str | None  # rss20, atom10, json11…
    language: str | None
    site: str | None  # the feed's own link (its site)
    comments: bool = False  # a comments feed (never the best)

    def as_dict(self) -> dict[str, object]:
        return {"url": self.url, "origin": self.origin, "title": self.title, "items": self.items,
                "newest_title": self.newest_title,
                "newest_at": self.newest_at.isoformat().replace("+00:00", "Z") if self.newest_at else None,
                "version": self.version, "language": self.language, "site": self.site}


@dataclass(frozen=True, slots=True)
class Rejected:
    url: str
    origin: str
    reason: str


@dataclass
class Discovery:
    url: str
    feeds: list[FoundFeed] = field(default_factory=list)  # best first
    rejected: list[Rejected] = field(default_factory=list)
    error: str | None = None  # the URL itself could not be fetched

    @property
    def best(self) -> FoundFeed | None:
        return self.feeds[0] if self.feeds else None


def _newest(feed: ParsedFeed) -> tuple[str | None, datetime | None]:
    dated = [(e.published or e.updated, e.title) for e in feed.entries if (e.published or e.updated)]
    if dated:
        when, title = max(dated, key=lambda d: d[0])  # type: ignore[arg-type, return-value]
        return title, when
    return (feed.entries[0].title, None) if feed.entries else (None, None)


def _found(candidate: Candidate, result: FetchResult, feed: ParsedFeed) -> FoundFeed:
    from ingest.feeds.discover import is_comments_feed

    newest_title, newest_at = _newest(feed)
    return FoundFeed(url=result.moved_to or candidate.url, origin=candidate.origin, title=feed.title,
                     items=len(feed.entries), newest_title=newest_title, newest_at=newest_at,
                     version=feed.version, language=feed.language, site=feed.link,
                     comments=is_comments_feed(candidate.url, candidate.title or feed.title))


def _why(result: FetchResult) -> str:
    error = result.error
    if error is None:
        return "fetch failed"
    return f"{error.kind.value}: {error.detail}" if error.detail else error.kind.value


class _Validator:
    """Fetches and parses candidates; the same feed reached twice (aliases, redirects) counts once."""

    def __init__(self, fetcher: Fetcher, discovery: Discovery) -> None:
        self.fetcher = fetcher
        self.discovery = discovery
        self.seen: dict[str, str] = {}  # final URL or body hash -> the first candidate's URL
        self.ranked: list[tuple[tuple[int, int, int], FoundFeed]] = []

    def check(self, candidate: Candidate, result: FetchResult | None = None) -> bool:
        d = self.discovery
        if result is None:
            result = self.fetcher.fetch_feed(candidate.url)
        if result.error is not None:
            d.rejected.append(Rejected(candidate.url, candidate.origin, _why(result)))
            return False
        digest = result.records[-1].sha256 or ""
        for key in (result.final_url, digest):
            if key and key in self.seen:
                d.rejected.append(Rejected(candidate.url, candidate.origin, f"the same feed as {self.seen[key]}"))
                return False
        try:
            feed = parse_feed(result.body, result.headers, result.final_url)
        except FeedParseError as exc:
            d.rejected.append(Rejected(candidate.url, candidate.origin, exc.detail))
            return False
        self.seen.update({k: candidate.url for k in (result.final_url, digest) if k})
        found = _found(candidate, result, feed)
        self.ranked.append((rank_key(candidate, len(self.ranked), feed.title), found))
        return True


def find_feeds(url: str, fetcher: Fetcher, *, every: bool = False,
               max_candidates: int = MAX_CANDIDATES) -> Discovery:
    """The feeds of ``url``, best first. ``every``: probe every common path too (for ``--all``)."""
    discovery = Discovery(url=url)
    validator = _Validator(fetcher, discovery)
    page = fetcher.fetch(url, kind="page")
    if not page.ok:
        discovery.error = _why(page)
        return discovery
    if sniff_feed(page.body, media_type(page.headers)):
        validator.check(Candidate(url, "self"), page)
    else:
        found_any = False
        for candidate in page_candidates(page.body, page.final_url)[:max_candidates]:
            found_any = validator.check(candidate) or found_any
        if not found_any:
            for candidate in common_candidates(page.final_url):
                if validator.check(candidate) and not every:
                    break
    discovery.feeds = [f for _, f in sorted(validator.ranked, key=lambda r: r[0])]
    return discovery
