"""Defects that show only after hours of unattended operation, each through the real pipeline (fetcher,
extractor processes, store) against a local site, with a clock the test drives
(:class:`ingest.clock.ManualClock`): polls an hour or a day apart take no real time.

Each test here failed on the code before the soak issue (issue 8); the soak (test_soak.py) then runs
them all together for weeks of simulated time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from faultsite import FaultSite, article_html, reply
from sqlalchemy import Engine, select

from ingest.cli import main
from ingest.clock import ManualClock
from ingest.config import Config, parse_config
from ingest.pipeline import stages as pipeline
from ingest.pipeline.poll import poll
from ingest.store import archive
from ingest.store.db import open_archive, read_session
from ingest.store.models import Article, ArticleEvent, ArticleState, ArticleVersion, Entry, Fetch, Source

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
FETCH = {"timeout_s": 5.0, "retries": 0, "per_host_delay_s": 0, "per_host_concurrency": 4,
         "respect_robots": False, "allow_private_networks": True}


class NewsDesk:
    """A site's state the test edits between polls: articles (path -> (status, html)) and the feed's
    items (guid, path, title, updated). Pages carry an ETag of their bytes and answer 304 to it."""

    def __init__(self, site: FaultSite, *, feed_path: str = "/feed.xml") -> None:
        self.site = site
        self.pages: dict[str, tuple[int, bytes]] = {}
        self.items: list[dict[str, str]] = []
        self.feed_updated = "2026-03-02T08:00:00Z"
        site.routes[feed_path] = self._feed
        site.routes["/news"] = self._page

    def publish(self, key: str, title: str | None = None) -> str:
        path = f"/news?id={key}"
        self.pages[path] = (200, article_html(key))
        self.items.insert(0, {"guid": key, "path": path, "title": title or f"Story {key}",
                              "updated": self.feed_updated})
        return path

    def feed_bytes(self) -> bytes:
        entries = "".join(
            f"<entry><id>urn:{i['guid']}</id><title>{i['title']}</title>"
            f"<link href='{self.site.url(i['path']).replace('&', '&amp;')}'/><updated>{i['updated']}</updated></entry>"
            for i in self.items)
        return (f"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
                f"<title>Desk</title><id>urn:desk</id><updated>{self.feed_updated}</updated>{entries}</feed>").encode()

    def _feed(self, h: Any) -> None:
        reply(h, 200, self.feed_bytes(), content_type="application/atom+xml")

    def _page(self, h: Any) -> None:
        path = f"/news?id={h.query.get('id')}"
        status, body = self.pages.get(path, (404, b"not found"))
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if status == 200 and h.headers.get("If-None-Match") == etag:
            reply(h, 304, b"", {"ETag": etag}, content_type=None)
        elif status == 200:
            reply(h, 200, body, {"ETag": etag})
        else:
            reply(h, status, body, content_type="text/plain")

    def page_requests(self) -> list[Any]:
        return [r for r in self.site.requests if r.path.startswith("/news")]


@pytest.fixture
def desk() -> Iterator[NewsDesk]:
    with FaultSite() as site:
        yield NewsDesk(site)


def config_for(feed_url: str, **fetch: Any) -> Config:
    return parse_config({"fetch": FETCH | fetch, "taxonomy": None,
                         "sources": [{"name": "desk", "feed": feed_url}]})


@pytest.fixture
def run_poll(extractor: Any) -> Callable[..., dict[str, Any]]:
    def run(config: Config, engine: Engine, clock: ManualClock, **kw: Any) -> dict[str, Any]:
        return poll(config, engine, clock=clock, extractor=extractor, **kw)
    return run


def source_row(engine: Engine) -> Source:
    with read_session(engine) as s:
        return s.execute(select(Source)).scalar_one()


def entries(engine: Engine) -> dict[str, tuple[str, str | None]]:
    with read_session(engine) as s:
        return {e.guid: (e.status, e.error_kind) for e in s.execute(select(Entry)).scalars()}


def test_rechecks_of_several_articles_of_one_source_do_not_crash_the_poll(
        desk: NewsDesk, database_url: str, run_poll: Callable[..., dict[str, Any]]) -> None:
    """Defect 1: from an hour after the first poll, two archived articles of one source due for their
    re-check made every poll of it fail (a name re-bound in ``due_rechecks``), leaving new items pending."""
    desk.publish("a")
    desk.publish("b")
    engine = open_archive(database_url)
    cfg, clock = config_for(desk.site.url("/feed.xml")), ManualClock(T0)
    assert run_poll(cfg, engine, clock)["totals"]["new"] == 2
    clock.advance(timedelta(minutes=61))
    desk.publish("c")
    before = len(desk.page_requests())
    summary = run_poll(cfg, engine, clock)
    assert summary["totals"]["new"] == 1 and summary["totals"]["sources_failed"] == 0
    row = source_row(engine)
    assert (row.last_status, row.error_kind, row.error_count) == ("ok", None, 0)
    assert entries(engine) == {"urn:a": ("archived", None), "urn:b": ("archived", None), "urn:c": ("archived", None)}
    rechecks = desk.page_requests()[before:]
    assert sorted(r.path for r in rechecks) == ["/news?id=a", "/news?id=b", "/news?id=c"]
    with read_session(engine) as s:
        states = s.execute(select(ArticleState.checks)).scalars().all()
    assert sorted(states) == [0, 1, 1]


def test_bumped_updated_dates_refetch_nothing_and_rechecks_are_conditional(
        desk: NewsDesk, sqlite_url: str, run_poll: Callable[..., dict[str, Any]]) -> None:
    """Defect 7: a feed that changes only its <updated> dates on every poll made every poll re-fetch
    every item. Re-checks follow the schedule, and cost a 304 when the page is unchanged."""
    for key in "abc":
        desk.publish(key)
    engine = open_archive(sqlite_url)
    cfg, clock = config_for(desk.site.url("/feed.xml")), ManualClock(T0)
    run_poll(cfg, engine, clock)
    first = len(desk.page_requests())
    for minutes in (15, 30, 45):  # the CMS rebuilds the feed: every item gets a new <updated>
        clock.set(T0 + timedelta(minutes=minutes))
        desk.feed_updated = (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
        for item in desk.items:
            item["updated"] = desk.feed_updated
        run_poll(cfg, engine, clock)
    assert len(desk.page_requests()) == first == 3
    clock.set(T0 + timedelta(minutes=61))  # the 1-hour re-check: conditional, answered 304
    summary = run_poll(cfg, engine, clock)
    rechecks = desk.page_requests()[first:]
    assert len(rechecks) == 3 and all(r.headers.get("if-none-match") for r in rechecks)
    assert summary["totals"]["unchanged"] == 3 and summary["totals"].get("updated", 0) == 0
    with read_session(engine) as s:
        statuses = s.execute(select(Fetch.status).where(Fetch.kind == "page").order_by(Fetch.id)).scalars().all()
    assert statuses == [200, 200, 200, 304, 304, 304]
    # a real change of the listing (the headline) is a reason to look again, once
    clock.set(T0 + timedelta(minutes=130))
    desk.items[0]["title"] = "Story c, updated"
    run_poll(cfg, engine, clock)
    assert [r.path for r in desk.page_requests()[first + 3:]] == ["/news?id=c"]


def test_a_page_that_disappears_stays_archived_and_its_removal_is_history(
        desk: NewsDesk, database_url: str, run_poll: Callable[..., dict[str, Any]], tmp_path: Any) -> None:
    """Defect 8: a re-checked article answering 404/410 flipped its entry to failed and was never checked
    again. Now: the article stays, the removal is an event (show --history, export), checks go on."""
    path = desk.publish("a")
    engine = open_archive(database_url)
    cfg, clock = config_for(desk.site.url("/feed.xml")), ManualClock(T0)
    run_poll(cfg, engine, clock)
    desk.pages[path] = (404, b"gone")
    clock.set(T0 + timedelta(hours=6, minutes=1))
    assert run_poll(cfg, engine, clock)["totals"]["gone"] == 1
    clock.set(T0 + timedelta(hours=8))
    run_poll(cfg, engine, clock)  # nothing due: nothing new
    desk.pages[path] = (410, b"gone for good")
    clock.set(T0 + timedelta(days=1, minutes=1))
    assert run_poll(cfg, engine, clock)["totals"]["gone"] == 1
    assert entries(engine) == {"urn:a": ("archived", None)}
    with read_session(engine) as s:
        article = s.execute(select(Article)).scalar_one()
        state = s.get(ArticleState, article.id)
        kinds = [(e.kind, e.http_status, e.at) for e in s.execute(select(ArticleEvent).order_by(ArticleEvent.id)).scalars()]
    assert kinds == [("gone", 404, T0 + timedelta(hours=6, minutes=1)), ("gone", 410, T0 + timedelta(days=1, minutes=1))]
    assert state.gone_since == T0 + timedelta(hours=6, minutes=1) and state.gone_status == 410
    assert state.next_check_at == T0 + timedelta(days=3)  # still checked, in case it comes back

    shown = CliRunner().invoke(main, ["show", str(article.id), "--history", "--no-text", "--db", database_url]).output
    assert f"GONE since {(T0 + timedelta(hours=6, minutes=1)).isoformat().replace('+00:00', 'Z')} (HTTP 410)" in shown
    assert "page gone since" in shown and "HTTP 404" in shown
    [record] = [json.loads(line) for line in CliRunner().invoke(main, ["export", "--db", database_url]).output.splitlines()]
    assert record["gone_status"] == 410 and [e["kind"] for e in record["events"]] == ["gone", "gone"]
    assert record["text"] == article.text  # the archived text is kept

    desk.pages[path] = (200, article_html("a"))  # it comes back
    clock.set(T0 + timedelta(days=3, minutes=1))
    run_poll(cfg, engine, clock)
    with read_session(engine) as s:
        assert [e.kind for e in s.execute(select(ArticleEvent).order_by(ArticleEvent.id)).scalars()] == [
            "gone", "gone", "restored"]
        assert s.get(ArticleState, article.id).gone_since is None
    # the slow schedule goes on after the regular one for a page that is gone
    desk.pages[path] = (404, b"gone again")
    clock.set(T0 + timedelta(days=30, minutes=1))
    run_poll(cfg, engine, clock)
    with read_session(engine) as s:
        assert s.get(ArticleState, article.id).next_check_at == T0 + timedelta(days=60, minutes=1)


def test_an_unexpected_error_lands_on_the_source_row(
        desk: NewsDesk, sqlite_url: str, run_poll: Callable[..., dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 3: an exception inside a source's poll wrote nothing for it, so `ingest sources` showed
    it as never polled or healthy. Now it is kind internal, with the detail and a back-off."""
    desk.publish("a")
    engine = open_archive(sqlite_url)
    cfg, clock = config_for(desk.site.url("/feed.xml")), ManualClock(T0)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("planner exploded")

    monkeypatch.setattr(pipeline, "_plan", broken)
    summary = run_poll(cfg, engine, clock)
    assert summary["totals"]["sources_failed"] == 1
    row = source_row(engine)
    assert (row.last_status, row.error_kind, row.error_count) == ("error", "internal", 1)
    assert "RuntimeError: planner exploded" in (row.error_detail or "")
    assert T0 + timedelta(minutes=2) <= row.next_poll_at <= T0 + timedelta(minutes=5)
    assert row.last_polled_at == T0
    out = CliRunner().invoke(main, ["sources", "--db", sqlite_url]).output
    assert "✗" in out and "healthy" not in out and "1 of 1 sources failing: desk (internal)" in out
    [status] = [json.loads(line) for line in CliRunner().invoke(main, ["sources", "--json", "--db", sqlite_url]).output.splitlines()]
    assert status["state"].startswith("backing off") and status["failing"] is True

    # the page stage too: its entries fail with a kind and a retry, never pending without a word
    monkeypatch.undo()

    def store_fails(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(archive, "store_outcomes", store_fails)
    clock.advance(timedelta(minutes=10))
    run_poll(cfg, engine, clock)
    row = source_row(engine)
    # the feed stage succeeded (its error count reset), the page stage failed: one failed poll in a row
    assert (row.error_kind, row.error_count, row.last_status) == ("internal", 1, "error")
    assert "page stage: RuntimeError: disk on fire" in row.error_detail
    with read_session(engine) as s:
        e = s.execute(select(Entry)).scalar_one()
    assert (e.status, e.error_kind) == ("failed", "internal") and e.next_attempt_at == clock.now() + timedelta(minutes=15)
    monkeypatch.undo()
    clock.advance(timedelta(minutes=16))
    run_poll(cfg, engine, clock)  # recovered: the entry is retried and archived, the source healthy
    assert entries(engine) == {"urn:a": ("archived", None)}
    row = source_row(engine)
    assert (row.last_status, row.error_kind, row.error_count) == ("unchanged", None, 0)


def test_robots_txt_answering_5xx_defers_pages_instead_of_refusing_them(
        desk: NewsDesk, sqlite_url: str, run_poll: Callable[..., dict[str, Any]]) -> None:
    """Defect 5: RFC 9309: an unreachable robots.txt (5xx) means "disallowed for now"; the page failed
    as `robots` for good. Now it fails with a retryable kind and is archived once robots.txt answers."""
    desk.publish("a")
    desk.site.robots = (503, "")
    engine = open_archive(sqlite_url)
    cfg, clock = config_for(desk.site.url("/feed.xml"), respect_robots=True), ManualClock(T0)
    run_poll(cfg, engine, clock)
    with read_session(engine) as s:
        e = s.execute(select(Entry)).scalar_one()
    assert (e.status, e.error_kind) == ("failed", "http_5xx") and "robots.txt unreachable" in e.error_detail
    assert e.next_attempt_at == T0 + timedelta(minutes=15)
    desk.site.robots = (404, "")  # 4xx: no rules, allowed
    clock.advance(timedelta(minutes=16))
    run_poll(cfg, engine, clock)
    assert entries(engine) == {"urn:a": ("archived", None)}


def test_validators_that_lie_are_caught_and_dropped(sqlite_url: str, run_poll: Callable[..., dict[str, Any]]) -> None:
    """A server whose ETag never changes and that answers 304 to it even after the feed changed: the
    feed is fetched in full at least hourly, the lie is noticed (same ETag, other bytes), and from then
    on it is polled without validators, so no item is missed for longer than that."""
    with FaultSite() as site:
        desk = NewsDesk(site, feed_path="/unused.xml")

        def lying_feed(h: Any) -> None:
            if h.headers.get("If-None-Match") == '"v1"':
                reply(h, 304, b"", {"ETag": '"v1"'}, content_type=None)
            else:
                reply(h, 200, desk.feed_bytes(), {"ETag": '"v1"'}, content_type="application/atom+xml")

        site.routes["/feed.xml"] = lying_feed
        desk.publish("a")
        engine = open_archive(sqlite_url)
        cfg, clock = config_for(site.url("/feed.xml")), ManualClock(T0)
        run_poll(cfg, engine, clock)
        desk.publish("b")
        for minutes in (15, 30, 45):
            clock.set(T0 + timedelta(minutes=minutes))
            assert run_poll(cfg, engine, clock)["sources"][0]["feed_status"] == "not_modified"
        clock.set(T0 + timedelta(minutes=61))
        run_poll(cfg, engine, clock)
        assert entries(engine) == {"urn:a": ("archived", None), "urn:b": ("archived", None)}
        row = source_row(engine)
        assert row.validators_unreliable_since == T0 + timedelta(minutes=61)
        assert "ETag/Last-Modified do not change with the feed" in row.feed_warning
        desk.publish("c")
        clock.set(T0 + timedelta(minutes=76))
        run_poll(cfg, engine, clock)
        feed_requests = [r for r in site.requests if r.path == "/feed.xml"]
        assert "if-none-match" not in feed_requests[-1].headers
        assert entries(engine)["urn:c"] == ("archived", None)


def test_a_feed_that_moved_permanently_is_followed_and_said(
        desk: NewsDesk, sqlite_url: str, run_poll: Callable[..., dict[str, Any]]) -> None:
    desk.site.routes["/old-feed"] = lambda h: reply(h, 301, b"", {"Location": "/feed.xml"}, content_type=None)
    desk.publish("a")
    engine = open_archive(sqlite_url)
    run_poll(config_for(desk.site.url("/old-feed")), engine, ManualClock(T0))
    assert entries(engine) == {"urn:a": ("archived", None)}
    assert f"moved permanently to {desk.site.url('/feed.xml')}" in source_row(engine).feed_warning
    out = CliRunner().invoke(main, ["sources", "--db", sqlite_url]).output
    assert "warning: desk: the feed moved permanently" in out


def test_meta_refresh_stubs_and_stray_nul_bytes_are_archived(
        desk: NewsDesk, database_url: str, run_poll: Callable[..., dict[str, Any]]) -> None:
    """Defects 4 and 6: a <meta http-equiv=refresh> redirect stub was empty_extraction, and one NUL
    byte made a good page not_html, both for good."""
    stub = (b"<!doctype html><html><head><meta http-equiv='refresh' content='0; url=/news?id=target'>"
            b"<title>Redirecting</title></head><body><p>Redirecting...</p></body></html>")
    desk.site.routes["/stub"] = lambda h: reply(h, 200, stub)
    desk.pages["/news?id=target"] = (200, article_html("target"))
    desk.items.append({"guid": "stub", "path": "/stub", "title": "Stub", "updated": desk.feed_updated})
    nul = desk.publish("nul")
    desk.pages[nul] = (200, article_html("nul").replace(b"<p>", b"<p>\x00", 1))
    engine = open_archive(database_url)
    run_poll(config_for(desk.site.url("/feed.xml")), engine, ManualClock(T0))
    assert entries(engine) == {"urn:stub": ("archived", None), "urn:nul": ("archived", None)}
    with read_session(engine) as s:
        urls = set(s.execute(select(Article.url)).scalars())
        fetch = s.execute(select(Fetch).where(Fetch.url == desk.site.url("/stub"))).scalar_one()
        texts = [t for t in s.execute(select(Article.text)).scalars()]
    assert urls == {desk.site.url("/news?id=target"), desk.site.url(nul)}
    assert fetch.redirects == [desk.site.url("/news?id=target")] == fetch.meta_refresh
    assert all("\x00" not in t for t in texts)


def test_a_headline_edit_alone_is_a_version(desk: NewsDesk, sqlite_url: str,
                                            run_poll: Callable[..., dict[str, Any]]) -> None:
    """Found by the soak: a re-check that found only the headline changed said "unchanged" (revisions
    were keyed on the text alone), so headline edits were never archived."""
    path = desk.publish("h")
    body = "<p>" + "A paragraph that stays exactly the same through every edit of the headline. " * 6 + "</p>"

    def page(title: str) -> bytes:
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
                f"<article><h2>{title}</h2>{body}</article></body></html>").encode()

    desk.pages[path] = (200, page("Minister resigns"))
    engine = open_archive(sqlite_url)
    cfg, clock = config_for(desk.site.url("/feed.xml")), ManualClock(T0)
    run_poll(cfg, engine, clock)
    desk.pages[path] = (200, page("Minister resigns after vote"))
    clock.set(T0 + timedelta(minutes=61))
    assert run_poll(cfg, engine, clock)["totals"]["updated"] == 1
    desk.pages[path] = (200, page("Minister resigns after vote!"))  # punctuation only: not a revision
    clock.set(T0 + timedelta(hours=6, minutes=1))
    assert run_poll(cfg, engine, clock)["totals"].get("updated", 0) == 0
    with read_session(engine) as s:
        titles = s.execute(select(ArticleVersion.title).order_by(ArticleVersion.version)).scalars().all()
    assert titles == ["Minister resigns", "Minister resigns after vote"]


