"""The batch stage streams: pages go to the extractor processes while other pages are still being
fetched, so the workers never wait for a whole batch (or every batch of a run) to be fetched first."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from test_store import entry, extraction, fetched

from ingest.analyse.precompute import Precompute
from ingest.config import SourceConfig, parse_config
from ingest.extract.pages import ExtractResult, PageInput
from ingest.fetch.client import FetchResult
from ingest.pipeline.stages import EXTRACT_CHUNK, PollContext, WorkItem, process_batch
from ingest.store import archive
from ingest.store.db import open_archive, read_session, write_session
from ingest.store.models import Entry

WAIT_S = 10.0


class GatedFetcher:
    """Fetches the first chunk's pages at once; every later page waits until an extraction started."""

    def __init__(self, started: threading.Event) -> None:
        self.started = started
        self.waited_in_vain: list[str] = []

    def fetch_page(self, url: str, **validators: str | None) -> FetchResult:
        n = int(url.rsplit("/", 1)[1])
        if n >= EXTRACT_CHUNK and not self.started.wait(WAIT_S):
            self.waited_in_vain.append(url)
        return fetched(url, f"<html>{n}</html>".encode())

    def take_robots_fetches(self) -> list[FetchResult]:
        return []

    def close(self) -> None:
        pass


class RecordingExtractor:
    workers = 1

    def __init__(self, started: threading.Event) -> None:
        self.started = started

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def extract_many(self, pages: Sequence[PageInput], precompute: Precompute | None = None) -> list[ExtractResult]:
        self.started.set()
        return [extraction(f"{page.url} " + "text " * 60, title=page.url) for page in pages]


def _listed(ctx: PollContext, engine: object, links: list[str]) -> tuple[int, list[WorkItem]]:
    """Source "s" with an entry for each of ``links``, and the batch's work items for them."""
    sid = ctx.source_id(SourceConfig(name="s", feed="https://example.org/feed"))
    with write_session(engine) as s:  # type: ignore[arg-type]
        archive.upsert_entries(s, source_id=sid, feed_url="https://example.org/feed", feed_fetch_id=None,
                               entries=[entry(str(i), link) for i, link in enumerate(links)], run_id=None,
                               now=datetime.now(UTC))
    with read_session(engine) as s:  # type: ignore[arg-type]
        ids = dict(s.execute(select(Entry.entry_key, Entry.id)).all())
    return sid, [WorkItem((ids[str(i)],), link, link) for i, link in enumerate(links)]


def test_extraction_starts_while_pages_are_still_being_fetched(sqlite_url: str) -> None:
    # One fetch thread: with extraction hand-offs queued on the fetch threads, no page could be
    # extracted before the last one was fetched, and the gated fetches would wait in vain.
    config = parse_config({"fetch": {"max_connections": 1, "per_host_delay_s": 0},
                           "sources": [{"name": "s", "feed": "https://example.org/feed"}]})
    engine = open_archive(sqlite_url)
    started = threading.Event()
    fetcher = GatedFetcher(started)
    n = EXTRACT_CHUNK + 3
    links = [f"https://example.org/a/{i}" for i in range(n)]
    with PollContext(config, engine, None, fetcher=fetcher,  # type: ignore[arg-type]
                     extractor=RecordingExtractor(started)) as ctx:  # type: ignore[arg-type]
        sid, items = _listed(ctx, engine, links)
        stored = process_batch(ctx, sid, items)
    assert fetcher.waited_in_vain == []
    assert sorted(item.status for item in stored) == ["new"] * n


class CountingFetcher:
    """Counts the pages fetched and not yet stored (the store's calls say which were)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fetched = 0
        self.most_in_hand = 0
        self.stored = 0

    def fetch_page(self, url: str, **validators: str | None) -> FetchResult:
        with self.lock:
            self.fetched += 1
            self.most_in_hand = max(self.most_in_hand, self.fetched - self.stored)
        return fetched(url, f"<html>{url}</html>".encode())

    def take_robots_fetches(self) -> list[FetchResult]:
        return []

    def close(self) -> None:
        pass


def test_a_batch_holds_a_bounded_number_of_pages_and_stores_them_all(sqlite_url: str, monkeypatch) -> None:
    # Fetching is fast and extraction slow: without a bound a batch fetched all its pages (their bodies
    # held until stored) before the first chunk came back from the extractor processes.
    from ingest.pipeline import pages as page_stage

    monkeypatch.setattr(page_stage, "PAGES_IN_HAND", 10)
    config = parse_config({"fetch": {"max_connections": 8, "per_host_delay_s": 0},
                           "sources": [{"name": "s", "feed": "https://example.org/feed"}]})
    engine = open_archive(sqlite_url)
    fetcher = CountingFetcher()
    real_store = archive.store_outcomes

    def counting_store(engine: object, outcomes: list[archive.PageOutcome], **kw: object) -> list[archive.StoredItem]:
        result = real_store(engine, outcomes, **kw)  # type: ignore[arg-type]
        with fetcher.lock:
            fetcher.stored += len(outcomes)
        return result

    monkeypatch.setattr(page_stage.archive, "store_outcomes", counting_store)
    started = threading.Event()
    n = 57
    links = [f"https://example.org/b/{i}" for i in range(n)]
    with PollContext(config, engine, None, fetcher=fetcher,  # type: ignore[arg-type]
                     extractor=RecordingExtractor(started)) as ctx:  # type: ignore[arg-type]
        sid, items = _listed(ctx, engine, links)
        stored = process_batch(ctx, sid, items)
    assert sorted(item.status for item in stored) == ["new"] * n
    assert fetcher.fetched == n
    assert fetcher.most_in_hand <= 10
