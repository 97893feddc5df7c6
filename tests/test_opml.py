"""OPML: ``ingest sources import FILE.opml`` (nested folders, xmlUrl spelled any way, titles to valid
names, duplicates skipped and said) into real config files with comments, and ``ingest sources export
--format opml`` round-tripping through an import into an empty config."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ingest.cli import main
from ingest.config import load_config
from ingest.config_edit import feed_key, slug, source_name
from ingest.feeds.opml import OpmlError, parse_opml, render_opml

# The shape feed readers export (Feedly, Inoreader, NetNewsWire): folders, text and title, htmlUrl,
# one reader's lower-case attributes, a duplicate in another folder, a commented-out feed.
READER_OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>My subscriptions in Reader</title></head>
  <body>
    <outline text="News" title="News">
      <outline text="World">
        <outline type="rss" text="BBC News - World" title="BBC News - World"
                 xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml" htmlUrl="https://www.bbc.co.uk/news/world"/>
        <outline type="rss" text="Ukrainska Pravda" title="\xd0\xa3\xd0\xba\xd1\x80\xd0\xb0\xd1\x97\xd0\xbd\xd1\x81\xd1\x8c\xd0\xba\xd0\xb0 \xd0\xbf\xd1\x80\xd0\xb0\xd0\xb2\xd0\xb4\xd0\xb0"
                 xmlurl="https://www.pravda.com.ua/rss/" language="UK"/>
      </outline>
      <outline type="rss" text="Wire" xmlUrl="https://wire.example/feed.xml"/>
    </outline>
    <outline text="Tech">
      <outline type="rss" text="Ars Technica" xmlURL="https://feeds.arstechnica.com/arstechnica/index"/>
      <outline type="rss" text="BBC again" xmlUrl="http://feeds.bbci.co.uk/news/world/rss.xml/"/>
      <outline type="rss" text="Z\xc3\xbcrich Tech Blog" xmlUrl="https://zurich.example/feed?format=rss&amp;lang=de"/>
      <outline type="rss" text="Old blog" xmlUrl="https://old.example/rss" isComment="true"/>
      <outline type="rss" text="Podcast" xmlUrl="file:///home/me/podcast.xml"/>
    </outline>
  </body>
</opml>
"""

CONFIG = """\
# Our feeds. Keep the comments!
fetch:
  timeout_s: 15   # slow sites
sources:
  - name: wire      # the wire service
    feed: "https://wire.example/feed.xml"
# the end
"""


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_parse_nested_outlines() -> None:
    opml = parse_opml(READER_OPML)
    assert opml.title == "My subscriptions in Reader"
    got = [(f.title, f.xml_url, f.folders, f.disabled) for f in opml.feeds]
    assert got == [
        ("BBC News - World", "https://feeds.bbci.co.uk/news/world/rss.xml", ("News", "World"), False),
        ("Українська правда", "https://www.pravda.com.ua/rss/", ("News", "World"), False),
        ("Wire", "https://wire.example/feed.xml", ("News",), False),
        ("Ars Technica", "https://feeds.arstechnica.com/arstechnica/index", ("Tech",), False),
        ("BBC again", "http://feeds.bbci.co.uk/news/world/rss.xml/", ("Tech",), False),
        ("Zürich Tech Blog", "https://zurich.example/feed?format=rss&lang=de", ("Tech",), False),
        ("Old blog", "https://old.example/rss", ("Tech",), True),
    ]
    assert opml.feeds[0].html_url == "https://www.bbc.co.uk/news/world"
    assert opml.problems == ["outline 'Podcast': xmlUrl 'file:///home/me/podcast.xml' is not an http(s) URL"]


