"""Feeds and sitemaps, parsed from bytes: RSS, Atom, JSON Feed (feedparser), sitemaps and sitemap
indexes, walking a feed back in time (RFC 5005, WordPress paged), and the value cleaning that keeps
one bad value from losing a feed. Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest._lazy import lazy_exports

if TYPE_CHECKING:
    from ingest.feeds.parse import FeedEntry, ParsedFeed, parse_feed
    from ingest.feeds.sanitize import clean_text
    from ingest.feeds.sitemaps import Sitemap, SitemapItem, parse_sitemap, robots_sitemaps
    from ingest.feeds.walk import paged_url, prev_archive

_PUBLIC = {
    "FeedEntry": "parse",
    "ParsedFeed": "parse",
    "parse_feed": "parse",
    "Sitemap": "sitemaps",
    "SitemapItem": "sitemaps",
    "parse_sitemap": "sitemaps",
    "robots_sitemaps": "sitemaps",
    "prev_archive": "walk",
    "paged_url": "walk",
    "clean_text": "sanitize",
}
__all__ = [
    "FeedEntry",
    "ParsedFeed",
    "Sitemap",
    "SitemapItem",
    "clean_text",
    "paged_url",
    "parse_feed",
    "parse_sitemap",
    "prev_archive",
    "robots_sitemaps",
]
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
