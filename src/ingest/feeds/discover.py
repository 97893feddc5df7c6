"""Feed discovery from a page's bytes, the way feed readers do it (Miniflux, NetNewsWire, trafilatura's
``find_feed_urls``): pure functions, no I/O. :mod:`ingest.pipeline.feedfinder` fetches and validates.

Candidates, in the order a reader trusts them:

1. ``<link rel="alternate">`` with an RSS, Atom, RDF or JSON Feed type (the site says so);
2. ``<a href>`` that look like feeds (``.rss``/``.atom`` files, ``/feed``/``/rss`` paths, ``feed``,
   ``rss`` or ``atom`` in the last path segment, or link text ``RSS``/``Atom``/``Feed``);
3. the common paths of publishing systems (WordPress ``/feed``, Hugo ``/index.xml``, Jekyll
   ``/feed.xml``, Ghost ``/rss/``, Blogger ``/feeds/posts/default``, Pelican ``/feeds/all.atom.xml``…),
   tried only when the page names none (every probe is a request to the site).

Every candidate is only a guess until it has been fetched and parsed (``parse_feed``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

Origin = Literal["self", "link", "anchor", "common"]

FEED_TYPES = frozenset({
    "application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json",
    "application/json+feed", "application/x.atom+xml", "application/x-atom+xml", "application/x-rss+xml",
    "text/rss+xml", "text/atom+xml",
})
# Tried in this order when the page names no feed; a site answers most of them with 404.
COMMON_PATHS = ("/feed", "/rss", "/rss.xml", "/atom.xml", "/index.xml", "/feed.xml", "/feed/", "/rss/",
                "/feeds/posts/default", "/feeds/all.atom.xml", "/index.rss", "/feed.json", "/atom")
MAX_ANCHORS = 10  # feed-like anchors kept from one page (a tag cloud of /tag/x/feed links is not 200 feeds)
_FEED_FILE = re.compile(r"\.(rss|atom|rdf)$|(^|[/_.-])(rss|atom|feeds?)([/_.-]|$)", re.I)
_FEED_TEXT = re.compile(r"^\W*(rss|atom|feed|rss feed|atom feed|subscribe)\W*$", re.I)
_COMMENTS = re.compile(r"comments?", re.I)


@dataclass(frozen=True, slots=True)
class Candidate:
    url: str
    origin: Origin
    title: str | None = None  # the link's title attribute or the anchor's text
    type: str | None = None   # the declared media type


def sniff_feed(body: bytes, content_type: str | None = None) -> bool:
    """Do these bytes look like a feed rather than a page (before parsing them)?"""
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    media = (content_type or "").split(";")[0].strip().lower()
    if media in FEED_TYPES:
        return True
    if head.startswith((b"{", b"[")):
        return b"jsonfeed.org/version" in body[:4096].lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return False
    return any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf"))


def _clean_url(href: str, base: str) -> str | None:
    href = href.strip()
    if href.lower().startswith("feed:"):  # feed://host/path, feed:https://…: a reader's scheme for http(s)
        rest = href[5:]
        href = rest if rest.lower().startswith(("http:", "https:")) else "http:" + rest
    if not href or href.startswith(("#", "javascript:", "mailto:", "data:")):
        return None
    parts = urlsplit(urljoin(base, href))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return urlunsplit(parts._replace(fragment=""))


def _parse_html(body: bytes) -> object | None:
    import lxml.html

    try:
        return lxml.html.document_fromstring(body)
    except Exception:  # noqa: BLE001 - not HTML at all (empty, binary): nothing to discover
        return None


def page_candidates(body: bytes, page_url: str, *, max_anchors: int = MAX_ANCHORS) -> list[Candidate]:
    """Feed candidates a page names: ``<link rel=alternate>`` first, then feed-like anchors; relative
    URLs resolve against ``<base href>`` or ``page_url``. No duplicates, in document order."""
    doc = _parse_html(body)
    if doc is None:
        return []
    base = page_url
    for b in doc.iter("base"):  # type: ignore[attr-defined]
        if b.get("href"):
            base = urljoin(page_url, b.get("href"))
            break
    out: dict[str, Candidate] = {}
    for link in doc.iter("link"):  # type: ignore[attr-defined]
        rels = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" not in rels or kind not in FEED_TYPES:
            continue
        url = _clean_url(link.get("href") or "", base)
        if url and url not in out:
            out[url] = Candidate(url, "link", (link.get("title") or "").strip() or None, kind)
    anchors = 0
    for a in doc.iter("a"):  # type: ignore[attr-defined]
        if anchors >= max_anchors:
            break
        href = a.get("href") or ""
        url = _clean_url(href, base)
        if url is None or url in out:
            continue
        text = " ".join(a.text_content().split())
        last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        if _FEED_FILE.search(last) or _FEED_TEXT.match(text) or href.lower().startswith("feed:"):
            out[url] = Candidate(url, "anchor", text or None, None)
            anchors += 1
    return list(out.values())


def common_candidates(page_url: str) -> list[Candidate]:
    """The common feed paths at the root of ``page_url``'s site."""
    parts = urlsplit(page_url)
    root = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return [Candidate(root + path, "common") for path in COMMON_PATHS]


def is_comments_feed(url: str, title: str | None) -> bool:
    """WordPress and others declare a comments feed beside the posts feed: never the best choice."""
    return bool(_COMMENTS.search(urlsplit(url).path) or (title and _COMMENTS.search(title)))


_ORIGIN_RANK = {"self": 0, "link": 1, "anchor": 2, "common": 3}


def rank_key(candidate: Candidate, position: int, feed_title: str | None) -> tuple[int, int, int]:
    """Best first: not a comments feed, then the site's own declaration over guesses, then its order."""
    return (is_comments_feed(candidate.url, candidate.title or feed_title), _ORIGIN_RANK[candidate.origin], position)


def media_type(headers: Mapping[str, str]) -> str | None:
    """The media type of a response (lower case, no parameters)."""
    value = {k.lower(): v for k, v in headers.items()}.get("content-type")
    return value.split(";")[0].strip().lower() if value else None