def test_robots_txt_is_reused_for_a_day_across_runs(desk: NewsDesk, sqlite_url: str,
                                                     run_poll: Callable[..., dict[str, Any]]) -> None:
    """Each run fetched robots.txt again, every fifteen minutes per host; RFC 9309 lets a crawler keep
    it up to 24 hours. An unreachable answer is not kept: the next run asks again."""
    desk.site.robots = (200, "User-agent: *\nDisallow: /private/\n")
    engine = open_archive(sqlite_url)
    cfg, clock = config_for(desk.site.url("/feed.xml"), respect_robots=True), ManualClock(T0)
    for minutes in (0, 15, 30):
        clock.set(T0 + timedelta(minutes=minutes))
        desk.publish(f"r{minutes}")
        run_poll(cfg, engine, clock)
    assert desk.site.hits("/robots.txt") == 1
    assert entries(engine) == {f"urn:r{m}": ("archived", None) for m in (0, 15, 30)}
    clock.set(T0 + timedelta(hours=25))
    desk.site.robots = (503, "")
    desk.publish("late")
    run_poll(cfg, engine, clock)
    clock.set(T0 + timedelta(hours=25, minutes=15))
    desk.publish("later")
    run_poll(cfg, engine, clock)
    assert desk.site.hits("/robots.txt") == 3  # a day later; and again after the 503


