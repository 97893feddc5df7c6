"""Defect 2 of the soak issue: one bad value lost a whole feed, on every poll. The rule: a bad value is
dropped or cleaned and recorded as a feed warning, and every other item of the feed is archived, on
SQLite and on PostgreSQL (which refuses NUL where SQLite takes it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from faultsite import FaultSite, reply
from sqlalchemy import select

from ingest.clock import ManualClock
from ingest.config import parse_config
from ingest.errors import FeedParseError
from ingest.feeds.parse import MAX_JSON_DEPTH, parse_feed, prune_deep_json
from ingest.feeds.sanitize import clean_text
from ingest.pipeline.poll import poll
from ingest.store.db import open_archive, read_session
from ingest.store.models import Entry, Source

URL = "https://feeds.example.org/feed.json"
DEEP = "[" * 100_000 + "]" * 100_000


def json_feed(base: str, *, extra: str = "") -> bytes:
    """A JSON Feed: five good items with bad values (year 1 with an offset, a lone surrogate, NUL, a
    field nested 100,000 deep, a control character), one item with nothing to identify it by, one good."""
    items = [
        '{"id": "y1", "url": "%s/article?n=y1", "title": "Year one", "date_published": "0001-01-01T00:00:00+01:00"}',
        '{"id": "sur", "url": "%s/article?n=sur", "title": "Emoji half \\ud83d here"}',
        '{"id": "nul", "url": "%s/article?n=nul", "title": "NUL\\u0000 in title", "tags": ["a\\u0000b", "\\u0000"]}',
        '{"id": "deep", "url": "%s/article?n=deep", "title": "Deep", "_ext": ' + DEEP + '}',
        '{"id": "ctl", "url": "%s/article?n=ctl", "title": "Bell\\u0007 rings"}',
        '{"content_text": ""}',
        '{"id": "ok", "url": "%s/article?n=ok", "title": "Fine", "date_published": "2026-03-01T10:00:00+01:00"}',
    ]
    body = ",".join(i.replace("%s", base) for i in items)
    return ('{"version": "https://jsonfeed.org/version/1.1", "title": "Bad values' + extra + '", "items": ['
            + body + "]}").encode()


def rss_with_nul(base: str) -> bytes:
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>R&#0;SS</title>"
            f"<item><guid isPermaLink='false'>r1</guid><title>Zero&#0;width</title><link>{base}/article?n=r1</link></item>"
            f"<item><guid isPermaLink='false'>r2</guid><title>Plain</title><link>{base}/article?n=r2</link></item>"
            f"<item><description></description></item>"
            f"</channel></rss>").encode()


def test_pure_cleaning() -> None:
    assert clean_text("a\x00b\ud83dc\x07d\te") == ("ab\ufffdcd\te", frozenset({"NUL", "lone surrogate",
                                                                           "control character"}))
    assert clean_text("fine – ok 😀") == ("fine – ok 😀", frozenset())
    assert prune_deep_json('{"a": [[["x", "]]"]]], "b": [1]}', 2) == '{"a": [null], "b": [1]}'
    assert json.loads(prune_deep_json(DEEP, MAX_JSON_DEPTH)) is not None


def test_bad_values_are_cleaned_and_counted_in_the_parse() -> None:
    feed = parse_feed(json_feed("https://site.example"), {}, URL)
    by_id = {e.guid: e for e in feed.entries}
    assert sorted(by_id) == ["ctl", "deep", "nul", "ok", "sur", "y1"]
    assert by_id["y1"].published is None  # out of range: dropped, not a crash
    assert by_id["sur"].title == "Emoji half \ufffd here"
    assert by_id["nul"].title == "NUL in title" and by_id["nul"].categories == ("ab",)
    assert by_id["ctl"].title == "Bell rings"
    assert by_id["ok"].published == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert feed.dropped == 1
    assert feed.warning is not None
    for part in ("nested deeper than 64", "NUL", "lone surrogate", "an unusable date", "control character",
                 "dropped 1 entry: no id, link, title or summary"):
        assert part in feed.warning
    rss = parse_feed(rss_with_nul("https://site.example"), {}, URL)
    assert [e.title for e in rss.entries] == ["Zerowidth", "Plain"] and rss.title == "RSS"
    assert rss.dropped == 1 and "dropped 1 entry" in (rss.warning or "")


def test_a_document_that_is_only_depth_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(FeedParseError):
        parse_feed(DEEP.encode(), {}, URL)


@pytest.mark.parametrize("which", ["json", "rss"])
def test_every_other_item_of_the_feed_is_archived(which: str, database_url: str, extractor: Any) -> None:
    with FaultSite() as site:
        body = json_feed(site.url("")) if which == "json" else rss_with_nul(site.url(""))
        site.routes["/feed"] = lambda h: reply(h, 200, body, content_type="application/feed+json"
                                               if which == "json" else "application/rss+xml")
        config = parse_config({"fetch": {"allow_private_networks": True, "per_host_delay_s": 0, "retries": 0,
                                         "respect_robots": False}, "taxonomy": None,
                               "sources": [{"name": "bad", "feed": site.url("/feed")}]})
        engine = open_archive(database_url)
        summary = poll(config, engine, clock=ManualClock(datetime(2026, 3, 2, tzinfo=UTC)), extractor=extractor)
        assert summary["totals"]["sources_failed"] == 0
        with read_session(engine) as s:
            statuses = {e.guid: e.status for e in s.execute(select(Entry)).scalars()}
            source = s.execute(select(Source)).scalar_one()
        wanted = ["ctl", "deep", "nul", "ok", "sur", "y1"] if which == "json" else ["r1", "r2"]
        assert statuses == dict.fromkeys(wanted, "archived")
        assert source.last_status == "ok" and source.error_kind is None
        assert "cleaned" in source.feed_warning and "dropped 1 entr" in source.feed_warning
        assert summary["sources"][0]["dropped"] == 1 and summary["totals"]["dropped"] == 1
