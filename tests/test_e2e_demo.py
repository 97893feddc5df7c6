"""End to end: the bundled demo site on 127.0.0.1 -> the poll-feeds flow (Prefect's test harness)
-> the archive, on SQLite and on PostgreSQL; then a second run that must add nothing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trafilatura
from sqlalchemy import func, select

from ingest.config import ExtractSettings
from ingest.demo.site import demo_config_yaml, demo_manifest
from ingest.orchestrate.runtime import load_flow
from ingest.store.archive import read_blob
from ingest.store.db import open_archive, read_session
from ingest.store.models import Article, Entry, Extraction, Fetch, Run, UrlAlias
from ingest.store.query import provenance, resolve_article
from ingest.store.search import search

pytestmark = pytest.mark.prefect


def _counts(engine: Any) -> dict[str, int]:
    with read_session(engine) as s:
        return {m.__tablename__: s.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (Article, Entry, Extraction, UrlAlias)}


def _poll(tmp_path: Path, site: Any, db_url: str) -> dict[str, Any]:
    config = tmp_path / "demo.yaml"
    config.write_text(demo_config_yaml(site.base_url, db_url), encoding="utf-8")
    return load_flow("poll", "poll_feeds")(config_path=str(config))


@pytest.fixture(params=["sqlite", "postgresql"])
def archive_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'demo.db'}"
    return request.getfixturevalue("postgres_url")


def test_demo_site_end_to_end(prefect_harness: None, demo_site_running: Any, archive_url: str,
                              tmp_path: Path) -> None:
    manifest = demo_manifest()
    expected = Counter(a.expected for a in manifest)
    summary = _poll(tmp_path, demo_site_running, archive_url)
    engine = open_archive(archive_url)

    totals = summary["totals"]
    assert totals["new"] == expected["archived"]
    assert totals["duplicate"] == expected["duplicate"]
    assert summary["failures"] == {"bot_wall": expected["bot_wall"], "http_4xx": expected["http_4xx"]}
    assert totals["sources_failed"] == 0
    assert {s["source"]: s["feed_status"] for s in summary["sources"]} == {"demo-europe": "ok", "demo-world": "ok"}

    with read_session(engine) as s:
        assert s.execute(select(func.count()).select_from(Article)).scalar_one() == expected["archived"]
        statuses = Counter(s.execute(select(Entry.status)).scalars())
        kinds = Counter(s.execute(select(Entry.error_kind).where(Entry.status == "failed")).scalars())
        assert kinds == Counter({"http_4xx": expected["http_4xx"], "bot_wall": expected["bot_wall"]})
        assert statuses["duplicate"] == expected["duplicate"]
        # one entry per feed listing: the article listed in both feeds has two sightings
        both = next(a for a in manifest if len(a.feeds) == 2)
        both_id = resolve_article(s, demo_site_running.url(both.path))
        assert both_id is not None
        assert len(provenance(s, both_id)["sightings"]) == 2
        # the link with tracking parameters is the same article as its clean URL, stored once
        tracked = next(a for a in manifest if a.tracking_query)
        tracked_id = resolve_article(s, demo_site_running.url(tracked.path) + "?" + tracked.tracking_query)
        assert tracked_id == resolve_article(s, demo_site_running.url(tracked.path))
        assert s.get(Article, tracked_id).canonical_url == demo_site_running.url(tracked.path)
        # provenance: the Prefect flow run is on every run row; every page fetch keeps its bytes
        run = s.execute(select(Run)).scalar_one()
        assert run.status == "completed" and run.prefect_flow_run_id and run.prefect_flow_name == "poll-feeds"
        assert s.execute(select(func.count()).select_from(Fetch).where(Fetch.kind == "feed")).scalar_one() == 2
        assert s.execute(select(func.count()).select_from(Fetch).where(Fetch.kind == "robots")).scalar_one() == 1

        # the archived text is exactly trafilatura's for the same bytes, URL and options
        options = ExtractSettings().trafilatura_options()
        for article in s.execute(select(Article)).scalars():
            x = s.get(Extraction, article.current_extraction_id)
            raw = read_blob(s, x.blob_sha256)
            assert article.text == trafilatura.extract(raw, url=x.url, **options), article.canonical_url

    # the seed article is found first
    hits = search(engine, "North Korean soldiers")
    with read_session(engine) as s:
        assert s.get(Article, hits[0].article_id).title.startswith("Ukraine’s Stance on North Korean")

    before = _counts(engine)
    again = _poll(tmp_path, demo_site_running, archive_url)
    assert {k: again["totals"].get(k, 0) for k in ("new", "updated", "duplicate", "failed")} == \
        {"new": 0, "updated": 0, "duplicate": 0, "failed": 0}
    assert [s["feed_status"] for s in again["sources"]] == ["unchanged", "unchanged"]
    assert _counts(engine) == before
    engine.dispose()


def _archive_contents(url: str) -> dict[str, Any]:
    """What the archive holds, independent of which source's thread stored a shared story first (the
    syndicated copy is "new" under one URL and "duplicate" under the other, in either order)."""
    engine = open_archive(url)
    with read_session(engine) as s:
        contents = {
            "texts": sorted(s.execute(select(Article.content_sha256)).scalars()),
            "urls": sorted(s.execute(select(UrlAlias.url)).scalars()),
            "entries": sorted(Counter(s.execute(select(Entry.status, Entry.error_kind)).all()).items()),
            "fetches": sorted(Counter(s.execute(select(Fetch.kind, Fetch.status)).all()).items()),
        }
    engine.dispose()
    return contents


def test_in_process_and_prefect_polls_make_the_same_archive(prefect_harness: None, demo_site_running: Any,
                                                            tmp_path: Path) -> None:
    import ingest

    via_prefect = f"sqlite:///{tmp_path / 'prefect.db'}"
    in_process = f"sqlite:///{tmp_path / 'in-process.db'}"
    flow_summary = _poll(tmp_path, demo_site_running, via_prefect)
    config = tmp_path / "in-process.yaml"
    config.write_text(demo_config_yaml(demo_site_running.base_url, in_process), encoding="utf-8")
    result = ingest.poll(config)
    assert _archive_contents(in_process) == _archive_contents(via_prefect)
    assert result.totals == flow_summary["totals"]


def test_a_flow_run_in_which_every_source_failed_ends_failed(prefect_harness: None, tmp_path: Path) -> None:
    from sites import unreachable_config

    config = unreachable_config(tmp_path / "down.yaml", 2)
    state = load_flow("poll", "poll_feeds")(config_path=str(config), return_state=True)
    assert state.is_failed()
    assert state.message == "all 2 sources failed with refused: is the network reachable (or a proxy needed)?"
    summary = state.result(raise_on_failure=False)
    assert summary["totals"]["sources_failed"] == 2
