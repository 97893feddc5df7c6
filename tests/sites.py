"""Local sites for scheduling and backfill tests, built on the bundled demo pages: a feed whose items
the test changes between polls, and a site with sitemaps (robots.txt, gzip index, news sitemap) and
feeds that can be walked back in time (RFC 5005 archives, WordPress ?paged=N)."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path
from typing import Any

from ingest.demo.feeds import FeedItem, render_atom, render_rss
from ingest.demo.server import NewsSite, Route
from ingest.demo.site import _manifest_items, demo_routes

RSS = (("Content-Type", "application/rss+xml; charset=utf-8"),)
ATOM = (("Content-Type", "application/atom+xml; charset=utf-8"),)
XML = (("Content-Type", "application/xml; charset=utf-8"),)
GZ = (("Content-Type", "application/x-gzip"),)


def archived_items() -> list[FeedItem]:
    """Demo articles that archive as distinct articles, oldest first."""
    items = [FeedItem(path=e["path"], title=e["title"], published=datetime.fromisoformat(e["published"]))
             for e in _manifest_items() if e["expected"] == "archived"]
    return sorted(items, key=lambda i: (i.published, i.path))


class LiveFeedSite(NewsSite):
    """The demo pages plus /live.rss listing ``self.items`` as they are at request time."""

    def __init__(self) -> None:
        self.items: list[FeedItem] = []
        routes = demo_routes()
        routes["/live.rss"] = Route(200, RSS, lambda base: render_rss(
            base, list(reversed(self.items)), title="Live", description="changes between polls"))
        super().__init__(routes)


def _urlset(base: str, items: list[FeedItem], news: bool) -> bytes:
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
           'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">']
    for i in items:
        if news:
            out.append(f"<url><loc>{base}{i.path}</loc><news:news><news:publication>"
                       f"<news:name>Demo</news:name><news:language>en</news:language></news:publication>"
                       f"<news:publication_date>{i.published.isoformat()}</news:publication_date>"
                       f"<news:title>x</news:title></news:news></url>")
        else:
            out.append(f"<url><loc>{base}{i.path}</loc><lastmod>{i.published.date().isoformat()}</lastmod></url>")
    return "\n".join([*out, "</urlset>"]).encode()


def _index(base: str, children: list[tuple[str, str]]) -> bytes:
    body = "".join(f"<sitemap><loc>{base}{path}</loc><lastmod>{mod}</lastmod></sitemap>" for path, mod in children)
    return ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex '
            f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</sitemapindex>').encode()


def backfill_site(split: datetime) -> tuple[NewsSite, dict[str, Any]]:
    """Items before ``split`` are in a plain gzip sitemap behind an index, and in the oldest feed
    archive / the second WordPress page; later ones in a news sitemap and the current feed page."""
    items = archived_items()
    old = [i for i in items if i.published < split]
    new = [i for i in items if i.published >= split]
    routes = demo_routes()
    routes["/robots.txt"] = Route(200, (("Content-Type", "text/plain"),), lambda base: (
        f"User-agent: *\nDisallow: /private/\n\nSitemap: {base}/sitemap_index.xml\n"
        f"sitemap: {base}/news-sitemap.xml\n").encode())
    routes["/sitemap_index.xml"] = Route(200, XML, lambda base: _index(base, [
        ("/sitemaps/old.xml.gz", old[-1].published.date().isoformat()),
        ("/sitemaps/ancient.xml", "2001-01-01")]))
    routes["/sitemaps/old.xml.gz"] = Route(200, GZ, lambda base: gzip.compress(_urlset(base, old, False), mtime=0))
    routes["/sitemaps/ancient.xml"] = Route(500, XML, b"must never be fetched: older than any range")
    routes["/news-sitemap.xml"] = Route(200, XML, lambda base: _urlset(base, new, True))
    # RFC 5005: the current document links to the archive of older items
    routes["/archived.atom"] = Route(200, ATOM, lambda base: render_atom(
        base, list(reversed(new)), title="Archived", feed_path="/archived.atom").replace(
        b"<title>", f'<link rel="prev-archive" href="{base}/archive/1.atom"/><title>'.encode(), 1))
    routes["/archive/1.atom"] = Route(200, ATOM, lambda base: render_atom(
        base, list(reversed(old)), title="Archived, page 1", feed_path="/archive/1.atom"))
    # WordPress: ?paged=2 holds the older items, ?paged=3 is past the end (404)
    routes["/wp/feed/"] = Route(200, RSS, lambda base: render_rss(
        base, list(reversed(new)), title="WP", description="page 1"))
    routes["/wp/feed/?paged=2"] = Route(200, RSS, lambda base: render_rss(
        base, list(reversed(old)), title="WP", description="page 2"))
    routes["/wp/feed/?paged=3"] = Route(404, (("Content-Type", "text/plain"),), b"not found")
    return NewsSite(routes), {"old": old, "new": new}


def unreachable_config(path: Path, n: int, name: str = "down") -> Path:
    """A feeds.yaml of ``n`` sources on a 127.0.0.1 port nobody listens on (connection refused)."""
    import socket

    import yaml

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path.write_text(yaml.safe_dump({
        "database": f"sqlite:///{path.with_suffix('.db')}",
        "fetch": {"allow_private_networks": True, "retries": 0, "timeout_s": 2},
        "sources": [{"name": f"{name}{i}", "feed": f"http://127.0.0.1:{port}/feed{i}.xml"} for i in range(n)]}))
    return path
