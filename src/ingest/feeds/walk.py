"""Walking a feed back in time, for backfills: RFC 5005 archived feeds and WordPress paged feeds.

Pure: given one page's bytes and URL, where the previous (older) page is. RFC 5005 archives link to
the older document with ``rel="prev-archive"``; WordPress serves older items at ``?paged=N``.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

_LINK = re.compile(rb"<(?:atom:)?link\b[^>]*>", re.I)
_ATTR = re.compile(rb"""(\w+)\s*=\s*["']([^"']*)["']""")


def prev_archive(body: bytes, url: str) -> str | None:
    """The ``rel="prev-archive"`` link of an Atom or RSS (atom:link) feed document, absolute."""
    for tag in _LINK.findall(body):
        attrs = {k.lower(): v for k, v in _ATTR.findall(tag)}
        if attrs.get(b"rel", b"").strip().lower() == b"prev-archive" and attrs.get(b"href"):
            return urljoin(url, attrs[b"href"].decode("utf-8", "replace").strip())
    return None


def paged_url(feed_url: str, page: int) -> str:
    """The WordPress-style URL of page ``page`` (2, 3, …) of a feed."""
    parts = urlsplit(feed_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "paged"]
    query.append(("paged", str(page)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
