"""What one poll run shares, and the units it works in: the run's I/O handles (:class:`PollContext`),
a page to fetch (:class:`WorkItem`), what a source's poll did (:class:`SourceReport`), and how a failure
that is not a fetch's lands on the source's row. The stages themselves are :mod:`ingest.pipeline.stages`
(feeds) and :mod:`ingest.pipeline.pages` (pages)."""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from ingest import decide, shutdown
from ingest.clock import SYSTEM_CLOCK, Clock
from ingest.config import Config, SourceConfig
from ingest.errors import ErrorKind
from ingest.extract.pages import ExtractorPool
from ingest.fetch.client import Fetcher, FetchResult, Resolver
from ingest.pipeline.results import COUNTED
from ingest.store import archive, leases
from ingest.store.enrich import Enricher
from ingest.store.hostleases import HostLeases
from ingest.store.hostslots import LEASE_MARGIN

log = logging.getLogger("ingest.pipeline.stages")

SOURCE_BATCH = 50  # sources per batch: one feed-state read, one write transaction, one Prefect task run
BATCH_SIZE = 100  # pages per Prefect task run
EXTRACT_CHUNK = 8  # pages per hand-off to the extractor processes
PAGES_IN_HAND = 48  # pages of a batch fetching, fetched or being extracted at once (pipeline/pages.py)


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One page to fetch, and every due entry (of one source) whose link leads to it. A re-check of an
    archived article carries its id and the validators of its last full response."""

    entry_ids: tuple[int, ...]
    link: str
    canonical: str
    recheck_of: int | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class SourceReport:
    source: str
    feed_status: str = "ok"  # ok | not_modified | unchanged | failed | skipped | not_due (page work only)
    error_kind: str | None = None
    error_detail: str | None = None
    feed_warning: str | None = None
    entries_in_feed: int = 0
    new_entries: int = 0
    dropped: int = 0  # feed items dropped (nothing to know them by, unreadable, refused by the database)
    counts: Counter[str] = field(default_factory=Counter)  # new/updated/duplicate/unchanged/gone/failed
    failures: Counter[str] = field(default_factory=Counter)  # error kind -> items

    def add(self, items: Iterable[archive.StoredItem]) -> None:
        for item in items:
            self.counts[item.status] += 1
            if item.error_kind:
                self.failures[item.error_kind] += 1

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "feed_status": self.feed_status, "error_kind": self.error_kind,
                "error_detail": self.error_detail, "feed_warning": self.feed_warning,
                "entries_in_feed": self.entries_in_feed, "new_entries": self.new_entries, "dropped": self.dropped,
                **{k: self.counts.get(k, 0) for k in COUNTED},
                "failures": dict(sorted(self.failures.items()))}


@dataclass
class FeedStage:
    report: SourceReport
    source_id: int
    work: list[WorkItem]

    def batches(self, size: int = BATCH_SIZE) -> list[list[WorkItem]]:
        return [self.work[i:i + size] for i in range(0, len(self.work), size)]


class RunPages:
    """The pages of one run, by canonical URL: the first batch that plans a page fetches it (the leader),
    and a batch of another source that lists the same page waits for the leader's outcome instead of
    fetching and extracting it again (ingest/pipeline/pages.py). Holds one small outcome per page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: dict[str, Future[archive.StoredItem | None]] = {}

    def claim(self, canonical: str) -> Future[archive.StoredItem | None] | None:
        """None: the caller leads (fetches the page, then :meth:`resolve`); else the leader's outcome."""
        with self._lock:
            if canonical in self._pages:
                return self._pages[canonical]
            self._pages[canonical] = Future()
            return None

    def resolve(self, canonical: str, outcome: archive.StoredItem | None) -> None:
        """The leader's outcome (None: not stored, e.g. the run is stopping: followers leave their entries
        pending, and a later claim leads again)."""
        with self._lock:
            future = self._pages.get(canonical)
            if outcome is None:
                self._pages.pop(canonical, None)  # not stored: a later batch of this run may try it itself
        if future is not None and not future.done():
            future.set_result(outcome)


