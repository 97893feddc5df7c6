"""Poll sources, as one readable story with no Prefect in it.

    feed stage   fetch the feed (conditional GET + body hash) -> parse -> store entries and advance the
                 source's fetch state in ONE transaction -> plan the due entries
    batch stage  fetch pages (threads, per-host politeness) -> extract (worker processes)
                 -> canonicalise, dedup and store (one transaction, a savepoint per item)

The entries table is the durable work queue: an entry is ``pending`` from the moment its feed state is
committed until its page is stored, so a crash anywhere in between is finished by the next run, and a
re-run over the same input finds nothing to do. Failures are values: a bad feed or page becomes a
counted, recorded outcome and never stops the other sources.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ingest import decide, shutdown
from ingest.clock import SYSTEM_CLOCK, Clock
from ingest.config import Config, SourceConfig
from ingest.errors import ErrorKind, FeedParseError
from ingest.extract.pages import ExtractorPool, ExtractResult, PageInput
from ingest.feeds.parse import ParsedFeed, parse_feed
from ingest.fetch.client import FetchCancelled, Fetcher, FetchResult, Resolver
from ingest.pipeline.results import COUNTED
from ingest.store import archive, leases, revisions
from ingest.store import entries as entry_rows
from ingest.store import sources as source_rows
from ingest.store.db import write_session
from ingest.store.enrich import Enricher
from ingest.store.hostslots import LEASE_MARGIN, HostSlots
from ingest.store.retry import is_lost_race, retry_lost_races
from ingest.urls import canonicalize

log = logging.getLogger("ingest.pipeline.stages")

BATCH_SIZE = 100  # pages per Prefect task run
EXTRACT_CHUNK = 8  # pages per hand-off to the extractor processes


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
        self.extractor.start()  # before any HTTP client: forking after one can hang (FACTS.md)
        # per-host limits hold across every process sharing this archive (store/hostslots.py)
        slots = HostSlots(engine, leases.new_owner("fetch"), config.fetch.per_host_concurrency,
                          config.fetch.per_host_delay_s,
                          lease=timedelta(seconds=config.fetch.timeout_s) + LEASE_MARGIN)
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


# --- feed stage -----------------------------------------------------------------------------------

def poll_feed(ctx: PollContext, source: SourceConfig, *, fetch_feed: bool = True) -> FeedStage:
    """Fetch and parse one feed, store its entries with the source's new fetch state, plan the pages.
    ``fetch_feed`` False: the feed is not due, only the source's due page work is planned (pending
    entries, due retries and re-checks: ingest/scheduling.py). Never raises for the source's sake: an
    unexpected error is recorded on the source and returned as a failed stage (the run goes on with the
    other sources)."""
    source_id = ctx.source_id(source)
    try:
        if not fetch_feed:
            work, sighted = _plan(ctx, source_id, ctx.now())
            stage = FeedStage(SourceReport(source.name, feed_status="not_due"), source_id, work)
            stage.report.counts["known"] += sighted
            return stage
        return _poll_feed(ctx, source, source_id)
    except Exception as exc:  # an unexpected exception is a failure too, recorded where operators look
        if ctx.stopping.is_set():
            raise
        detail = record_internal_failure(ctx, source_id, exc, "feed stage")
        report = SourceReport(source.name, feed_status="failed", error_kind=ErrorKind.INTERNAL.value,
                              error_detail=detail)
        return FeedStage(report, source_id, [])


def _poll_feed(ctx: PollContext, source: SourceConfig, source_id: int) -> FeedStage:
    report = SourceReport(source.name)
    state = source_rows.feed_state(ctx.engine, source_id)
    etag, last_modified, old_sha, errors = state.etag, state.last_modified, state.body_sha256, state.error_count
    unreliable_since = state.validators_unreliable_since
    send = decide.send_validators(has_validators=bool(etag or last_modified), last_body_at=state.last_body_at,
                                  unreliable_since=unreliable_since, now=ctx.now())
    result = ctx.fetcher.fetch_feed(source.feed, etag=etag if send else None,
                                    last_modified=last_modified if send else None)
    now = ctx.now()
    body_sha = result.records[-1].sha256 if result.records else None
    parsed: ParsedFeed | None = None
    error: tuple[str, str] | None = None
    warnings: list[str] = []
    lied = result.ok and not result.not_modified and unreliable_since is None and decide.validators_lied(
        stored_etag=etag, stored_last_modified=last_modified, new_etag=result.headers.get("etag"),
        new_last_modified=result.headers.get("last-modified"), stored_sha=old_sha, new_sha=body_sha)
    if lied:
        warnings.append("the server's ETag/Last-Modified do not change with the feed: fetched without them "
                        "from now on")
    if result.moved_to:
        warnings.append(f"the feed moved permanently to {result.moved_to}: update feed: in the config")
    if not result.ok:
        err = result.error
        error = ((err.kind.value, err.detail or str(err)) if err else (ErrorKind.INTERNAL.value, "no result"))
    elif result.not_modified or (body_sha is not None and body_sha == old_sha):
        report.feed_status = "not_modified" if result.not_modified else "unchanged"
    else:
        try:
            parsed = parse_feed(result.body, result.headers, result.final_url or source.feed)
        except FeedParseError as exc:
            error = (ErrorKind.PARSE_ERROR.value, exc.detail)

    if error is not None:
        report.feed_status, (report.error_kind, report.error_detail) = "failed", error
    if parsed is not None:
        report.entries_in_feed = len(parsed.entries)
        report.dropped = parsed.dropped
        if parsed.warning:
            warnings.insert(0, parsed.warning)

    def write(isolate: bool) -> archive.EntriesWritten:
        """The feed's fetch, its entries and the source's new state: one transaction, run again whole
        if it lost a race with a concurrent run (store/retry.py), so it must not touch ``report``."""
        with write_session(ctx.engine) as s:
            fetch_id = archive.record_fetch(s, result, kind="feed", run_id=ctx.run_id, source_id=source_id,
                                            keep_body=report.feed_status == "ok", now=now)
            written = archive.EntriesWritten(0, 0)
            cursor = None
            if parsed is not None:
                written = archive.upsert_entries(
                    s, source_id=source_id, feed_url=source.feed, feed_fetch_id=fetch_id, entries=parsed.entries,
                    run_id=ctx.run_id, now=now, isolate=isolate)
                cursor = {"etag": result.headers.get("etag"), "last_modified": result.headers.get("last-modified"),
                          "body_sha256": body_sha, "feed_title": parsed.title}
            source_rows.update_source(s, source_id, decide.source_after_poll(
                now=now, error=error, feed_status=report.feed_status, error_count=errors,
                failing_since=state.failing_since, retry_after_s=result.retry_after_s, rng=ctx.rng,
                got_body=result.ok and not result.not_modified, lied=lied, cursor=cursor, new_items=written.new,
                warning=_warning(warnings, written.rejected) if parsed is not None else _warning(warnings, ()),
                next_poll=None if error is not None else _next_poll(
                    ctx.config, now, state.poll_interval_s, written.new, parsed, result)))
        return written

    try:
        written = retry_lost_races(lambda: write(False))
    except DBAPIError as exc:  # one value the database refuses must not lose the feed: entry by entry
        if is_lost_race(exc):
            raise
        written = retry_lost_races(lambda: write(True))
    report.new_entries = written.new
    report.dropped += len(written.rejected)
    report.feed_warning = _warning(warnings, written.rejected)
    if written.unusable:  # new entries without a usable link are failed items from the start
        report.counts["failed"] += written.unusable
        report.failures[ErrorKind.UNSUPPORTED_URL.value] += written.unusable

    work, sighted = _plan(ctx, source_id, now)
    report.counts["known"] += sighted  # new to this source, already archived: not "unchanged" (first poll)
    return FeedStage(report, source_id, work)


def _warning(warnings: Sequence[str], rejected: Sequence[str]) -> str | None:
    parts = list(warnings)
    if rejected:
        parts.append(f"{len(rejected)} entr{'ies' if len(rejected) > 1 else 'y'} refused by the database "
                     f"(first: {rejected[0]})")
    return "; ".join(parts)[:4000] or None


def _next_poll(config: Config, now: Any, interval_s: int | None, new_items: int, parsed: ParsedFeed | None,
               result: FetchResult) -> dict[str, Any]:
    bounds = decide.PollBounds(timedelta(seconds=config.poll.interval_s),
                               timedelta(seconds=config.poll.min_interval_s),
                               timedelta(seconds=config.poll.max_interval_s))
    interval = decide.adapt_interval(timedelta(seconds=interval_s) if interval_s else None, new_items, bounds)
    at = decide.next_poll_adaptive(
        now, interval, bounds, ttl_s=parsed.ttl_s if parsed else None,
        update_period_s=parsed.update_period_s if parsed else None,
        max_age_s=decide.cache_max_age_s(result.headers.get("cache-control")), retry_after_s=result.retry_after_s)
    return {"poll_interval_s": int(interval.total_seconds()), "next_poll_at": at}


def _plan(ctx: PollContext, source_id: int, now: Any) -> tuple[list[WorkItem], int]:
    """Due entries -> pages to fetch; entries whose link is already archived become sightings now;
    archived articles due for a re-check are fetched again (conditionally)."""
    due: list[tuple[int, str, str]] = []
    bad: list[int] = []
    for entry_id, link, status, next_at in entry_rows.open_entries(ctx.engine, source_id):
        if not decide.is_due(status, next_at, now):
            continue
        try:
            due.append((entry_id, link, canonicalize(link)))
        except ValueError:
            bad.append(entry_id)
    known = entry_rows.known_articles(ctx.engine, (c for _, _, c in due))
    plan = decide.plan_entries(due, known)

    def due_rechecks() -> list[revisions.Recheck]:
        with write_session(ctx.engine) as s:  # archived articles due for a revision re-check are fetched again
            return list(revisions.due_rechecks(s, source_id, now))

    rechecks = retry_lost_races(due_rechecks)

    def write() -> None:
        with write_session(ctx.engine) as s:
            entry_rows.settle_without_fetch(s, plan.link_known, bad, now=now)

    if plan.link_known or bad:
        retry_lost_races(write)  # these entry rows may be locked by a concurrent run's page writes
    groups: dict[str, list[tuple[int, str]]] = {}
    for entry_id, link, canonical in plan.to_fetch:
        groups.setdefault(canonical, []).append((entry_id, link))
    work = [WorkItem(tuple(e for e, _ in members), members[0][1], canonical)
            for canonical, members in groups.items()]
    for r in rechecks:
        with contextlib.suppress(ValueError):  # links of archived entries were canonicalised before
            if (canonical := canonicalize(r.link)) not in groups:
                work.append(WorkItem(r.entry_ids, r.link, canonical, r.article_id, r.etag, r.last_modified))
    return work, len(plan.link_known)


# --- batch stage ----------------------------------------------------------------------------------

def process_batch(ctx: PollContext, source_id: int, items: Sequence[WorkItem]) -> list[archive.StoredItem]:
    """Fetch, extract and store one batch of pages. Never raises for the batch's sake: an unexpected
    error fails the batch's unresolved entries with kind ``internal`` and a retry time, and lands on the
    source's row (what was stored before it stays stored)."""
    if not items:
        return []
    stored: list[archive.StoredItem] = []
    try:
        _process_batch(ctx, source_id, items, stored)
    except Exception as exc:  # an unexpected exception is a failure too, recorded where operators look
        if ctx.stopping.is_set():
            return stored  # the run is being stopped and its pools closed: what is left stays pending
        detail = record_internal_failure(ctx, source_id, exc, "page stage")
        done = {item.url for item in stored}
        lost = [item for item in items if item.link not in done]
        archive.fail_entries(ctx.engine, [e for item in lost if item.recheck_of is None for e in item.entry_ids],
                             kind=ErrorKind.INTERNAL.value, detail=detail, now=ctx.now(),
                             next_attempt=decide.next_item_attempt)
        stored += [archive.StoredItem("failed", item.recheck_of, ErrorKind.INTERNAL.value, item.link) for item in lost]
    return stored


