"""Feed bytes -> :class:`ParsedFeed`: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed by hand.

feedparser always gets the bytes as a stream, never a string: given a string (or bytes) it treats a
URL as something to fetch and a path as a file to read. The feed's own URL goes in as the
Content-Location header, which is what feedparser resolves relative links against (after xml:base).
Entity declarations are not expanded: feedparser strips every DOCTYPE entity that is not a plain
literal, so billion-laughs and external-entity feeds fall back to its loose parser unexpanded.

One bad value never loses the feed: values no database takes (NUL, lone surrogates) are cleaned
(ingest/sanitize.py), unusable dates are dropped, JSON nested deeper than :data:`MAX_JSON_DEPTH` is cut
off, an entry whose conversion fails for any reason is dropped, and an entry with nothing to know it by
(no id, link, title or summary) is dropped. Each is counted in :attr:`ParsedFeed.warning` and
:attr:`ParsedFeed.dropped`; every other entry comes through.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from time import struct_time
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from ingest.errors import FeedParseError
from ingest.feeds.sanitize import clean_text


@dataclass(frozen=True, slots=True)
class FeedEntry:
    key: str  # "guid:<guid>", else "link:<absolute link>", else "title:<sha1 of title + date>"
    guid: str | None
    link: str | None  # absolute http(s) URL, or None (then link_error says why)
    link_error: str | None
    title: str | None
    summary: str | None
    authors: tuple[str, ...]
    published: datetime | None  # timezone-aware UTC
    updated: datetime | None
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    link: str | None
    language: str | None
    version: str | None  # feedparser's ("rss20", "atom10", …) or "json10" / "json11"
    entries: tuple[FeedEntry, ...]  # one per key, the first seen
    warning: str | None  # why the feed was malformed, and what was cleaned or dropped, when it still gave entries
    ttl_s: int | None  # RSS <ttl>
    update_period_s: int | None  # sy:updatePeriod / sy:updateFrequency
    dropped: int = 0  # entries dropped (nothing to identify them by, or unusable)


MAX_JSON_DEPTH = 64  # arrays/objects nested deeper than this (no JSON Feed needs 5) become null


@dataclass
class _Notes:
    """What parsing cleaned or dropped, for the feed's warning: never silent, never fatal."""

    cleaned: Counter[str] = field(default_factory=Counter)  # problem -> values cleaned
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> entries dropped
    other: list[str] = field(default_factory=list)

    def text(self, value: str | None) -> str | None:
        if not value:
            return value
        fixed, found = clean_text(value)
        for problem in found:
            self.cleaned[problem] += 1
        return fixed.strip() or None

    def entry(self, e: FeedEntry) -> FeedEntry:
        changes: dict[str, Any] = {}
        for name in ("key", "guid", "link", "link_error", "title", "summary"):
            value = getattr(e, name)
            if value and (fixed := self.text(value)) != value:
                changes[name] = fixed
        for name in ("authors", "categories"):
            values = getattr(e, name)
            fixed_values = tuple(v for v in (self.text(v) for v in values) if v)
            if fixed_values != values:
                changes[name] = fixed_values
        if "key" in changes and not changes["key"]:
            self.dropped["no usable identity"] += 1
            return None  # type: ignore[return-value]
        return replace(e, **changes) if changes else e

    def guarded(self, make: Callable[[], FeedEntry | None]) -> FeedEntry | None:
        """One entry, or None (and a note) when its conversion fails: the others still come through."""
        try:
            entry = make()
        except Exception as exc:  # noqa: BLE001 - any failure of one entry is that entry's, recorded
            self.dropped[f"unreadable ({type(exc).__name__})"] += 1
            return None
        if entry is None:
            self.dropped["no id, link, title or summary"] += 1
            return None
        return self.entry(entry)

    def warning(self, *first: str | None) -> str | None:
        parts = [p for p in first if p]
        parts += self.other
        if self.cleaned:
            parts.append("cleaned " + ", ".join(f"{n} value{'s' * (n > 1)} with {what}"
                                                for what, n in sorted(self.cleaned.items())))
        if self.dropped:
            parts.append("dropped " + ", ".join(f"{n} entr{'ies' if n > 1 else 'y'}: {why}"
                                                for why, n in sorted(self.dropped.items())))
        return "; ".join(parts) or None


