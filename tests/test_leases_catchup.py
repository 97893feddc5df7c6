"""Source leases against overlapping runs, due-only scheduled polls, adaptive state, and catch-up
after missed schedules without duplicates."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sites import LiveFeedSite, archived_items
from sqlalchemy import func, select, update

from ingest.config import parse_config
from ingest.orchestrate.runtime import load_flow
from ingest.pipeline import scheduling
from ingest.pipeline import stages as pipeline
from ingest.store import archive, leases
from ingest.store.db import open_archive, read_session, write_session
from ingest.store.models import Article, Entry, Fetch, Source, utcnow


def _config(base: str, db: str) -> Any:
    return parse_config({"database": db, "fetch": {"allow_private_networks": True, "per_host_delay_s": 0,
                                                   "per_host_concurrency": 8},
                         "sources": [{"name": "live", "feed": f"{base}/live.rss"}]})


def test_lease_is_exclusive_renewable_and_expires(database_url: str) -> None:
    engine = open_archive(database_url)
    cfg = parse_config({"sources": [{"name": "a", "feed": "http://a.example/f"}]})
    sid = archive.ensure_sources(engine, cfg.sources)["a"]
    hour = timedelta(hours=1)
    assert leases.acquire(engine, sid, "run-1", hour)
    assert not leases.acquire(engine, sid, "run-2", hour)
    assert leases.acquire(engine, sid, "run-1", hour)  # renewing one's own lease
    leases.release(engine, sid, "run-2")  # not the owner: no effect
    assert not leases.acquire(engine, sid, "run-2", hour)
    leases.release(engine, sid, "run-1")
    assert leases.acquire(engine, sid, "run-2", hour)
    with write_session(engine) as s:  # run-2 died: its lease runs out
        s.execute(update(Source).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert leases.acquire(engine, sid, "run-3", hour)
    with read_session(engine) as s:
        assert s.execute(select(Source.lease_owner)).scalar_one() == "run-3"


def _poll_due(ctx: pipeline.PollContext, cfg: Any, due_only: bool) -> tuple[scheduling.Claim, list[Any]]:
    claim = scheduling.claim_sources(ctx.engine, cfg.sources, ctx.source_id, owner="test-run",
                                     lease=timedelta(minutes=5), due_only=due_only)
    try:
        return claim, [pipeline.poll_source(ctx, src) for src in claim.claimed]
    finally:
        scheduling.release_all(ctx.engine, claim)


def _counts(engine: Any) -> tuple[int, int, int]:
    with read_session(engine) as s:
        return (s.execute(select(func.count()).select_from(Article)).scalar_one(),
                s.execute(select(func.count()).select_from(Entry)).scalar_one(),
                s.execute(select(func.count(func.distinct(Entry.article_id)))).scalar_one())


def test_missed_schedules_are_caught_up_once_and_intervals_adapt(tmp_path: Path) -> None:
    items = archived_items()
    db = f"sqlite:///{tmp_path / 'a.db'}"
    with LiveFeedSite() as site:
        cfg = _config(site.base_url, db)
        engine = open_archive(db)
        site.items = items[:3]
        with pipeline.PollContext(cfg, engine, None) as ctx:
            claim, reports = _poll_due(ctx, cfg, due_only=True)  # never polled: due
            assert claim.claimed == list(cfg.sources) and reports[0].counts["new"] == 3
            with read_session(engine) as s:
                src = s.execute(select(Source)).scalar_one()
                assert src.poll_interval_s == 900  # new items: half the 30-minute start
                assert src.next_poll_at - src.last_polled_at == timedelta(minutes=15)
                assert src.lease_owner is None  # released
            # the next scheduled tick comes before the source is due: nothing is polled
            claim, reports = _poll_due(ctx, cfg, due_only=True)
            assert (claim.claimed, claim.not_due, reports) == ([], ["live"], [])

            # the machine was down for days: many items appeared; the next poll is long overdue
            site.items = items[:12]
            with write_session(engine) as s:
                s.execute(update(Source).values(next_poll_at=utcnow() - timedelta(days=3)))
            claim, reports = _poll_due(ctx, cfg, due_only=True)
            assert reports[0].counts["new"] == 9 and reports[0].new_entries == 9
            assert _counts(engine) == (12, 12, 12)
            # forced (ingest poll): polled although not due; nothing new, nothing duplicated
            claim, reports = _poll_due(ctx, cfg, due_only=False)
            assert reports[0].feed_status == "unchanged" and reports[0].new_entries == 0
            assert _counts(engine) == (12, 12, 12)
            with read_session(engine) as s:
                assert s.execute(select(Source.poll_interval_s)).scalar_one() == 675  # 900 / 2 * 1.5


@pytest.mark.prefect
def test_a_poll_skips_a_source_another_run_holds(prefect_harness: None, demo_site_running: Any,
                                                 tmp_path: Path) -> None:
    from ingest.demo.site import demo_config_yaml

    db = f"sqlite:///{tmp_path / 'a.db'}"
    config = tmp_path / "demo.yaml"
    config.write_text(demo_config_yaml(demo_site_running.base_url, db), encoding="utf-8")
    engine = open_archive(db)
    from ingest.config import load_config

    ids = archive.ensure_sources(engine, load_config(config).sources)
    assert leases.acquire(engine, ids["demo-world"], "another-run", timedelta(hours=1))
    summary = load_flow("poll", "poll_feeds")(config_path=str(config))
    by_source = {s["source"]: s for s in summary["sources"]}
    assert by_source["demo-world"]["feed_status"] == "skipped" and by_source["demo-world"]["new"] == 0
    assert by_source["demo-europe"]["feed_status"] == "ok" and by_source["demo-europe"]["new"] > 0
    assert summary["totals"]["sources_skipped"] == 1 and summary["totals"]["sources_failed"] == 0
    with read_session(engine) as s:
        owners = dict(s.execute(select(Source.name, Source.lease_owner)).all())
    assert owners == {"demo-world": "another-run", "demo-europe": None}
    # scheduled (due only) right after: demo-europe is not due, demo-world is still held
    summary = load_flow("poll", "poll_feeds")(config_path=str(config), due_only=True)
    assert [(s["source"], s["feed_status"]) for s in summary["sources"]] == [("demo-world", "skipped")]


def test_sources_show_health_error_kind_and_items_per_day(tmp_path: Path) -> None:
    from ingest.store.query import sources_status

    items = archived_items()
    db = f"sqlite:///{tmp_path / 'a.db'}"
    with LiveFeedSite() as site:
        cfg = parse_config({"fetch": {"allow_private_networks": True, "per_host_delay_s": 0, "retries": 0},
                            "sources": [{"name": "live", "feed": f"{site.base_url}/live.rss"},
                                        {"name": "gone", "feed": f"{site.base_url}/gone.rss"}]})
        engine = open_archive(db)
        site.items = items[:7]
        with pipeline.PollContext(cfg, engine, None) as ctx:
            states = []
            for _ in range(3):
                for src in cfg.sources:
                    pipeline.poll_source(ctx, src)
                with read_session(engine) as s:
                    states.append({r["source"]: r for r in sources_status(s)})
    assert [st["gone"]["state"].split(" (")[0][:13] for st in states] == ["backing off", "backing off", "failing since"]
    assert states[2]["gone"]["error_kind"] == "http_4xx" and states[2]["gone"]["error_count"] == 3
    assert states[2]["live"]["state"] == "healthy" and states[2]["live"]["items_per_day"] == 1.0  # 7 in 7 days


def test_a_feed_stage_that_lost_a_race_is_run_again_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The feed's transaction (fetch row, entries, the source's new state) rolled back by a lost race
    (SQLite "database is locked", PostgreSQL deadlock) is run again: nothing lost, nothing counted twice."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from ingest.store import archive as store

    items = archived_items()
    db = f"sqlite:///{tmp_path / 'a.db'}"
    real = store.upsert_entries
    calls = []

    def loses_the_first_race(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        result = real(*args, **kwargs)  # its rows are written, then the transaction is lost
        if len(calls) == 1:
            raise OperationalError("INSERT INTO entries …", {}, sqlite3.OperationalError("database is locked"))
        return result

    monkeypatch.setattr(store, "upsert_entries", loses_the_first_race)
    with LiveFeedSite() as site:
        cfg = _config(site.base_url, db)
        engine = open_archive(db)
        site.items = items[:4]
        with pipeline.PollContext(cfg, engine, None) as ctx:
            [report] = [pipeline.poll_source(ctx, src) for src in cfg.sources]
        assert len(calls) == 2
        assert (report.feed_status, report.new_entries, report.counts["new"]) == ("ok", 4, 4)
        assert _counts(engine) == (4, 4, 4)
        with read_session(engine) as s:
            src = s.execute(select(Source)).scalar_one()
            assert src.last_status == "ok" and src.body_sha256 and src.last_new_item_at is not None
            assert s.execute(select(func.count()).select_from(Fetch).where(Fetch.kind == "feed")).scalar_one() == 1


def test_overlapping_claims_in_any_order_never_deadlock(postgres_url: str) -> None:
    """The 90-day soak's scheduler died of PostgreSQL's deadlock detector: two runs claimed overlapping
    sources in different orders (due ones first, then those with page work only). Claims now lock rows in
    id order, and a claim that still loses a race to another writer is run again, whole.

    Deterministic interleaving: another transaction holds the second source; the claim takes the first
    and waits for the second; the other transaction then asks for the first. PostgreSQL breaks that
    deadlock by aborting the claim (its detector fires first). The claim must still succeed."""
    import threading
    import time

    import psycopg

    engine = open_archive(postgres_url)
    cfg = parse_config({"sources": [{"name": n, "feed": f"http://{n}.example/f"} for n in ("a", "b")]})
    ids = archive.ensure_sources(engine, cfg.sources)
    first, second = sorted(ids.values())
    plain, _, options = postgres_url.replace("postgresql+psycopg://", "postgresql://").partition("?options=")
    from urllib.parse import unquote

    other = psycopg.connect(plain, options=unquote(options))
    other.execute("SET deadlock_timeout = '5s'")  # the claim's side detects (and loses) the deadlock first
    other.execute("SELECT id FROM sources WHERE id = %s FOR UPDATE", (second,))
    result: dict[str, Any] = {}

    def claim() -> None:
        try:
            result["taken"] = leases.acquire_many(engine, [second, first], "run-claim", timedelta(hours=1))
        except Exception as exc:  # noqa: BLE001  (asserted below)
            result["error"] = exc

    thread = threading.Thread(target=claim)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the claim waits for the row we hold
        waiting = other.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()
        if waiting and waiting[0]:
            break
        time.sleep(0.05)
    try:
        other.execute("SELECT id FROM sources WHERE id = %s FOR UPDATE", (first,))
    except psycopg.errors.DeadlockDetected:
        other.rollback()  # this side lost instead: the claim goes on
    else:
        other.commit()
    thread.join(60)
    other.close()
    assert "error" not in result, result.get("error")
    assert result["taken"] == {first, second}
    engine.dispose()