class PollContext:
    """The I/O handles one run shares: archive engine, HTTP fetcher, page threads, extractor processes,
    and the run's clock (every "now" of the run comes from it) and random source (back-off jitter).
    ``resolver`` replaces DNS for the fetcher it builds (simulations map their host names)."""

    def __init__(self, config: Config, engine: Engine, run_id: int | None, *,
                 fetcher: Fetcher | None = None, extractor: ExtractorPool | None = None,
                 clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None,
                 resolver: Resolver | None = None) -> None:
        self.config = config
        self.engine = engine
        self.run_id = run_id
        self.clock = clock
        self.rng = rng or random.Random()
        self.extractor = extractor or ExtractorPool(config.extract)
        self._own_extractor = extractor is None
        # The extractor processes start when the first batch has pages to fetch (pipeline/pages.py), not
        # here: a re-poll that finds nothing new never starts them (two workers held ~300 MB). Starting
        # late is safe: the pool never forks this process (forkserver or spawn: FACTS.md).
        # per-host limits hold across every process sharing this archive, leased per host and batch of
        # requests, not per request (store/hostleases.py)
        self.slots = HostLeases(engine, leases.new_owner("fetch"), config.fetch.per_host_concurrency,
                                config.fetch.per_host_delay_s,
                                lease=timedelta(seconds=config.fetch.timeout_s) + LEASE_MARGIN)
        slots = self.slots
        # set when the run is being stopped (SIGTERM, Ctrl-C): pages not fetched yet are left for the
        # next run (their entries stay pending); what is fetched is still extracted and stored
        self.stopping = threading.Event()
        shutdown.register(self.stopping)
        self.fetcher = fetcher or Fetcher(config.fetch, shared_slots=slots.slot, clock=clock, cancel=self.stopping,
                                          resolver=resolver, recall_robots=self._recall_robots)
        self._own_fetcher = fetcher is None
        self.threads = ThreadPoolExecutor(max_workers=config.fetch.max_connections,
                                          thread_name_prefix="ingest-fetch")
        # Hand-offs to the extractor processes get threads of their own: queued behind a batch's page
        # fetches (on `threads`), the workers sat idle until every page of every batch was fetched.
        # Two hand-offs per worker keep the workers fed while the previous chunk's results come back.
        self.handoffs = ThreadPoolExecutor(max_workers=2 * self.extractor.workers,
                                           thread_name_prefix="ingest-extract")
        self.source_ids: dict[str, int] = {}
        self.enricher = Enricher.from_config(config)  # taxonomy and dedup settings for the store
        # the store's pure per-page work, done by the extractor processes (ingest/precompute.py)
        self.precompute = self.enricher.precompute()
        self.pages = RunPages()  # one fetch per page per run, whichever sources list it
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self.clock.now()

    def _recall_robots(self, url: str) -> FetchResult | None:
        return archive.recent_robots(self.engine, url, self.now())

    def source_id(self, source: SourceConfig) -> int:
        self.register([source])
        return self.source_ids[source.name]

    def register(self, sources: Sequence[SourceConfig]) -> None:
        """The rows of these sources, created (and their config kept in step) in one transaction."""
        with self._lock:
            missing = [s for s in sources if s.name not in self.source_ids]
            if missing:
                self.source_ids.update(archive.ensure_sources(self.engine, missing, now=self.now()))

    def close(self) -> None:
        self.threads.shutdown(wait=True)
        self.handoffs.shutdown(wait=True)
        self.slots.close()
        if self._own_fetcher:
            self.fetcher.close()
        if self._own_extractor:
            self.extractor.close()

    def __enter__(self) -> PollContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- failures that are not a fetch's --------------------------------------------------------------

def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def record_internal_failure(ctx: PollContext, source_id: int, exc: Exception, stage: str) -> str:
    """An unexpected error in one source's poll is a failure of that source: kind ``internal``, the
    detail, a back-off, all on its row (``ingest sources`` shows it). Returns the detail."""
    detail = f"{stage}: {describe(exc)}"
    log.error("source %s failed in the %s: %s", source_id, stage, detail, exc_info=exc)
    now = ctx.now()
    archive.record_source_failure(ctx.engine, source_id, kind=ErrorKind.INTERNAL.value, detail=detail, now=now,
                                  next_poll=lambda errors: decide.next_poll_after_error(errors, now, rng=ctx.rng))
    return detail

