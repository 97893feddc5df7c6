"""``<meta http-equiv="refresh" content="0; url=…">``: the redirect that lives inside a page.

Redirect stubs, AMP and consent interstitials and old CMS moves answer 200 with a page that only says
"go there". A browser goes there; an archiver that extracts the stub gets no article. The fetcher
follows such a refresh like an HTTP redirect (same budget, same address guard, recorded on the fetch).

Only a prompt refresh counts (``content`` delay of at most :data:`MAX_DELAY_S` seconds, with a URL):
``content="300"`` on a home page means "reload every five minutes", not "the article is elsewhere".
A refresh inside ``<noscript>`` is ignored: browsers with scripts (the readers the page was written
for) never follow it, and it usually leads to a "please enable JavaScript" page. So is a refresh
inside an HTML comment. Only the document head is read (the tag belongs there), at most
:data:`HEAD_BYTES` bytes.
"""

from __future__ import annotations

import html
import re

MAX_DELAY_S = 5.0
HEAD_BYTES = 32_768

_NOSCRIPT = re.compile(rb"<noscript\b.*?(?:</noscript\s*>|$)", re.I | re.S)
_COMMENT = re.compile(rb"<!--.*?(?:-->|$)", re.S)
_HEAD_END = re.compile(rb"</head\s*>|<body[\s>]", re.I)
_META = re.compile(rb"<meta\b[^>]*>", re.I)
_ATTR = re.compile(rb"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
# "5; url=/x", "0;URL='/x'", "0, url=/x", "0; /x" (browsers accept the URL without "url=")
_CONTENT = re.compile(r"""^\s*(\d+(?:\.\d*)?)\s*(?:[;,]\s*(?:url\s*=\s*)?(['"]?)(.*?)\2\s*)?$""", re.I | re.S)


def meta_refresh_target(body: bytes) -> str | None:
    """The URL (as written, maybe relative) a prompt meta refresh in the page's head leads to."""
    head = body[:HEAD_BYTES]
    head = _COMMENT.sub(b"", head)
    head = _NOSCRIPT.sub(b"", head)
    end = _HEAD_END.search(head)
    if end is not None:
        head = head[:end.start()]
    for tag in _META.finditer(head):
        attrs = {m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or b"")
                 for m in _ATTR.finditer(tag.group(0))}
        if attrs.get(b"http-equiv", b"").strip().lower() != b"refresh":
            continue
        target = parse_refresh(html.unescape(attrs.get(b"content", b"").decode("utf-8", "replace")))
        if target is not None:
            return target
    return None


def parse_refresh(content: str) -> str | None:
    """The URL of a refresh ``content`` value when its delay is prompt; None otherwise."""
    m = _CONTENT.match(content)
    if m is None or float(m.group(1)) > MAX_DELAY_S:
        return None
    url = (m.group(3) or "").strip()
    return url or None