def test_import_into_a_config_with_comments(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG)
    opml = tmp_path / "subscriptions.opml"
    opml.write_bytes(READER_OPML)
    out = json.loads(run("sources", "import", str(opml), "--config", str(config), "--json").output)
    assert [(a["name"], a["feed"]) for a in out["added"]] == [
        ("bbc-news-world", "https://feeds.bbci.co.uk/news/world/rss.xml"),
        ("pravda.com.ua", "https://www.pravda.com.ua/rss/"),  # a Cyrillic title: the host
        ("ars-technica", "https://feeds.arstechnica.com/arstechnica/index"),
        ("zurich-tech-blog", "https://zurich.example/feed?format=rss&lang=de"),
        ("old-blog", "https://old.example/rss"),
    ]
    assert {s["feed"]: s["reason"] for s in out["skipped"]} == {
        "https://wire.example/feed.xml": "already configured as 'wire'",
        "http://feeds.bbci.co.uk/news/world/rss.xml/": "already configured as 'bbc-news-world'",
    }
    assert out["problems"] and out["feeds"] == 7
    text = config.read_text()
    assert text.startswith(CONFIG.removesuffix("# the end\n")) and text.endswith("# the end\n")
    assert "  - name: bbc-news-world  # OPML folder News / World\n" in text
    loaded = load_config(config)
    by_name = {s.name: s for s in loaded.sources}
    assert by_name["pravda.com.ua"].language == "uk"  # "UK" normalised, as the loader wants it
    assert by_name["old-blog"].enabled is False
    assert loaded.fetch.timeout_s == 15 and not loaded.invalid_sources
    # a second import adds nothing and says why
    again = run("sources", "import", str(opml), "--config", str(config))
    assert "nothing to add" in again.output and config.read_text() == text


def test_export_then_import_round_trips(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG)
    opml = tmp_path / "subscriptions.opml"
    opml.write_bytes(READER_OPML)
    assert run("sources", "import", str(opml), "--config", str(config)).exit_code == 0
    exported = tmp_path / "export.opml"
    assert run("sources", "export", "--format", "opml", "--config", str(config), "--out", str(exported)).exit_code == 0
    fresh = tmp_path / "fresh.yaml"
    assert run("sources", "import", str(exported), "--config", str(fresh)).exit_code == 0

    def sources(path: Path) -> list[tuple[str, str, str | None, bool]]:
        return [(s.name, s.feed, s.language, s.enabled) for s in load_config(path).sources]

    assert sources(fresh) == sources(config) and len(sources(fresh)) == 6
    # to stdout too, the same document
    printed = run("sources", "export", "--config", str(config)).stdout_bytes
    assert [f.xml_url for f in parse_opml(printed).feeds] == [f.xml_url for f in parse_opml(exported.read_bytes()).feeds]


def test_render_escapes_and_marks_disabled() -> None:
    data = render_opml([{"name": "a&b", "feed": "https://x.example/?a=1&b=2", "language": "en", "enabled": False}],
                       title="T <1>", created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert b'xmlUrl="https://x.example/?a=1&amp;b=2"' in data and b"<title>T &lt;1&gt;</title>" in data
    assert b'isComment="true"' in data and b"<dateCreated>Fri, 02 Jan 2026 03:04:05 GMT</dateCreated>" in data
    [feed] = parse_opml(data).feeds
    assert (feed.title, feed.xml_url, feed.language, feed.disabled) == ("a&b", "https://x.example/?a=1&b=2", "en", True)


def test_hostile_and_broken_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<opml version="2.0"><body><outline text="&x;" xmlUrl="https://a.example/rss"/></body></opml>').encode()
    [feed] = parse_opml(xxe).feeds
    assert "SECRET" not in (feed.title or "")
    bare = b'<opml><body><outline text="Q&A" xmlUrl="https://q.example/rss?a=1&b=2"/></body></opml>'
    opml = parse_opml(bare)
    assert [(f.title, f.xml_url) for f in opml.feeds] == [("Q&A", "https://q.example/rss?a=1&b=2")]
    assert opml.problems == ["malformed XML: bare '&' read as '&amp;'"]
    with pytest.raises(OpmlError):
        parse_opml(b"<html><body>no</body></html>")
    with pytest.raises(OpmlError):
        parse_opml(b"")
    not_opml = tmp_path / "page.opml"
    not_opml.write_bytes(b"<rss/>")
    result = CliRunner().invoke(main, ["sources", "import", str(not_opml), "--config", str(tmp_path / "c.yaml")])
    assert result.exit_code != 0 and not (tmp_path / "c.yaml").exists()


def test_names_and_feed_keys() -> None:
    assert slug("BBC News - World") == "bbc-news-world" and slug("Zürich — Tech!") == "zurich-tech"
    assert slug("Українська правда") == "" and slug("...x...") == "x"
    assert source_name("News", "https://n.example/", {"news", "news-2"}) == "news-3"
    long = source_name("a" * 80, "https://n.example/", {"a" * 64})
    assert len(long) == 64 and long.endswith("-2")
    assert source_name(None, "https://www.Example.COM/rss", ()) == "example.com"
    assert feed_key("https://www.example.com/feed/") == feed_key("http://example.com:80/feed")
    assert feed_key("https://example.com/feed?a=1") != feed_key("https://example.com/feed?a=2")
