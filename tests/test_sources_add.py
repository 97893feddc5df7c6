"""``ingest sources add``: feed discovery from a site's pages served on 127.0.0.1 (the demo site, a blog
with a comments feed and a broken declared feed, a JSON Feed, anchors only, a bare site found by its
common paths), through the guarded fetcher, into real config files with comments."""

from __future__ import annotations

import difflib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ingest.cli import main
from ingest.config import load_config
from ingest.demo.feeds import FeedItem, render_atom, render_rss
from ingest.demo.server import NewsSite, Route
from ingest.demo.site import demo_routes
from ingest.feeds.discover import page_candidates, sniff_feed

HTML = (("Content-Type", "text/html; charset=utf-8"),)
RSS = (("Content-Type", "application/rss+xml; charset=utf-8"),)
ATOM = (("Content-Type", "application/atom+xml; charset=utf-8"),)
ITEMS = [FeedItem(path=f"/posts/{i}.html", title=f"Post {i}", published=datetime.fromisoformat(f"2025-03-0{i}T10:00:00+00:00"))
         for i in range(1, 5)]

CONFIG = """\
# Feeds of the newsroom (kept by hand: the comments matter)
database: sqlite:///data/archive.db   # the archive
fetch:
  allow_private_networks: true  # the test sites are on loopback
  per_host_delay_s: 0
  timeout_s: 10

sources:
  # wire services
  - name: wire
    feed: "https://wire.example/feed.xml"   # quoted on purpose
    language: en
  # local papers
  - name: local-paper
    feed: 'https://paper.example/rss'
    enabled: false

# tagging
taxonomy: null   # rule tags off
"""


def page(head: str, body: str = "") -> bytes:
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title>{head}</head><body>{body}</body></html>'.encode()


def json_feed(base: str) -> bytes:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "JSON News", "home_page_url": base,
                       "items": [{"id": f"{base}/j/{i}", "url": f"{base}/j/{i}", "title": f"J {i}",
                                  "date_published": f"2025-04-0{i}T08:00:00Z"} for i in (1, 2, 3)]}).encode()


@pytest.fixture(scope="module")
def site() -> Any:
    routes = demo_routes()  # "/" declares /feeds/world.rss and /feeds/europe.atom
    routes["/blog/"] = Route(200, HTML, page(
        '<link rel="alternate" type="application/rss+xml" title="Blog » Comments Feed" href="/blog/comments/feed/">'
        '<link rel="alternate" type="application/rss+xml" title="Broken" href="broken.xml">'
        '<link rel="alternate" type="application/rss+xml" title="Blog » Feed" href="/blog/feed/">'
        '<link rel="alternate" type="application/rss+xml" title="Same, again" href="/blog/feed/?alias=1">'))
    routes["/blog/feed/"] = Route(200, RSS, lambda base: render_rss(base, ITEMS, title="The Blog", description="posts"))
    routes["/blog/feed/?alias=1"] = Route(200, RSS, lambda base: render_rss(base, ITEMS, title="The Blog",
                                                                            description="posts"))
    routes["/blog/comments/feed/"] = Route(200, RSS, lambda base: render_rss(
        base, ITEMS[:2], title="Comments on The Blog", description="comments"))
    routes["/blog/broken.xml"] = Route(200, HTML, page("", "<p>moved</p>"))
    routes["/json/"] = Route(200, HTML, page('<link rel="alternate" type="application/feed+json" href="feed.json">'))
    routes["/json/feed.json"] = Route(200, (("Content-Type", "application/feed+json"),), json_feed)
    routes["/anchors/"] = Route(200, HTML, page("", '<a href="/about">About</a> <a href="/anchors/news.rss">RSS</a>'))
    routes["/anchors/news.rss"] = Route(200, RSS, lambda base: render_rss(base, ITEMS[:3], title="Anchor News",
                                                                          description="x"))
    s = NewsSite(routes)
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def bare_site() -> Any:
    """A site whose pages name no feed: only the common paths find it (/feed moves to /index.xml)."""
    s = NewsSite({
        "/": Route(200, HTML, page("", "<p>Hugo site</p>")),
        "/feed": Route(301, (("Location", "/index.xml"),), b""),
        "/rss": Route(200, HTML, page("", "not a feed")),
        "/index.xml": Route(200, ATOM, lambda base: render_atom(base, ITEMS, title="Bare Hugo", feed_path="/index.xml")),
    })
    s.start()
    yield s
    s.stop()


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def only_added_lines(before: str, after: str) -> list[str]:
    """The lines ``after`` adds to ``before``; fails if any line of ``before`` changed or moved."""
    a, b = before.splitlines(), after.splitlines()
    added = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        assert op in ("equal", "insert"), (op, a[i1:i2], b[j1:j2])
        if op == "insert":
            added += b[j1:j2]
    return added


