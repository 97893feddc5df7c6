"""Batched polls: a page several sources list in one run is fetched once; the feed stage of a batch of
sources keeps every per-source outcome; re-polls of unchanged feeds write one fetch row per feed."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select

from ingest.config import parse_config
from ingest.demo.site import demo_config_yaml
from ingest.pipeline import stages
from ingest.pipeline.stages import PollContext
from ingest.store import archive
from ingest.store.db import open_archive, read_session
from ingest.store.models import Entry, Fetch, HostSlot, Source


def _demo_config(site: Any, database: str, **fetch: Any) -> Any:
    import yaml

    data = yaml.safe_load(demo_config_yaml(site.base_url, database))
    data["fetch"] = {**data.get("fetch", {}), "per_host_delay_s": 0, **fetch}
    return parse_config(data)


def test_a_page_listed_by_two_sources_in_one_run_is_fetched_once(database_url: str, demo_site_running: Any) -> None:
    """Both demo feeds list one article. Planned together (one batch), each source would fetch and extract
    it; now the first fetches it, and the other's entry becomes a sighting of the same article."""
    config = _demo_config(demo_site_running, database_url)
    engine = open_archive(database_url)
    run_id = archive.start_run(engine, "poll")
    with PollContext(config, engine, run_id) as ctx:
        reports = stages.poll_sources(ctx, [(src, True) for src in config.sources])
    assert len(reports) == 2
    with read_session(engine) as s:
        pages = Counter(s.execute(select(Fetch.url).where(Fetch.kind == "page")).scalars())
        by_link: dict[str, set[tuple[int, int | None, str]]] = {}
        for link, source_id, article_id, status in s.execute(
                select(Entry.link, Entry.source_id, Entry.article_id, Entry.status)):
            by_link.setdefault(link, set()).add((source_id, article_id, status))
    assert pages and max(pages.values()) == 1, [u for u, n in pages.items() if n > 1]
    shared = {link: rows for link, rows in by_link.items() if len({r[0] for r in rows}) == 2}
    assert shared, "the demo lists one article in both feeds"
    for link, rows in shared.items():
        assert len({article for _, article, _ in rows}) == 1 and None not in {a for _, a, _ in rows}, link
        assert pages[link] == 1
    totals = Counter()
    for r in reports:
        totals.update(r.counts)
    assert totals["known"] >= len(shared)  # the follower's entry is a sighting of the leader's article


def test_a_batch_of_unchanged_feeds_writes_one_fetch_row_each_and_leaves_hosts_free(
        sqlite_url: str, demo_site_running: Any) -> None:
    config = _demo_config(demo_site_running, sqlite_url)
    engine = open_archive(sqlite_url)
    with PollContext(config, engine, archive.start_run(engine, "poll")) as ctx:
        stages.poll_sources(ctx, [(src, True) for src in config.sources])
    with read_session(engine) as s:
        before = s.execute(select(func.count()).select_from(Fetch)).scalar_one()
        cursors = dict(s.execute(select(Source.name, Source.body_sha256)).all())
    with PollContext(config, engine, archive.start_run(engine, "poll")) as ctx:
        reports = stages.poll_sources(ctx, [(src, True) for src in config.sources])
    assert {r.feed_status for r in reports} <= {"not_modified", "unchanged"}
    assert all(not r.counts.get("new") for r in reports)
    with read_session(engine) as s:
        after = s.execute(select(func.count()).select_from(Fetch)).scalar_one()
        assert dict(s.execute(select(Source.name, Source.body_sha256)).all()) == cursors
        assert all(o is None for o in s.execute(select(HostSlot.owner)).scalars())  # given back at the end
    assert after - before == len(config.sources)  # one feed fetch each, no page


def test_one_bad_feed_in_a_batch_does_not_stop_the_others(sqlite_url: str, demo_site_running: Any,
                                                          monkeypatch: Any) -> None:
    """An unexpected error in one feed's write lands on that source's row; the batch's other feeds are
    written feed by feed as usual."""
    config = _demo_config(demo_site_running, sqlite_url)
    engine = open_archive(sqlite_url)
    real = stages._write_feed
    bad = config.sources[0].name

    def write(ctx: Any, s: Any, feed: Any, isolate: bool, updates: Any = None) -> Any:
        if feed.source.name == bad:
            raise RuntimeError("this feed's write exploded")
        return real(ctx, s, feed, isolate, updates)

    monkeypatch.setattr(stages, "_write_feed", write)
    with PollContext(config, engine, archive.start_run(engine, "poll")) as ctx:
        reports = {r.source: r for r in stages.poll_sources(ctx, [(src, True) for src in config.sources])}
    assert reports[bad].feed_status == "failed" and reports[bad].error_kind == "internal"
    assert "this feed's write exploded" in (reports[bad].error_detail or "")
    good = [r for name, r in reports.items() if name != bad]
    assert good and all(r.feed_status == "ok" and r.counts["new"] > 0 for r in good)
    with read_session(engine) as s:
        rows = {r.name: r for r in s.execute(select(Source)).scalars()}
    assert rows[bad].error_kind == "internal" and rows[bad].last_status == "error"
    assert all(rows[r.source].last_status == "ok" for r in good)
