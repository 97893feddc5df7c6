"""Feeds and sitemaps, parsed from bytes: RSS, Atom, JSON Feed (feedparser), sitemaps and sitemap
indexes, walking a feed back in time (RFC 5005, WordPress paged), the value cleaning that keeps one bad
value from losing a feed, feed discovery from a page, and OPML subscription lists. Pure: no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest._lazy import lazy_exports

if TYPE_CHECKING:
    from ingest.feeds.discover import Candidate, common_candidates, page_candidates, sniff_feed
    from ingest.feeds.opml import Opml, OpmlFeed, parse_opml, render_opml
    from ingest.feeds.parse import FeedEntry, ParsedFeed, parse_feed
    from ingest.feeds.sanitize import clean_text
    from ingest.feeds.sitemaps import Sitemap, SitemapItem, parse_sitemap, robots_sitemaps
    from ingest.feeds.walk import paged_url, prev_archive

_PUBLIC = {
    "Candidate": "discover",
    "common_candidates": "discover",
    "page_candidates": "discover",
    "sniff_feed": "discover",
    "Opml": "opml",
    "OpmlFeed": "opml",
    "parse_opml": "opml",
    "render_opml": "opml",
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
    "Candidate",
    "FeedEntry",
    "Opml",
    "OpmlFeed",
    "ParsedFeed",
    "Sitemap",
    "SitemapItem",
    "clean_text",
    "common_candidates",
    "page_candidates",
    "paged_url",
    "parse_feed",
    "parse_opml",
    "parse_sitemap",
    "prev_archive",
    "render_opml",
    "robots_sitemaps",
    "sniff_feed",
]
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
