"""The bundled demo news site: real pages from the shared corpus, shipped in ``demo/data``.

Two feeds list the pages with absolute links to the live server. Besides the articles they hold the
cases a real poll meets: one article in both feeds, one link with tracking parameters, a partner site's
copy of an article under its own URL (an exact duplicate), a link that 404s, a Cloudflare challenge, and a page in windows-1251.
``manifest.json`` (written by ``bench/build_demo_data.py``) says what each listed item should become.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from html import escape
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from ingest.demo.corpus import CorpusPage, corpus_routes
from ingest.demo.feeds import FeedItem, render_atom, render_rss
from ingest.demo.server import NewsSite, Route

__all__ = [
    "DEMO_PORT", "RSS_PATH", "ATOM_PATH", "CorpusPage", "DemoArticle", "corpus_routes", "demo_config_yaml",
    "demo_manifest", "demo_routes", "demo_site",
]

# Canonical URLs include the port, so every `make demo` must use the same one to find its own archive.
DEMO_PORT = 8642
RSS_PATH = "/feeds/world.rss"
ATOM_PATH = "/feeds/europe.atom"
_FEED_KEYS = {"rss": RSS_PATH, "atom": ATOM_PATH}

ROBOTS_TXT = b"User-agent: *\nDisallow: /private/\nAllow: /\n"


@dataclass(frozen=True, slots=True)
class DemoArticle:
    path: str
    title: str | None
    expected: str  # "archived" | "duplicate" | "http_4xx" | "bot_wall"
    feeds: tuple[str, ...]  # "rss" (demo-world) and/or "atom" (demo-europe)
    original_url: str | None
    language: str | None
    charset: str
    # Query the feed appends to this item's link (the path is the page's clean address).
    tracking_query: str = ""


def _data() -> Traversable:
    return files("ingest.demo").joinpath("data")


@cache
def _manifest_items() -> tuple[dict[str, Any], ...]:
    raw = json.loads(_data().joinpath("manifest.json").read_text(encoding="utf-8"))
    return tuple(raw["items"])


def demo_manifest() -> list[DemoArticle]:
    """Every item the demo feeds list, with its expected outcome, in path order."""
    return [
        DemoArticle(path=e["path"], title=e["title"], expected=e["expected"], feeds=tuple(e["feeds"]),
                    original_url=e["original_url"], language=e["language"], charset=e["charset"],
                    tracking_query=e["tracking_query"])
        for e in _manifest_items()
    ]


def _feed_items(feed: str) -> tuple[FeedItem, ...]:
    items = [
        FeedItem(path=e["path"], title=e["title"], published=datetime.fromisoformat(e["published"]),
                 author=e["author"], category=e["category"], description=e["description"],
                 link_query=e["tracking_query"])
        for e in _manifest_items() if feed in e["feeds"]
    ]
    return tuple(sorted(items, key=lambda i: (i.published, i.path), reverse=True))


def _rss(base_url: str) -> bytes:
    return render_rss(base_url, _feed_items("rss"), title="Demo World News", feed_path=RSS_PATH,
                      description="Stories from around the world, collected for the ingest demo")


def _atom(base_url: str) -> bytes:
    return render_atom(base_url, _feed_items("atom"), title="Demo Europe", feed_path=ATOM_PATH,
                       subtitle="European stories, collected for the ingest demo")


def _index(base_url: str) -> bytes:
    links = "".join(f'<li><a href="{escape(e["path"])}">{escape(e["title"])}</a></li>' for e in _manifest_items()
                    if e["status"] == 200)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Demo News</title>'
        f'<link rel="alternate" type="application/rss+xml" title="World" href="{RSS_PATH}">'
        f'<link rel="alternate" type="application/atom+xml" title="Europe" href="{ATOM_PATH}">'
        f"</head><body><h1>Demo News</h1><ul>{links}</ul></body></html>"
    ).encode()


_PRIVATE_PAGE = (
    b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Staff notes</title></head>'
    b"<body><article><h1>Staff notes</h1><p>Embargoed material. Robots.txt keeps crawlers out of "
    b"/private/, so a polite fetcher never sees this page.</p></article></body></html>"
)


def _page_bytes(file: str) -> bytes:
    return gzip.decompress(_data().joinpath(file).read_bytes())


def demo_routes() -> dict[str, Route]:
    """Routes for the demo: the listed pages, both feeds, robots.txt, a home page and a /private/ page."""
    routes: dict[str, Route] = {}
    for e in _manifest_items():
        if e["file"] is None:
            continue  # listed on purpose without a page: it 404s
        headers = tuple((name, value) for name, value in e["headers"])
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers = (("Content-Type", f"text/html; charset={e['charset']}"), *headers)
        routes[e["path"]] = Route(e["status"], headers, _page_bytes(e["file"]))
    routes[RSS_PATH] = Route(200, (("Content-Type", "application/rss+xml; charset=utf-8"),), _rss)
    routes[ATOM_PATH] = Route(200, (("Content-Type", "application/atom+xml; charset=utf-8"),), _atom)
    routes["/robots.txt"] = Route(200, (("Content-Type", "text/plain; charset=utf-8"),), ROBOTS_TXT)
    routes["/"] = Route(200, (("Content-Type", "text/html; charset=utf-8"),), _index)
    routes["/private/staff-notes.html"] = Route(200, (("Content-Type", "text/html; charset=utf-8"),),
                                                _PRIVATE_PAGE)
    return routes


def demo_site(port: int = 0) -> NewsSite:
    """The demo site, not yet started (``with demo_site(DEMO_PORT) as site: ...``)."""
    return NewsSite(demo_routes(), port=port)


def _yaml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def demo_config_yaml(base_url: str, database: str | None = None) -> str:
    """A feeds.yaml for the demo site at ``base_url`` (``http://127.0.0.1:PORT``)."""
    base_url = base_url.rstrip("/")
    lines = [f"# The bundled demo site at {base_url}; written by ingest.demo.site.demo_config_yaml."]
    if database:
        lines.append(f"database: {_yaml_str(database)}")
    lines += [
        "fetch:",
        "  allow_private_networks: true  # the demo site is on loopback",
        "  per_host_delay_s: 0",
        "  per_host_concurrency: 8",
        "  respect_robots: true",
        "  timeout_s: 10",
        "sources:",
        "  - name: demo-world",
        f"    feed: {_yaml_str(base_url + RSS_PATH)}",
        "  - name: demo-europe",
        f"    feed: {_yaml_str(base_url + ATOM_PATH)}",
        "",
    ]
    return "\n".join(lines)
