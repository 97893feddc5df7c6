"""OPML subscription lists (OPML 2.0, and the 1.0 files feed readers still write), from and to bytes.
Pure: no I/O.

Reading: every ``<outline>`` with an ``xmlUrl`` is a feed, however deeply nested (folders are outlines
without one; their titles are the feed's ``folders``). Attribute names are matched without regard to
case (``xmlurl``, ``xmlURL`` are in the wild); the title is ``title``, else ``text``. ``isComment="true"``
(OPML 2.0: commented out) reads as a disabled feed. Entities are not expanded and nothing is fetched
(lxml with ``resolve_entities=False, no_network=True``); a file with an unescaped ``&`` or similar is
read in lxml's recover mode and said so in :attr:`Opml.problems`. Outlines whose ``xmlUrl`` is no
http(s) URL are listed in the problems, never silently dropped.

Writing: one ``<outline type="rss">`` per source with ``text``/``title`` (the source's name), ``xmlUrl``,
``language`` when set and ``isComment="true"`` when disabled, so an exported list imports back into the
same sources.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

_BARE_AMP = re.compile(rb"&(?!#\d+;|#x[0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)")


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    xml_url: str
    title: str | None
    html_url: str | None = None
    language: str | None = None
    folders: tuple[str, ...] = ()  # the titles of the enclosing outlines, outermost first
    disabled: bool = False  # isComment="true"


@dataclass
class Opml:
    title: str | None
    feeds: list[OpmlFeed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class OpmlError(ValueError):
    """Not an OPML document at all."""


def _attrs(el: Any) -> dict[str, str]:
    return {str(k).lower(): str(v).strip() for k, v in el.attrib.items()}


def _http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_opml(data: bytes) -> Opml:
    """The feeds of an OPML file, in document order (duplicates kept: the caller reports them)."""
    strict = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    problems: list[str] = []
    try:
        root = etree.fromstring(data, strict)
    except etree.XMLSyntaxError as exc:
        # the usual breakage: a bare & in a URL or title (hand-edited and naive exporters)
        fixed = _BARE_AMP.sub(b"&amp;", data)
        try:
            root = etree.fromstring(fixed, strict)
            problems.append("malformed XML: bare '&' read as '&amp;'")
        except etree.XMLSyntaxError:
            loose = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
            root = etree.fromstring(fixed, loose) if data.strip() else None
            if root is None:
                raise OpmlError(f"not XML: {exc}") from None
            problems.append(f"malformed XML, read in recover mode: {exc}")
    if not isinstance(root.tag, str) or etree.QName(root).localname.lower() != "opml":
        raise OpmlError(f"not OPML: the root element is <{root.tag}>")
    head_title = root.findtext("head/title")
    out = Opml(title=head_title.strip() if head_title else None, problems=problems)
    body = root.find("body")
    if body is None:
        out.problems.append("no <body>")
        return out

    def walk(parent: Any, folders: tuple[str, ...]) -> None:
        for el in parent:
            if not isinstance(el.tag, str) or el.tag.lower() != "outline":
                continue
            a = _attrs(el)
            title = a.get("title") or a.get("text") or None
            url = a.get("xmlurl")
            if url:
                if url.lower().startswith("feed:"):
                    url = url[5:] if url[5:].lower().startswith(("http:", "https:")) else "http:" + url[5:]
                if _http(url):
                    out.feeds.append(OpmlFeed(xml_url=url, title=title, html_url=a.get("htmlurl") or None,
                                              language=a.get("language") or None, folders=folders,
                                              disabled=a.get("iscomment", "").lower() == "true"))
                else:
                    out.problems.append(f"outline {title or url!r}: xmlUrl {url!r} is not an http(s) URL")
            walk(el, (*folders, title) if title and not url else folders)

    walk(body, ())
    return out


def render_opml(sources: Iterable[Any], *, title: str, created: datetime) -> bytes:
    """OPML 2.0 of ``sources`` (objects or dicts with ``name``, ``feed``, ``language``, ``enabled``)."""
    def get(s: Any, key: str, default: Any = None) -> Any:
        return s.get(key, default) if isinstance(s, dict) else getattr(s, key, default)

    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    etree.SubElement(head, "dateCreated").text = format_datetime(created, usegmt=True)
    body = etree.SubElement(root, "body")
    for s in sources:
        attrs = {"type": "rss", "text": get(s, "name"), "title": get(s, "name"), "xmlUrl": get(s, "feed")}
        if get(s, "language"):
            attrs["language"] = get(s, "language")
        if get(s, "enabled", True) is False:
            attrs["isComment"] = "true"
        etree.SubElement(body, "outline", attrs)
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
