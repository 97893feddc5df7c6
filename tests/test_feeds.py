"""parse_feed against fixture feeds (tests/data/feeds/<name> + <stem>.expected.json) and hostile input."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import ErrorKind, FeedParseError
from ingest.feeds.parse import FeedEntry, ParsedFeed, parse_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
FIXTURES = sorted(p for p in FEEDS.iterdir() if not p.name.endswith(".expected.json"))


def as_json(feed: ParsedFeed) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(feed), default=datetime.isoformat, ensure_ascii=False))


def expected_for(fixture: Path) -> dict[str, Any]:
    return json.loads((FEEDS / f"{fixture.stem}.expected.json").read_text(encoding="utf-8"))


def test_every_fixture_has_expectations() -> None:
    assert len(FIXTURES) == 15
    for fixture in FIXTURES:
        assert (FEEDS / f"{fixture.stem}.expected.json").is_file(), fixture.name


@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture(fixture: Path) -> None:
    spec = expected_for(fixture)
    body = fixture.read_bytes()
    if "error" in spec:
        with pytest.raises(FeedParseError) as info:
            parse_feed(body, spec["headers"], spec["url"])
        assert info.value.detail == spec["error"]
        assert info.value.url == spec["url"]
        assert info.value.kind is ErrorKind.PARSE_ERROR
    else:
        assert as_json(parse_feed(body, spec["headers"], spec["url"])) == spec["expected"]


def test_versions_cover_the_formats() -> None:
    versions = {expected_for(p)["expected"]["version"] for p in FIXTURES if "expected" in expected_for(p)}
    assert {"rss091n", "rss10", "rss20", "atom10", "json10", "json11"} <= versions


def test_types_are_tuples_and_aware_datetimes() -> None:
    feed = parse_feed((FEEDS / "rss20.xml").read_bytes(), {}, "https://newsukraine.example.com/rss")
    assert isinstance(feed.entries, tuple)
    first = feed.entries[0]
    assert isinstance(first, FeedEntry)
    assert first.categories == ("War", "Diplomacy", "South Korea")
    assert first.published == datetime(2025, 1, 14, 10, 20, tzinfo=UTC)
    assert first.published.utcoffset().total_seconds() == 0


def test_title_key_is_sha1_of_title_and_date() -> None:
    feed = parse_feed((FEEDS / "no_links.xml").read_bytes(), {}, "https://nolinks.example.com/rss")
    digest = hashlib.sha1(b"Statement by the ambassador\n2025-01-16T10:00:00+00:00").hexdigest()
    assert feed.entries[0].key == f"title:{digest}"
    undated = hashlib.sha1(b"Undated statement\n").hexdigest()
    assert feed.entries[2].key == f"title:{undated}"


def test_malformed_feed_keeps_entries_and_warns() -> None:
    feed = parse_feed((FEEDS / "malformed.xml").read_bytes(), {}, "https://broken.example.com/rss")
    assert [e.link for e in feed.entries] == ["https://broken.example.com/fish-and-chips",
                                              "https://broken.example.com/unclosed"]
    assert feed.warning == "<unknown>:4:19: not well-formed (invalid token)"


def test_feed_served_as_html_or_octet_stream_still_parses() -> None:
    body = (FEEDS / "rss20.xml").read_bytes()
    reference = parse_feed(body, {"Content-Type": "application/rss+xml"}, "https://newsukraine.example.com/rss")
    for content_type in ("text/html", "text/plain", "application/octet-stream", "text/xml"):
        parsed = parse_feed(body, {"content-type": content_type}, "https://newsukraine.example.com/rss")
        assert parsed == reference, content_type
        assert parsed.warning is None


def test_utf16_big_endian_and_header_charset() -> None:
    text = (FEEDS / "utf16.xml").read_bytes().decode("utf-16")
    big_endian = b"\xfe\xff" + text.encode("utf-16-be")
    feed = parse_feed(big_endian, {"Content-Type": "application/rss+xml; charset=utf-16"}, "https://utf16.example.ua/rss")
    assert feed.title == "Українська правда"
    assert feed.entries[0].title == "Посол України: полонені не є розмінною монетою"


def test_windows_1251_declared_in_header_only() -> None:
    body = ('<rss version="2.0"><channel><title>Новости</title><item><title>Киев</title>'
            '<link>https://ru.example.com/1</link></item></channel></rss>').encode("cp1251")
    feed = parse_feed(body, {"Content-Type": "application/rss+xml; charset=windows-1251"}, "https://ru.example.com/rss")
    assert (feed.title, feed.entries[0].title) == ("Новости", "Киев")


def test_relative_links_resolve_against_the_feed_url() -> None:
    body = b'<rss version="2.0"><channel><link>../</link><item><link>story.html</link></item></channel></rss>'
    feed = parse_feed(body, {}, "https://example.com/feeds/main/rss.xml")
    assert feed.link == "https://example.com/feeds/"
    assert feed.entries[0].link == "https://example.com/feeds/main/story.html"
    assert feed.entries[0].key == "link:https://example.com/feeds/main/story.html"


def test_guid_is_a_permalink_unless_it_says_otherwise() -> None:
    # RSS 2.0: isPermaLink defaults to true, so feedparser resolves a relative <guid> like a link
    # and uses it as the link when there is no <link>. isPermaLink="false" keeps it verbatim.
    body = b"""<rss version="2.0"><channel>
      <item><title>a</title><guid>12345</guid></item>
      <item><title>b</title><guid isPermaLink="false">12346</guid></item></channel></rss>"""
    a, b = parse_feed(body, {}, "https://g.example.com/feeds/rss").entries
    assert (a.key, a.link) == ("guid:https://g.example.com/feeds/12345", "https://g.example.com/feeds/12345")
    assert (b.key, b.link, b.link_error) == ("guid:12346", None, "missing")


def test_billion_laughs_is_not_expanded() -> None:
    feed = parse_feed((FEEDS / "billion_laughs.xml").read_bytes(), {}, "https://laughs.example.com/rss")
    everything = json.dumps(as_json(feed))
    assert "lollollol" not in everything
    assert feed.entries[0].title == "Entity bomb &lol9;"


def test_a_body_that_is_a_path_is_not_opened(tmp_path: Path) -> None:
    # feedparser.parse(bytes) would open a file of that name; parse_feed must treat it as content.
    secret = tmp_path / "secret.xml"
    secret.write_text('<rss version="2.0"><channel><item><title>SECRET-FILE-CONTENT</title>'
                      '<link>https://x.example/1</link></item></channel></rss>')
    with pytest.raises(FeedParseError) as info:
        parse_feed(str(secret).encode(), {}, "https://x.example/rss")
    assert "SECRET-FILE-CONTENT" not in str(info.value)


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = b'<!ENTITY leaked "REMOTE-ENTITY-EXPANDED">' if self.path.endswith(".dtd") else b"REMOTE-TEXT-EXPANDED"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_external_entities_are_neither_read_nor_fetched(tmp_path: Path, recorder: str) -> None:
    secret = tmp_path / "hostname"
    secret.write_text("LOCAL-FILE-CONTENT-7f3a")
    hostname = Path("/etc/hostname")
    body = f"""<?xml version="1.0"?>