_JSON_FEED_VERSION = re.compile(r"^https?://jsonfeed\.org/version/(\d+)(?:\.(\d+))?/?$")
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_PERIOD_S = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400,
             "yearly": 365 * 86400}
_BOMS = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\xef\xbb\xbf", "utf-8"),
         (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"))
_CHARSET = re.compile(r"""charset\s*=\s*["']?([^\s"';,]+)""", re.I)
_XML_DECL_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?\bencoding\s*=\s*["'])[^"']*(["'])""")
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]", re.I | re.S)


def parse_feed(body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed:
    """Parse feed bytes fetched from ``url``; raises FeedParseError when they are not a usable feed."""
    if not body.strip():
        raise FeedParseError(url, "empty body")
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    notes = _Notes()
    if stripped.startswith((b"{", b"[")):
        return _parse_json_feed(body, url, notes)

    body, response_headers = _for_feedparser(body, headers, url)
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=response_headers)
    except RecursionError:
        raise FeedParseError(url, "markup nested too deeply to parse") from None
    bozo = str(parsed.get("bozo_exception") or "malformed feed") if parsed.get("bozo") else None
    version = parsed.get("version") or None
    if not parsed.entries:
        if version is None:
            what = "an HTML page" if _HTML_START.match(body[:4096]) else "no RSS, Atom or JSON Feed"
            raise FeedParseError(url, f"not a feed: {what}" + (f" ({bozo})" if bozo else ""))
        if bozo:
            raise FeedParseError(url, f"malformed feed with no entries: {bozo}")

    feed = parsed.feed
    entries = _unique_by_key(notes.guarded(lambda e=e: _entry(e, url, notes)) for e in parsed.entries)
    return ParsedFeed(
        title=notes.text(_text(feed.get("title"), _detail_type(feed.get("title_detail")))),
        link=notes.text(_absolute(feed.get("link"), url)[0]),
        language=notes.text(_clean(feed.get("language"))),
        version=version,
        entries=entries,
        warning=notes.warning(bozo),
        ttl_s=_ttl_seconds(feed.get("ttl")),
        update_period_s=_update_period_seconds(feed.get("sy_updateperiod"), feed.get("sy_updatefrequency")),
        dropped=sum(notes.dropped.values()),
    )


def _for_feedparser(body: bytes, headers: Mapping[str, str], url: str) -> tuple[bytes, dict[str, str]]:
    """The body and response headers to give feedparser, with the encoding rules of RFC 7303.

    feedparser follows the obsolete RFC 3023: ``text/xml`` without a charset means US-ASCII there,
    which garbles a UTF-16 feed, and the BOM loses to the header. Here a BOM wins, then the header's
    charset, then the XML declaration, then UTF-8; the media type itself does not matter (feeds are
    served as text/html, text/plain, application/octet-stream…), so feedparser is always told XML.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    out = {"content-location": url, "content-type": "application/xml"}
    if lowered.get("content-language"):
        out["content-language"] = lowered["content-language"]
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            try:
                text = body[len(bom):].decode(encoding)
            except UnicodeDecodeError:
                break
            # feedparser honours the declared charset, so the declaration must now say UTF-8 too.
            text = _XML_DECL_ENCODING.sub(r"\1utf-8\2", text, count=1)
            out["content-type"] = "application/xml; charset=utf-8"
            return text.encode("utf-8"), out
    charset = _CHARSET.search(lowered.get("content-type", ""))
    if charset:
        out["content-type"] = f"application/xml; charset={charset.group(1)}"
    return body, out