def _process_batch(ctx: PollContext, source_id: int, items: Sequence[WorkItem],
                   stored: list[archive.StoredItem]) -> None:
    """As a stream: each page goes to the extractor processes as soon as it is fetched (in small
    chunks), and each extracted chunk is stored as soon as it comes back, while the other pages are
    still being fetched: fetching, extraction and storing overlap, and a run that is killed or stopped
    half way has committed what it extracted. Results are appended to ``stored`` as they are committed."""
    fetching = {ctx.threads.submit(_fetch_unless_stopping, ctx, item): item for item in items}
    extracting: set[Future[tuple[list[tuple[WorkItem, FetchResult]], list[ExtractResult]]]] = set()
    direct: list[archive.PageOutcome] = []  # failed fetches and 304s: nothing to extract
    chunk: list[tuple[WorkItem, FetchResult]] = []
    while fetching or extracting:
        done, _ = wait([*fetching, *extracting], return_when=FIRST_COMPLETED)
        for future in done:
            if future in extracting:
                extracting.discard(future)  # type: ignore[arg-type]
                fetched, results = future.result()
                stored += _store(ctx, source_id, [
                    archive.PageOutcome(item.entry_ids, item.link, fetch, extraction, item.recheck_of)
                    for (item, fetch), extraction in zip(fetched, results, strict=True)])
                continue
            item, result = fetching.pop(future), future.result()  # type: ignore[call-overload]
            if result is None:
                continue  # the run is stopping: left pending for the next run
            if not result.ok or result.not_modified:
                direct.append(archive.PageOutcome(item.entry_ids, item.link, result, None, item.recheck_of))
            else:
                chunk.append((item, result))
        if len(chunk) >= EXTRACT_CHUNK or (chunk and not fetching):
            extracting.add(ctx.handoffs.submit(_extract, ctx, chunk))
            chunk = []
        if direct and (len(direct) >= EXTRACT_CHUNK or not fetching):
            stored += _store(ctx, source_id, direct)
            direct = []


