"""A news site of real pages whose template can break: the shared corpus's German-language pages (de/,
at/: 92 pages of 40 publishers) served as one source, publishing ``per_poll`` new pages per poll, and a
switch that serves every page with its article body removed (the <body> replaced by the same site
chrome on every page: navigation, a cookie banner, a subscription wall, a footer), the way a redesign
breaks an extractor. The <head> stays: titles, dates and JSON-LD still come through."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from ingest.demo.feeds import FeedItem, render_rss
from ingest.demo.server import NewsSite, Route

COUNTRIES = ("at", "de")
HTML = (("Content-Type", "text/html; charset=utf-8"),)
CHROME = (
    '<body><header><nav><a href="/">Startseite</a> <a href="/politik">Politik</a> <a href="/wirtschaft">Wirtschaft</a> '
    '<a href="/kultur">Kultur</a> <a href="/sport">Sport</a></nav></header>'
    '<div class="cookie-banner"><p>Wir verwenden Cookies und ähnliche Technologien, um Inhalte zu personalisieren '
    'und Zugriffe zu analysieren. Mit „Akzeptieren“ stimmen Sie der Verarbeitung zu.</p></div>'
    '<main><div class="paywall"><h2>Weiterlesen mit Abo</h2><p>Dieser Artikel ist nur für Abonnentinnen und '
    'Abonnenten verfügbar. Jetzt einen Monat kostenlos testen und alle Artikel lesen, jederzeit kündbar.</p>'
    '<p>Sie haben bereits ein Abo? Dann melden Sie sich hier an.</p></div></main>'
    '<footer><p>Impressum · Datenschutz · Kontakt · Barrierefreiheit · © Verlagsgruppe</p></footer></body>'
)
_BODY = re.compile(rb"<body\b.*</body\s*>", re.S | re.I)


def corpus_pages(corpus_dir: Path) -> list[tuple[str, Path]]:
    """(path, file) of every German-language page, in a fixed order (by file name)."""
    out = []
    for country in COUNTRIES:
        d = corpus_dir / "news-pages" / country
        listed = json.loads((d / "meta.info").read_text(encoding="utf-8"))
        for name in sorted(listed):
            if (d / name).is_file():
                parts = urlsplit(listed[name]["url"])
                out.append((f"/{country}/{name.removesuffix('.html.gz')}{parts.path or '/'}", d / name))
    return sorted(out, key=lambda p: p[1].name)


def without_body(page: bytes) -> bytes:
    """The page with its article body gone: the same chrome on every page."""
    replaced, n = _BODY.subn(CHROME.encode(), page, count=1)
    return replaced if n else page + CHROME.encode()


class DriftSite(NewsSite):
    """``publish(n)`` lists n more pages in /feed.xml; ``broken`` serves every page without its body."""

    def __init__(self, corpus_dir: Path) -> None:
        self.pages = corpus_pages(corpus_dir)
        self.listed = 0
        self.broken = False
        self.start_date = datetime(2025, 3, 1, tzinfo=UTC)
        routes = {path: Route(200, HTML, self._page(file)) for path, file in self.pages}
        routes["/feed.xml"] = Route(200, (("Content-Type", "application/rss+xml; charset=utf-8"),), self._feed)
        routes["/robots.txt"] = Route(200, (("Content-Type", "text/plain"),), b"User-agent: *\nAllow: /\n")
        super().__init__(routes)

    def publish(self, n: int) -> None:
        if self.listed + n > len(self.pages):
            raise ValueError(f"only {len(self.pages)} pages to publish")
        self.listed += n

    def _page(self, file: Path):  # type: ignore[no-untyped-def]
        raw = gzip.decompress(file.read_bytes())
        broken = without_body(raw)
        return lambda _base: broken if self.broken else raw

    def _feed(self, base: str) -> bytes:
        items = [FeedItem(path=path, title=f"Artikel {i}", published=self.start_date + timedelta(hours=i))
                 for i, (path, _) in enumerate(self.pages[:self.listed])]
        # the newest 30 items, newest first, as a real feed keeps them
        return render_rss(base, list(reversed(items))[:30], title="Nachrichten", description="corpus")