def _entry(e: Mapping[str, Any], base: str, notes: _Notes) -> FeedEntry | None:
    title = _text(e.get("title"), _detail_type(e.get("title_detail")))
    authors = _unique(a.get("name") or a.get("email") for a in e.get("authors") or () if isinstance(a, Mapping))
    if not authors and e.get("author"):
        authors = _unique([e.get("author")])
    return _make_entry(
        guid=_clean(e.get("id")),
        raw_link=e.get("link"),
        base=base,
        title=title,
        summary=_clean(e.get("summary")),
        authors=authors,
        published=_from_struct(dict.get(e, "published_parsed"), notes),  # dict.get: no updated->published alias
        updated=_from_struct(dict.get(e, "updated_parsed"), notes),
        categories=_unique(t.get("term") or t.get("label") for t in e.get("tags") or () if isinstance(t, Mapping)),
    )


def _make_entry(*, guid: str | None, raw_link: Any, base: str, title: str | None, summary: str | None,
                authors: tuple[str, ...], published: datetime | None, updated: datetime | None,
                categories: tuple[str, ...]) -> FeedEntry | None:
    link, link_error = _absolute(raw_link, base)
    if guid:
        key = f"guid:{guid}"
    elif link:
        key = f"link:{link}"
    else:
        # No identity of its own: title (or, lacking one, the summary) plus date. An entry with
        # none of guid, link, title, summary has nothing to archive or to recognise it by.
        when = published or updated
        named = title or summary
        if not named:
            return None
        stamp = when.isoformat() if when else ""
        key = "title:" + hashlib.sha1(f"{named}\n{stamp}".encode()).hexdigest()
    return FeedEntry(key=key, guid=guid, link=link, link_error=link_error, title=title, summary=summary,
                     authors=authors, published=published, updated=updated, categories=categories)


def _absolute(raw: Any, base: str) -> tuple[str | None, str | None]:
    """(absolute http(s) URL, None) or (None, why the link is unusable)."""
    if not isinstance(raw, str) or not raw.strip():
        return None, "missing"
    try:
        resolved = urljoin(base, raw.strip())
        parts = urlsplit(resolved)
    except ValueError as exc:
        return None, f"invalid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return None, f"unsupported scheme {parts.scheme!r}" if parts.scheme else "relative URL without a base"
    if not parts.hostname:
        return None, "no host"
    return resolved, None


def _unique_by_key(entries: Iterable[FeedEntry | None]) -> tuple[FeedEntry, ...]:
    seen: dict[str, FeedEntry] = {}
    for entry in entries:
        if entry is not None and entry.key not in seen:
            seen[entry.key] = entry
    return tuple(seen.values())


def _detail_type(detail: Any) -> str:
    return str(detail.get("type") or "") if isinstance(detail, Mapping) else ""


def _text(value: Any, content_type: str = "") -> str | None:
    if not isinstance(value, str):
        return None
    if "html" in content_type:
        value = html.unescape(_TAGS.sub(" ", value))
    return _clean(_SPACE.sub(" ", value))


