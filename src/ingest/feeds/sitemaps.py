"""Sitemaps, for backfills: robots.txt ``Sitemap:`` lines, sitemap indexes, news sitemaps, gzip.

Pure functions on bytes. A URL's date is its news ``publication_date``, else its ``lastmod``; a child
sitemap of an index whose ``lastmod`` is before the range cannot list anything in it and is skipped.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree

_SITEMAP_LINE = re.compile(r"^\s*sitemap\s*:\s*(\S+)", re.I | re.M)


@dataclass(frozen=True, slots=True)
class SitemapItem:
    loc: str
    date: datetime | None  # publication date (news) or lastmod, timezone-aware UTC


@dataclass(frozen=True, slots=True)
class Sitemap:
    urls: tuple[SitemapItem, ...]  # article URLs (a urlset)
    children: tuple[SitemapItem, ...]  # further sitemaps (an index)


class SitemapError(ValueError):
    pass


def robots_sitemaps(robots_txt: str) -> list[str]:
    """The ``Sitemap:`` URLs of a robots.txt, in order, without repeats."""
    return list(dict.fromkeys(_SITEMAP_LINE.findall(robots_txt)))


def gunzip_bounded(body: bytes, max_bytes: int) -> bytes:
    """Gzip sitemaps (``.xml.gz``, served as a file, not as Content-Encoding), at most ``max_bytes``."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise SitemapError(f"bad gzip data: {exc}") from None
    if len(out) > max_bytes:
        raise SitemapError(f"sitemap larger than {max_bytes} bytes once decompressed")
    return out


def parse_date(value: str | None) -> datetime | None:
    """W3C datetime (``2024-05-01``, ``2024-05-01T10:00:00+02:00``, ``…Z``) to aware UTC."""
    if not value or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(elem: ElementTree.Element, name: str) -> str | None:
    for child in elem.iter():
        if _local(child.tag) == name and child.text:
            return child.text.strip()
    return None


_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)


def parse_sitemap(body: bytes, max_bytes: int = 50_000_000) -> Sitemap:
    data = gunzip_bounded(body, max_bytes)
    root_at = data.find(b"<urlset")
    root_at = root_at if root_at >= 0 else data.find(b"<sitemapindex")
    if _DECLARATION.search(data, 0, root_at if root_at >= 0 else len(data)):
        # no sitemap needs a DTD; entity declarations are how XXE and entity-expansion bombs come in
        raise SitemapError("refused: DOCTYPE or entity declarations in a sitemap")
    try:
        # ElementTree does not resolve external entities; the size was bounded above.
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise SitemapError(f"not XML: {exc}") from None
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise SitemapError(f"not a sitemap (root element <{kind}>)")
    items = []
    for elem in root:
        if _local(elem.tag) not in ("url", "sitemap"):
            continue
        loc = _child_text(elem, "loc")
        if not loc:
            continue
        date = parse_date(_child_text(elem, "publication_date")) or parse_date(_child_text(elem, "lastmod"))
        items.append(SitemapItem(loc, date))
    if kind == "urlset":
        return Sitemap(tuple(items), ())
    return Sitemap((), tuple(items))


def in_range(date: datetime | None, since: datetime, until: datetime) -> bool:
    return date is not None and since <= date < until
