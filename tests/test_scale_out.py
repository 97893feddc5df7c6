"""Scale-out on the real PostgreSQL: processes polling and backfilling the same sources at once.

Two poll processes (each source under a lease: an overlapping one is skipped) and two backfill
processes (no lease: they race the polls and each other on the same URLs) share one archive. Afterwards:
no duplicate articles, every feed item of every source is an entry (no lost sightings), every archived
or duplicate entry points at an article, no run failed or hung (no deadlock), no item failed inside
the store.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ingest.demo.site import demo_config_yaml, demo_manifest

pytestmark = pytest.mark.postgres


def _poll(config_path: str, name: str) -> dict[str, Any]:
    from ingest.config import load_config
    from ingest.pipeline import scheduling
    from ingest.pipeline import stages as pipeline
    from ingest.store.db import open_archive

    cfg = load_config(config_path)
    engine = open_archive(cfg.database or "")
    with pipeline.PollContext(cfg, engine, None) as ctx:
        claim = scheduling.claim_sources(engine, cfg.sources, ctx.source_id, owner=name,
                                         lease=timedelta(minutes=10), due_only=False)
        try:
            reports = [pipeline.poll_source(ctx, src).as_dict() for src in claim.claimed]
        finally:
            scheduling.release_all(engine, claim)
    return {"polled": [r["source"] for r in reports], "skipped": claim.skipped,
            "failures": [r["failures"] for r in reports]}


def _backfill(config_path: str, source: str, urls: str) -> dict[str, Any]:
    from ingest.config import load_config
    from ingest.pipeline import backfill
    from ingest.pipeline.stages import PollContext
    from ingest.store.db import open_archive

    cfg = load_config(config_path)
    engine = open_archive(cfg.database or "")
    (src,) = cfg.select([source])
    with PollContext(cfg, engine, None) as ctx:
        return backfill.run_backfill(ctx, src, f"urls:{urls}", datetime(2000, 1, 1, tzinfo=UTC),
                                     datetime(2030, 1, 1, tzinfo=UTC), window_days=3650)


def _job(out: str, kind: str, *args: str) -> None:
    result = _poll(*args) if kind == "poll" else _backfill(*args)
    Path(out).write_text(json.dumps(result, default=str), encoding="utf-8")


def test_concurrent_polls_and_backfills_on_postgresql(postgres_url: str, demo_site_running: Any,
                                                      tmp_path: Path) -> None:
    from ingest.store.db import open_archive, read_session
    from ingest.store.models import Article, Entry

    site = demo_site_running
    config = tmp_path / "feeds.yaml"
    config.write_text(demo_config_yaml(site.base_url, postgres_url) + "extract:\n  workers: 1\n", encoding="utf-8")
    manifest = demo_manifest()
    urls = tmp_path / "urls.txt"
    urls.write_text("\n".join(site.url(a.path) for a in manifest) + "\n", encoding="utf-8")
    open_archive(postgres_url).dispose()  # create the schema once, before the race

    jobs = [("poll", str(config), "poll-a"), ("backfill", str(config), "demo-world", str(urls)),
            ("poll", str(config), "poll-b"), ("backfill", str(config), "demo-europe", str(urls))]
    spawn = multiprocessing.get_context("spawn")  # real processes (each with its extractor processes)
    procs = [spawn.Process(target=_job, args=(str(tmp_path / f"out{i}.json"), *job)) for i, job in enumerate(jobs)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(240)  # a deadlock would hang here
        assert proc.exitcode == 0, proc
    results = [json.loads((tmp_path / f"out{i}.json").read_text(encoding="utf-8")) for i in range(len(jobs))]

    polls = [r for r in results if "polled" in r]
    for name in ("demo-world", "demo-europe"):  # each source polled by one run, skipped or re-polled by the other
        assert sum(name in r["polled"] for r in polls) >= 1
    assert all(not f.get("internal") for r in polls for f in r["failures"])
    expected = Counter(a.expected for a in manifest)
    engine = open_archive(postgres_url)
    with read_session(engine) as s:
        articles = s.execute(select(func.count(), func.count(func.distinct(Article.canonical_url)))
                             .select_from(Article)).one()
        assert tuple(articles) == (expected["archived"], expected["archived"])
        entries = s.execute(select(Entry.entry_key, Entry.status, Entry.article_id, Entry.error_kind)).all()
    feed_items = [e for e in entries if not e.entry_key.startswith("backfill:")]
    backfill_items = [e for e in entries if e.entry_key.startswith("backfill:")]
    in_feeds = sum(len(a.feeds) for a in manifest)
    assert len(feed_items) == in_feeds  # every listing of every source, once
    assert len(backfill_items) == 2 * len({a.path for a in manifest})  # both sources, every URL once
    for e in entries:
        assert e.status in ("archived", "duplicate", "failed"), e
        assert (e.article_id is not None) == (e.status in ("archived", "duplicate")), e
        assert e.error_kind != "internal", e
    assert Counter(e.status for e in backfill_items)["archived"] + Counter(
        e.status for e in backfill_items)["duplicate"] == 2 * (expected["archived"] + expected["duplicate"])