def _fetch_unless_stopping(ctx: PollContext, item: WorkItem) -> FetchResult | None:
    if ctx.stopping.is_set():
        return None
    try:
        return ctx.fetcher.fetch_page(item.link, etag=item.etag, last_modified=item.last_modified)
    except FetchCancelled:
        return None


def _extract(ctx: PollContext, fetched: list[tuple[WorkItem, FetchResult]]
             ) -> tuple[list[tuple[WorkItem, FetchResult]], list[ExtractResult]]:
    pages = [PageInput(url=r.final_url or item.link, body=r.body, content_type=r.content_type, status=r.status)
             for item, r in fetched]
    return fetched, ctx.extractor.extract_many(pages, precompute=ctx.precompute)


def _store(ctx: PollContext, source_id: int, outcomes: list[archive.PageOutcome]) -> list[archive.StoredItem]:
    robots = ctx.fetcher.take_robots_fetches()
    if not outcomes and not robots:
        return []
    # store_outcomes re-runs a transaction that lost a race with a concurrent run (store/retry.py)
    return archive.store_outcomes(ctx.engine, outcomes, run_id=ctx.run_id, source_id=source_id,
                                  next_attempt=decide.next_item_attempt, robots=robots, enricher=ctx.enricher,
                                  now=ctx.now())


def poll_source(ctx: PollContext, source: SourceConfig,
                on_batch: Callable[[SourceReport], None] | None = None, *, fetch_feed: bool = True) -> SourceReport:
    """The whole poll of one source, sequentially (the Prefect flow maps the same stages onto tasks).
    Never raises for the source's sake (see :func:`poll_feed` and :func:`process_batch`)."""
    stage = poll_feed(ctx, source, fetch_feed=fetch_feed)
    for batch in stage.batches():
        stage.report.add(process_batch(ctx, stage.source_id, batch))
        if on_batch:
            on_batch(stage.report)
    return stage.report


def run_summary(reports: Sequence[SourceReport], run_id: int | None,
                config_errors: Sequence[str] = ()) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for r in reports:
        totals.update({k: r.counts.get(k, 0) for k in COUNTED})
        totals["dropped"] += r.dropped
        failures.update(r.failures)
    return {"run_id": run_id, "sources": [r.as_dict() for r in reports],
            "totals": dict(totals) | {"sources_failed": sum(r.feed_status == "failed" for r in reports),
                                      "sources_skipped": sum(r.feed_status == "skipped" for r in reports)},
            "failures": dict(sorted(failures.items())), "config_errors": list(config_errors)}