<!DOCTYPE rss SYSTEM "{recorder}/evil.dtd" [
  <!ENTITY local SYSTEM "file://{secret}">
  <!ENTITY etc SYSTEM "file:///etc/hostname">
  <!ENTITY remote SYSTEM "{recorder}/remote.txt">
  %remote;
]>
<rss version="2.0"><channel><title>XXE &local;</title>
<item><title>a &local; &etc; &remote; &leaked;</title><link>https://xxe.example.com/a</link>
<description>&local;&etc;&remote;</description></item>
</channel></rss>""".encode()
    feed = parse_feed(body, {"Content-Type": "application/rss+xml"}, "https://xxe.example.com/rss")
    everything = json.dumps(as_json(feed), ensure_ascii=False)
    assert [e.link for e in feed.entries] == ["https://xxe.example.com/a"]
    assert "LOCAL-FILE-CONTENT-7f3a" not in everything
    assert "REMOTE-" not in everything
    if hostname.is_file() and len(hostname.read_text().strip()) >= 4:
        assert hostname.read_text().strip() not in everything
    assert _Recorder.hits == []


def test_ten_thousand_items() -> None:
    items = "".join(
        f"<item><title>Item {i}</title><link>https://big.example.com/a/{i}</link><guid isPermaLink='false'>id-{i}</guid>"
        f"<pubDate>Mon, 01 Jan 2024 00:{i % 60:02d}:00 GMT</pubDate><category>c{i % 7}</category></item>"
        for i in range(10_000)
    )
    body = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Big</title>{items}</channel></rss>'
    feed = parse_feed(body.encode(), {"Content-Type": "application/rss+xml"}, "https://big.example.com/rss")
    assert len(feed.entries) == 10_000
    assert feed.warning is None
    assert feed.entries[9_999] == FeedEntry(
        key="guid:id-9999", guid="id-9999", link="https://big.example.com/a/9999", link_error=None,
        title="Item 9999", summary=None, authors=(), published=datetime(2024, 1, 1, 0, 39, tzinfo=UTC),
        updated=None, categories=("c3",))


def test_ten_thousand_items_in_a_malformed_feed() -> None:
    # The loose parser path (as for entity declarations) must cope with big feeds too.
    items = "".join(f"<item><title>T&{i}</title><link>https://big.example.com/{i}</link></item>" for i in range(10_000))
    body = f"<rss version='2.0'><channel><title>Big & broken</title>{items}</channel></rss>"
    feed = parse_feed(body.encode(), {}, "https://big.example.com/rss")
    assert len(feed.entries) == 10_000
    assert feed.warning is not None
    assert feed.entries[42].title == "T&42"


@pytest.mark.parametrize(("body", "detail"), [
    (b"", "empty body"),
    (b" \r\n\t ", "empty body"),
    (b'{"title": "not a feed"}', "not a feed: JSON without a JSON Feed version"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "malformed JSON Feed: 'items' is not a list"),
    (b"[1, 2]", "not a feed: JSON without a JSON Feed version"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a feed: no RSS, Atom or JSON Feed (<unknown>:2:0: not well-formed (invalid token))"),
    (b"<rss version='2.0'><channel><title>x &bogus; <b></channel>",
     "malformed feed with no entries: <unknown>:2:37: undefined entity"),
])
def test_unusable_bodies(body: bytes, detail: str) -> None:
    with pytest.raises(FeedParseError) as info:
        parse_feed(body, {}, "https://u.example.com/feed")
    assert info.value.detail == detail


def test_invalid_json_names_the_problem() -> None:
    with pytest.raises(FeedParseError) as info:
        parse_feed(b"{bad json", {"Content-Type": "application/feed+json"}, "https://u.example.com/feed.json")
    assert info.value.detail.startswith("invalid JSON: Expecting property name")


def test_sy_update_frequency_without_period_means_daily() -> None:
    body = b"""<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>
      <title>x</title><sy:updateFrequency>4</sy:updateFrequency><ttl>nonsense</ttl>
      <item><guid>1</guid></item></channel></rss>"""
    feed = parse_feed(body, {}, "https://sy.example.com/rss")
    assert (feed.update_period_s, feed.ttl_s) == (86400 // 4, None)
