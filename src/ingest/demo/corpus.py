"""The shared corpus of real news pages as one local site, for the benchmark and end-to-end tests.

Every saved page is served at its original path+query (the address in ``meta.info``) with RSS feeds
listing them, so the pipeline sees the same URLs it would see on the publishers' sites, only on
127.0.0.1. The saved bytes are all UTF-8 (even where a page's own ``<meta charset>`` says otherwise,
as the ElMundo and People pages do), and they are served as such.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest.demo.feeds import FeedItem, render_rss
from ingest.demo.server import Route

__all__ = ["CorpusPage", "corpus_routes", "expected_record", "page_publisher"]

HTML_UTF8 = (("Content-Type", "text/html; charset=utf-8"),)
_DESCRIPTION_CHARS = 280


@dataclass(frozen=True, slots=True)
class CorpusPage:
    path: str  # path+query the page is served at (its original one unless two pages collide)
    original_url: str
    publisher: str
    country: str
    file: Path  # the .html.gz in the corpus


def page_publisher(file_name: str) -> str:
    """``TheGuardian_2024_02_24.html.gz`` -> ``TheGuardian``."""
    return file_name.rsplit("_", 3)[0]


def expected_record(country_dir: Path, file_name: str, listed: Any = None) -> dict[str, Any] | None:
    """The publisher's JSON record (title, authors, topics, body) for one saved page, if it can be paired.

    Records are kept in the sorted order of the publisher's saved pages; when the counts disagree the
    pairing is unknowable and None is returned rather than a wrong record.
    """
    publisher = page_publisher(file_name)
    path = country_dir / f"{publisher}.json"
    if not path.is_file():
        return None
    if listed is None:
        listed = json.loads((country_dir / "meta.info").read_text(encoding="utf-8"))
    records = list(json.loads(path.read_text(encoding="utf-8")).values())
    pages = sorted(n for n in listed if page_publisher(n) == publisher and (country_dir / n).is_file())
    if len(records) != len(pages) or file_name not in pages:
        return None
    return records[pages.index(file_name)]


def _news_pages_dir(corpus_dir: Path) -> Path:
    return corpus_dir / "news-pages" if (corpus_dir / "news-pages").is_dir() else corpus_dir


def _read_page(file: Path, _base_url: str) -> bytes:
    # Read on request: the whole corpus decompressed would hold ~80 MB for the server's lifetime.
    return gzip.decompress(file.read_bytes())


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DESCRIPTION_CHARS else text[: _DESCRIPTION_CHARS - 1].rstrip() + "…"


def _feed_item(page: CorpusPage, crawl_date: str, record: dict[str, Any] | None) -> FeedItem:
    record = record or {}
    body = record.get("body") or {}
    lead = body.get("summary") or [p for s in body.get("sections") or [] for p in s.get("paragraphs") or []][:1]
    published = datetime.fromisoformat(crawl_date).replace(microsecond=0, tzinfo=UTC)
    return FeedItem(
        path=page.path,
        title=record.get("title") or f"{page.publisher} {published:%Y-%m-%d}",
        published=published,
        author=", ".join(record.get("authors") or []) or page.publisher,
        category=(record.get("topics") or [page.country])[0],
        description=_shorten(" ".join(lead)) or None,
    )


def _feed_body(items: tuple[FeedItem, ...], title: str, feed_path: str, base_url: str) -> bytes:
    return render_rss(base_url, items, title=title, description="Saved news pages served locally",
                      feed_path=feed_path)


def corpus_routes(corpus_dir: Path) -> tuple[dict[str, Route], list[CorpusPage]]:
    """Routes for every saved page (missing files skipped) plus /feed.xml and /feed-<country>.xml.

    ``corpus_dir`` is the shared corpus directory or its ``news-pages`` directory. On a path
    collision the later page (in sorted order) is served under ``/<publisher>`` + its path.
    """
    root = _news_pages_dir(Path(corpus_dir))
    routes: dict[str, Route] = {}
    pages: list[CorpusPage] = []
    items: dict[str, list[FeedItem]] = {}
    for meta in sorted(root.glob("*/meta.info")):
        country_dir = meta.parent
        listed: dict[str, dict[str, str]] = json.loads(meta.read_text(encoding="utf-8"))
        for name in sorted(listed):
            file = country_dir / name
            if not file.is_file():
                continue
            url = listed[name]["url"]
            parts = urlsplit(url)
            publisher = page_publisher(name)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            for candidate in (path, f"/{publisher}{path}", f"/{name.removesuffix('.html.gz')}{path}"):
                if candidate not in routes:
                    path = candidate
                    break
            else:
                raise ValueError(f"cannot place {country_dir.name}/{name}: {path} is taken")
            page = CorpusPage(path, url, publisher, country_dir.name, file)
            routes[path] = Route(200, HTML_UTF8, partial(_read_page, file))
            pages.append(page)
            record = expected_record(country_dir, name, listed)
            items.setdefault(page.country, []).append(_feed_item(page, listed[name]["crawl_date"], record))
    everything = tuple(sorted((i for group in items.values() for i in group),
                              key=lambda i: (i.published, i.path), reverse=True))
    routes["/feed.xml"] = Route(200, (("Content-Type", "application/rss+xml; charset=utf-8"),),
                                partial(_feed_body, everything, "News corpus: all pages", "/feed.xml"))
    for country, group in sorted(items.items()):
        ordered = tuple(sorted(group, key=lambda i: (i.published, i.path), reverse=True))
        feed_path = f"/feed-{country}.xml"
        routes[feed_path] = Route(200, (("Content-Type", "application/rss+xml; charset=utf-8"),),
                                  partial(_feed_body, ordered, f"News corpus: {country}", feed_path))
    routes["/robots.txt"] = Route(200, (("Content-Type", "text/plain; charset=utf-8"),),
                                  b"User-agent: *\nAllow: /\n")
    return routes, pages