def _clean(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    return text or None


def _unique(values: Iterable[Any]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        text = _clean(value)
        if text and text not in out:
            out.append(text)
    return tuple(out)


def _from_struct(value: Any, notes: _Notes) -> datetime | None:
    # feedparser's *_parsed values are UTC struct_times.
    if not isinstance(value, (struct_time, tuple)) or len(value) < 6:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        notes.cleaned["an unusable date"] += 1
        return None


def _positive_int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _ttl_seconds(value: Any) -> int | None:
    minutes = _positive_int(value)
    return minutes * 60 if minutes else None


def _update_period_seconds(period: Any, frequency: Any) -> int | None:
    if period is None and frequency is None:
        return None
    seconds = _PERIOD_S.get(str(period or "daily").strip().lower())  # the module's default is daily
    if seconds is None:
        return None
    times = _positive_int(frequency) if frequency is not None else 1
    return seconds // times if times else None


# --- JSON Feed ---------------------------------------------------------------------------------------

def _parse_json_feed(body: bytes, url: str, notes: _Notes) -> ParsedFeed:
    try:
        data = json.loads(body)  # detects UTF-8/16/32 itself
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedParseError(url, f"invalid JSON: {exc}") from None
    except RecursionError:  # Python's parser recurses per level: cut the deep parts off, keep the rest
        try:
            data = json.loads(prune_deep_json(body.decode(json.detect_encoding(body)), MAX_JSON_DEPTH))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise FeedParseError(url, f"invalid JSON: {exc}") from None
        notes.other.append(f"JSON nested deeper than {MAX_JSON_DEPTH} levels: the deeper values were dropped")
    version = data.get("version") if isinstance(data, dict) else None
    match = _JSON_FEED_VERSION.match(version) if isinstance(version, str) else None
    if match is None:
        raise FeedParseError(url, "not a feed: JSON without a JSON Feed version")
    items = data.get("items")
    if not isinstance(items, list):
        raise FeedParseError(url, "malformed JSON Feed: 'items' is not a list")
    not_objects = sum(not isinstance(item, dict) for item in items)
    if not_objects:
        notes.dropped["not a JSON object"] += not_objects
    entries = _unique_by_key(notes.guarded(lambda item=item: _json_entry(item, url, notes))
                             for item in items if isinstance(item, dict))
    return ParsedFeed(
        title=notes.text(_text(data.get("title"))),
        link=notes.text(_absolute(data.get("home_page_url"), url)[0]),
        language=notes.text(_clean(data.get("language"))),
        version=f"json{match.group(1)}{match.group(2) or '0'}",
        entries=entries,
        warning=notes.warning(),
        ttl_s=None,
        update_period_s=None,
        dropped=sum(notes.dropped.values()),
    )


def _json_entry(item: dict[str, Any], base: str, notes: _Notes) -> FeedEntry | None:
    authors = item.get("authors")
    if not isinstance(authors, list):
        authors = [item["author"]] if isinstance(item.get("author"), dict) else []
    tags = item.get("tags")
    summary = next((v for k in ("summary", "content_html", "content_text") if (v := _clean(item.get(k)))), None)
    return _make_entry(
        guid=_clean(item.get("id")),
        raw_link=item.get("url") if _clean(item.get("url")) else item.get("external_url"),
        base=base,
        title=_text(item.get("title")),
        summary=summary,
        authors=_unique(a.get("name") for a in authors if isinstance(a, dict)),
        published=_json_date(item.get("date_published"), notes),
        updated=_json_date(item.get("date_modified"), notes),
        categories=_unique(tags if isinstance(tags, list) else ()),
    )


def _json_date(value: Any, notes: _Notes) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)  # RFC 822, which some JSON Feeds carry
        except (TypeError, ValueError, IndexError, OverflowError):
            notes.cleaned["an unusable date"] += 1
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first representable instant
        notes.cleaned["an unusable date"] += 1
        return None


# One JSON token that matters for nesting: a whole string (so brackets inside strings do not count),
# or a bracket. The string pattern is the unrolled "[^"\\]*(\\.[^"\\]*)*" loop: linear, no backtracking.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


def prune_deep_json(text: str, max_depth: int) -> str:
    """``text`` with every array or object nested deeper than ``max_depth`` replaced by ``null``.

    Hand-written because Python's json module recurses once per level and raises RecursionError on a
    document 100,000 arrays deep, which would lose every item of the feed. Runs only after that error."""
    out: list[str] = []
    depth, skipping_at, last = 0, 0, 0
    for m in _JSON_TOKEN.finditer(text):
        token = m.group()
        if token[0] == '"':
            continue
        if token in "[{":
            depth += 1
            if depth == max_depth + 1 and not skipping_at:
                out.append(text[last:m.start()])
                out.append("null")
                skipping_at = depth
        else:
            if skipping_at and depth == skipping_at:
                skipping_at = 0
                last = m.end()
            depth -= 1
    if not skipping_at:
        out.append(text[last:])
    return "".join(out)
