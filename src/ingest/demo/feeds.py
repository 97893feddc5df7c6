"""RSS 2.0 and Atom 1.0 documents for the local sites, rendered against the live base URL."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape as _escape
from xml.sax.saxutils import quoteattr as _quoteattr

__all__ = ["FeedItem", "render_atom", "render_rss"]


@dataclass(frozen=True, slots=True)
class FeedItem:
    path: str  # where the article lives on the site, always starting with "/"
    title: str
    published: datetime  # timezone-aware
    author: str | None = None
    category: str | None = None
    description: str | None = None
    # Appended to the link only (not to the guid/id), the way feed software adds campaign parameters.
    link_query: str = ""


# Characters XML 1.0 forbids; scraped titles and summaries occasionally carry them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _esc(text: str) -> str:
    return _escape(_NOT_XML.sub("", text))


def _attr(text: str) -> str:
    return _quoteattr(_NOT_XML.sub("", text))


def _rfc822(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def _link(base_url: str, item: FeedItem) -> str:
    return base_url + item.path + (("&" if "?" in item.path else "?") + item.link_query if item.link_query else "")


def _newest(items: Sequence[FeedItem]) -> datetime | None:
    return max((i.published for i in items), default=None)


def render_rss(base_url: str, items: Sequence[FeedItem], *, title: str, description: str,
               feed_path: str | None = None, language: str | None = None, home: str = "/") -> bytes:
    newest = _newest(items)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom">',
        "<channel>",
        f"<title>{_esc(title)}</title>",
        f"<link>{_esc(base_url + home)}</link>",
        f"<description>{_esc(description)}</description>",
    ]
    if feed_path:
        out.append(f'<atom:link href={_attr(base_url + feed_path)} rel="self" type="application/rss+xml"/>')
    if language:
        out.append(f"<language>{_esc(language)}</language>")
    if newest is not None:
        out.append(f"<lastBuildDate>{_rfc822(newest)}</lastBuildDate>")
    for item in items:
        out += [
            "<item>",
            f"<title>{_esc(item.title)}</title>",
            f"<link>{_esc(_link(base_url, item))}</link>",
            f'<guid isPermaLink="true">{_esc(base_url + item.path)}</guid>',
            f"<pubDate>{_rfc822(item.published)}</pubDate>",
        ]
        if item.author:
            out.append(f"<dc:creator>{_esc(item.author)}</dc:creator>")
        if item.category:
            out.append(f"<category>{_esc(item.category)}</category>")
        if item.description:
            out.append(f"<description>{_esc(item.description)}</description>")
        out.append("</item>")
    out += ["</channel>", "</rss>", ""]
    return "\n".join(out).encode("utf-8")


def render_atom(base_url: str, items: Sequence[FeedItem], *, title: str, feed_path: str,
                subtitle: str | None = None, home: str = "/") -> bytes:
    newest = _newest(items)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{_esc(title)}</title>",
    ]
    if subtitle:
        out.append(f"<subtitle>{_esc(subtitle)}</subtitle>")
    out += [
        f"<id>{_esc(base_url + feed_path)}</id>",
        f'<link rel="self" type="application/atom+xml" href={_attr(base_url + feed_path)}/>',
        f'<link rel="alternate" type="text/html" href={_attr(base_url + home)}/>',
    ]
    if newest is not None:
        out.append(f"<updated>{newest.isoformat()}</updated>")
    for item in items:
        out += [
            "<entry>",
            f"<title>{_esc(item.title)}</title>",
            f'<link rel="alternate" type="text/html" href={_attr(_link(base_url, item))}/>',
            f"<id>{_esc(base_url + item.path)}</id>",
            f"<published>{item.published.isoformat()}</published>",
            f"<updated>{item.published.isoformat()}</updated>",
        ]
        if item.author:
            out.append(f"<author><name>{_esc(item.author)}</name></author>")
        if item.category:
            out.append(f"<category term={_attr(item.category)}/>")
        if item.description:
            out.append(f'<summary type="text">{_esc(item.description)}</summary>')
        out.append("</entry>")
    out += ["</feed>", ""]
    return "\n".join(out).encode("utf-8")