def test_finds_the_demo_sites_feeds_from_its_homepage_and_adds_the_best(site: Any, config: Path) -> None:
    result = run("sources", "add", site.url("/"), "--config", str(config), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [f["url"] for f in out["feeds"]] == [site.url("/feeds/world.rss"), site.url("/feeds/europe.atom")]
    world = out["feeds"][0]
    assert world["title"] == "Demo World News" and world["items"] > 10 and world["origin"] == "link"
    assert world["newest_at"] and world["newest_title"]
    assert out["added"] == [{"name": "demo-world-news", "feed": site.url("/feeds/world.rss")}]
    after = config.read_text(encoding="utf-8")
    added = only_added_lines(CONFIG, after)
    assert added[0].strip().startswith("- name: demo-world-news  # 'Demo World News', found from")
    assert added[1].strip() == f"feed: {site.url('/feeds/world.rss')}"
    # above "# tagging", which heads the next key, not inside the list's last entry
    assert after.index("demo-world-news") < after.index("# tagging")
    loaded = load_config(config)
    assert [s.name for s in loaded.sources] == ["wire", "local-paper", "demo-world-news"]
    assert loaded.taxonomy is None and not loaded.invalid_sources


def test_all_adds_every_feed_and_a_rerun_adds_nothing(site: Any, config: Path) -> None:
    assert run("sources", "add", site.url("/"), "--config", str(config), "--all").exit_code == 0
    assert [s.name for s in load_config(config).sources][2:] == ["demo-world-news", "demo-europe"]
    before = config.read_text()
    again = run("sources", "add", site.url("/"), "--config", str(config), "--all")
    assert again.exit_code == 0
    assert "already configured as 'demo-world-news'" in again.output and "nothing to add" in again.output
    assert config.read_text() == before


def test_comments_feeds_lose_broken_and_aliased_candidates_are_said(site: Any, config: Path) -> None:
    out = json.loads(run("sources", "add", site.url("/blog/"), "--config", str(config), "--json",
                         "--name", "the-blog").output)
    assert [f["url"] for f in out["feeds"]] == [site.url("/blog/feed/"), site.url("/blog/comments/feed/")]
    assert out["added"] == [{"name": "the-blog", "feed": site.url("/blog/feed/")}]
    reasons = {r["url"]: r["reason"] for r in out["rejected"]}
    assert "not a feed" in reasons[site.url("/blog/broken.xml")]
    assert reasons[site.url("/blog/feed/?alias=1")] == f"the same feed as {site.url('/blog/feed/')}"


def test_json_feed_anchor_and_a_feed_url_itself(site: Any, config: Path) -> None:
    out = json.loads(run("sources", "add", site.url("/json/"), "--config", str(config), "--json").output)
    assert out["feeds"][0] | {"newest_title": None} == {
        "url": site.url("/json/feed.json"), "origin": "link", "title": "JSON News", "items": 3,
        "newest_title": None, "newest_at": "2025-04-03T08:00:00Z", "version": "json11", "language": None,
        "site": site.base_url}
    out = json.loads(run("sources", "add", site.url("/anchors/"), "--config", str(config), "--json").output)
    assert [(f["url"], f["origin"]) for f in out["feeds"]] == [(site.url("/anchors/news.rss"), "anchor")]
    out = json.loads(run("sources", "add", site.url("/feeds/europe.atom"), "--config", str(config), "--json").output)
    assert [(f["url"], f["origin"]) for f in out["feeds"]] == [(site.url("/feeds/europe.atom"), "self")]
    assert [s.name for s in load_config(config).sources][2:] == ["json-news", "anchor-news", "demo-europe"]


def test_common_paths_when_the_page_names_no_feed(bare_site: Any, config: Path) -> None:
    out = json.loads(run("sources", "add", bare_site.url("/"), "--config", str(config), "--json", "--dry-run").output)
    # /feed moved permanently: the feed's own address is what gets configured
    assert [(f["url"], f["origin"]) for f in out["feeds"]] == [(bare_site.url("/index.xml"), "common")]
    assert out["added"] == [{"name": "bare-hugo", "feed": bare_site.url("/index.xml")}] and not out["written"]
    assert config.read_text() == CONFIG  # --dry-run
    every = json.loads(run("sources", "add", bare_site.url("/"), "--config", str(config), "--json", "--all").output)
    assert len(every["feeds"]) == 1
    reasons = {r["url"]: r["reason"] for r in every["rejected"]}
    assert reasons[bare_site.url("/index.xml")].startswith("the same feed as")
    assert "not a feed" in reasons[bare_site.url("/rss")] and "http_4xx" in reasons[bare_site.url("/atom.xml")]


def test_the_address_guard_applies(site: Any, tmp_path: Path) -> None:
    path = tmp_path / "public.yaml"
    text = CONFIG.replace("allow_private_networks: true", "allow_private_networks: false")
    path.write_text(text)
    result = CliRunner().invoke(main, ["sources", "add", site.url("/"), "--config", str(path)])
    assert result.exit_code == 1
    assert "forbidden_address" in result.output
    assert path.read_text() == text


def test_nothing_found_exits_1_with_the_reasons(site: Any, config: Path) -> None:
    result = CliRunner().invoke(main, ["sources", "add", site.url("/blog/broken.xml"), "--config", str(config)])
    assert result.exit_code == 1
    assert "no feed found" in result.output and config.read_text() == CONFIG


def test_names_must_be_free_and_name_with_all_is_refused(site: Any, config: Path) -> None:
    assert "the name 'wire' is taken" in run("sources", "add", site.url("/anchors/"), "--config", str(config),
                                             "--name", "wire").output
    assert config.read_text() == CONFIG
    usage = CliRunner().invoke(main, ["sources", "add", site.url("/"), "--config", str(config), "--all", "--name", "x"])
    assert usage.exit_code != 0 and config.read_text() == CONFIG


def test_a_missing_config_file_is_created(tmp_path: Path) -> None:
    from ingest.config_edit import NewSource, add_sources

    path = tmp_path / "config" / "feeds.yaml"
    result = add_sources(path, [NewSource(feed="https://news.example/rss", title="Новини"),
                                NewSource(feed="https://news.example/rss/", title="again")])
    assert result.created and result.written
    assert [(s.name, s.feed) for s in load_config(path).sources] == [("news.example", "https://news.example/rss")]
    assert result.skipped[0].reason == "already configured as 'news.example'"


def test_a_result_the_loader_refuses_is_never_written(tmp_path: Path) -> None:
    from ingest.config_edit import NewSource, add_sources
    from ingest.errors import ConfigError

    path = tmp_path / "feeds.yaml"
    broken = CONFIG.replace("  timeout_s: 10\n", "  timeout_s: 10\n  retries: 99   # out of range\n")
    path.write_text(broken)
    with pytest.raises(ConfigError, match="not written, the result would not load"):
        add_sources(path, [NewSource(feed="https://news.example/rss", title="News")])
    assert path.read_text() == broken and sorted(p.name for p in tmp_path.iterdir()) == ["feeds.yaml"]


def test_page_candidates_are_pure() -> None:
    html = (b'<html><head><base href="https://cdn.example/site/">'
            b'<link rel="alternate" type="application/atom+xml" href="atom.xml" title="A">'
            b'<link rel="stylesheet" href="x.css"><link rel="alternate" type="text/html" href="/en/">'
            b'<link rel="ALTERNATE" type="application/rss+xml; charset=utf-8" href="//other.example/rss"></head>'
            b'<body><a href="feed://news.example/feed/">subscribe</a><a href="/tag/x/">x</a>'
            b'<a href="javascript:void(0)">RSS</a><a href="atom.xml">Atom</a></body></html>')
    got = [(c.url, c.origin) for c in page_candidates(html, "https://news.example/")]
    assert got == [("https://cdn.example/site/atom.xml", "link"), ("https://other.example/rss", "link"),
                   ("http://news.example/feed/", "anchor")]
    assert sniff_feed(b'<?xml version="1.0"?><rss version="2.0">') and not sniff_feed(b"<!DOCTYPE html><html>")
    assert sniff_feed(b'{"version": "https://jsonfeed.org/version/1.1"}') and not sniff_feed(b'{"a": 1}')
    assert page_candidates(b"", "https://x.example/") == []