def test_page_work_is_done_when_due_even_if_the_feed_is_not(desk: NewsDesk, sqlite_url: str,
                                                            run_poll: Callable[..., dict[str, Any]]) -> None:
    """Found by the soak: a source's re-checks, retries and the pending entries of a killed run waited
    for its next feed poll (up to max_interval_s, six hours by default). A scheduled tick now does a
    source's due page work without fetching a feed that is not due."""
    from sqlalchemy import update

    from ingest.store.db import write_session

    desk.publish("a")
    engine = open_archive(sqlite_url)
    cfg, clock = config_for(desk.site.url("/feed.xml")), ManualClock(T0)
    run_poll(cfg, engine, clock, due_only=True)
    with write_session(engine) as s:  # the feed is not due for a day
        s.execute(update(Source).values(next_poll_at=T0 + timedelta(days=1)))
    feeds = desk.site.hits("/feed.xml")
    clock.set(T0 + timedelta(minutes=15))
    summary = run_poll(cfg, engine, clock, due_only=True)
    assert summary["sources"] == [] and desk.site.hits("/feed.xml") == feeds  # nothing due at all
    clock.set(T0 + timedelta(minutes=61))  # the 1-hour re-check is due
    summary = run_poll(cfg, engine, clock, due_only=True)
    assert [s["feed_status"] for s in summary["sources"]] == ["not_due"]
    assert desk.site.hits("/feed.xml") == feeds and len(desk.page_requests()) == 2
    with write_session(engine) as s:  # as if a run died after storing the entry and before its page
        s.execute(update(Entry).values(status="pending", article_id=None))
    clock.set(T0 + timedelta(minutes=76))
    run_poll(cfg, engine, clock, due_only=True)
    assert entries(engine) == {"urn:a": ("archived", None)} and desk.site.hits("/feed.xml") == feeds
