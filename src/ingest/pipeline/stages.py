"""Poll sources, as one readable story with no Prefect in it.

    feed stage   for a batch of sources: read their fetch states (one read) -> fetch the feeds (conditional
                 GET + body hash, in parallel) -> parse -> store every feed's fetch, entries and the
                 source's new fetch state in ONE transaction -> plan the due entries of the sources that
                 have any (one read says which)
    page stage   fetch pages (threads, per-host politeness) -> extract (worker processes)
                 -> canonicalise, dedup and store (one transaction, a savepoint per item): pages.py

The entries table is the durable work queue: an entry is ``pending`` from the moment its feed state is
committed until its page is stored, so a crash anywhere in between is finished by the next run, and a
re-run over the same input finds nothing to do. Failures are values: a bad feed or page becomes a
counted, recorded outcome and never stops the other sources.

Batches because most polls change nothing: a re-poll of an unchanged feed is a 304 (or the same bytes)
and two row writes, and per source the transactions, reads and task runs around them cost many times
the request (1,000 unchanged feeds took 23 ms each, now about 2 ms: bench/repoll.py).
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError

from ingest import decide
from ingest.config import Config, SourceConfig
from ingest.errors import ErrorKind, FeedParseError
from ingest.feeds.parse import ParsedFeed, parse_feed
from ingest.fetch.client import FetchCancelled, FetchResult, host_of
from ingest.pipeline.context import (  # noqa: F401  (the stages' public names, as before the split)
    BATCH_SIZE,
    EXTRACT_CHUNK,
    SOURCE_BATCH,
    FeedStage,
    PollContext,
    SourceReport,
    WorkItem,
    describe,
    log,
    record_internal_failure,
)
from ingest.pipeline.pages import process_batch
from ingest.pipeline.results import COUNTED
from ingest.store import archive, revisions
from ingest.store import entries as entry_rows
from ingest.store import sources as source_rows
from ingest.store.db import read_session, write_session
from ingest.store.retry import is_lost_race, retry_lost_races
from ingest.urls import canonicalize

# --- feed stage -----------------------------------------------------------------------------------


@dataclass
class _Feed:
    """One source's feed, fetched and judged, waiting for the batch's write."""

    source: SourceConfig
    source_id: int
    state: source_rows.FeedState
    result: FetchResult
    now: datetime
    report: SourceReport
    parsed: ParsedFeed | None = None
    error: tuple[str, str] | None = None
    warnings: list[str] = field(default_factory=list)
    lied: bool = False

    @property
    def body_sha(self) -> str | None:
        return self.result.records[-1].sha256 if self.result.records else None


def poll_feed(ctx: PollContext, source: SourceConfig, *, fetch_feed: bool = True) -> FeedStage:
    """Fetch and parse one feed, store its entries with the source's new fetch state, plan the pages.
    ``fetch_feed`` False: the feed is not due, only the source's due page work is planned (pending
    entries, due retries and re-checks: ingest/scheduling.py). Never raises for the source's sake: an
    unexpected error is recorded on the source and returned as a failed stage (the run goes on with the
    other sources)."""
    return poll_feeds(ctx, [(source, fetch_feed)])[0]


def poll_feeds(ctx: PollContext, sources: Sequence[tuple[SourceConfig, bool]]) -> list[FeedStage]:
    """:func:`poll_feed` for a batch of ``(source, fetch_feed)``, in their order: one read of their fetch
    states, the feeds fetched in parallel (on the run's fetch threads), one write transaction for all of
    them (run again feed by feed if the database refuses something), and a plan only for the sources that
    have page work (new entries, or due retries, re-checks and pending entries: one read says which)."""
    ctx.register([src for src, _ in sources])
    ids = {src.name: ctx.source_ids[src.name] for src, _ in sources}
    stages: dict[str, FeedStage] = {}
    feeds: list[_Feed] = []
    cancelled = False
    fetching = [src for src, fetch in sources if fetch]
    try:
        states = source_rows.feed_states(ctx.engine, [ids[src.name] for src in fetching])
        ctx.slots.prepare(host_of(src.feed) for src in fetching)  # the batch's hosts, leased together
        futures = [(src, ctx.threads.submit(_fetch, ctx, src, ids[src.name], states[ids[src.name]]))
                   for src in fetching]
    except Exception as exc:
        if ctx.stopping.is_set():
            raise
        for src in fetching:
            stages[src.name] = _failed(ctx, src, ids[src.name], exc, "feed stage")
        futures = []
    for src, future in futures:
        try:
            feeds.append(future.result())
        except FetchCancelled:
            cancelled = True  # the run is stopping: this feed was not fetched; the others are stored
        except Exception as exc:  # an unexpected exception is a failure too, recorded where operators look
            if ctx.stopping.is_set():
                raise
            stages[src.name] = _failed(ctx, src, ids[src.name], exc, "feed stage")
    for feed, written in _write_feeds(ctx, feeds):
        if isinstance(written, Exception):
            stages[feed.source.name] = _failed(ctx, feed.source, feed.source_id, written, "feed stage")
            continue
        report = feed.report
        report.new_entries = written.new
        report.dropped += len(written.rejected)
        report.feed_warning = _warning(feed.warnings, written.rejected)
        if written.unusable:  # new entries without a usable link are failed items from the start
            report.counts["failed"] += written.unusable
            report.failures[ErrorKind.UNSUPPORTED_URL.value] += written.unusable
        stages[feed.source.name] = FeedStage(report, feed.source_id, [])
    for src, fetch in sources:
        if not fetch:
            stages[src.name] = FeedStage(SourceReport(src.name, feed_status="not_due"), ids[src.name], [])
    _plan_all(ctx, [(src, stages[src.name], fetch) for src, fetch in sources if src.name in stages],
              {feed.source.name for feed in feeds if feed.parsed is not None})
    if cancelled:
        raise FetchCancelled("the run is stopping")
    return [stages[src.name] for src, _ in sources if src.name in stages]


def _failed(ctx: PollContext, source: SourceConfig, source_id: int, exc: Exception, stage: str) -> FeedStage:
    detail = record_internal_failure(ctx, source_id, exc, stage)
    report = SourceReport(source.name, feed_status="failed", error_kind=ErrorKind.INTERNAL.value, error_detail=detail)
    return FeedStage(report, source_id, [])


def _fetch(ctx: PollContext, source: SourceConfig, source_id: int, state: source_rows.FeedState) -> _Feed:
    """Fetch one feed (conditionally, when its validators are trusted) and judge the answer."""
    send = decide.send_validators(has_validators=bool(state.etag or state.last_modified),
                                  last_body_at=state.last_body_at, unreliable_since=state.validators_unreliable_since,
                                  now=ctx.now())
    result = ctx.fetcher.fetch_feed(source.feed, etag=state.etag if send else None,
                                    last_modified=state.last_modified if send else None)
    feed = _Feed(source, source_id, state, result, ctx.now(), SourceReport(source.name))
    report = feed.report
    feed.lied = result.ok and not result.not_modified and state.validators_unreliable_since is None and \
        decide.validators_lied(stored_etag=state.etag, stored_last_modified=state.last_modified,
                               new_etag=result.headers.get("etag"), new_last_modified=result.headers.get("last-modified"),
                               stored_sha=state.body_sha256, new_sha=feed.body_sha)
    if feed.lied:
        feed.warnings.append("the server's ETag/Last-Modified do not change with the feed: fetched without them "
                             "from now on")
    if result.moved_to:
        feed.warnings.append(f"the feed moved permanently to {result.moved_to}: update feed: in the config")
    if not result.ok:
        err = result.error
        feed.error = ((err.kind.value, err.detail or str(err)) if err else (ErrorKind.INTERNAL.value, "no result"))
    elif result.not_modified or (feed.body_sha is not None and feed.body_sha == state.body_sha256):
        report.feed_status = "not_modified" if result.not_modified else "unchanged"
    else:
        try:
            feed.parsed = parse_feed(result.body, result.headers, result.final_url or source.feed)
        except FeedParseError as exc:
            feed.error = (ErrorKind.PARSE_ERROR.value, exc.detail)
    if feed.error is not None:
        report.feed_status, (report.error_kind, report.error_detail) = "failed", feed.error
    if feed.parsed is not None:
        report.entries_in_feed = len(feed.parsed.entries)
        report.dropped = feed.parsed.dropped
        if feed.parsed.warning:
            feed.warnings.insert(0, feed.parsed.warning)
    return feed


def _write_feed(ctx: PollContext, s: Any, feed: _Feed, isolate: bool,
                updates: list[tuple[int, dict[str, Any]]] | None = None) -> archive.EntriesWritten:
    """The feed's fetch, its entries and the source's new state, in the caller's transaction (which is
    run again whole if it lost a race with a concurrent run: store/retry.py), so it must not touch
    ``feed.report``. With ``updates``, the source row's update is added there (the caller applies the
    batch's updates together, in the same transaction)."""
    report, result, parsed, now = feed.report, feed.result, feed.parsed, feed.now
    fetch_id = archive.record_fetch(s, result, kind="feed", run_id=ctx.run_id, source_id=feed.source_id,
                                    keep_body=report.feed_status == "ok", now=now)
    written = archive.EntriesWritten(0, 0)
    cursor = None
    if parsed is not None:
        written = archive.upsert_entries(
            s, source_id=feed.source_id, feed_url=feed.source.feed, feed_fetch_id=fetch_id, entries=parsed.entries,
            run_id=ctx.run_id, now=now, isolate=isolate)
        cursor = {"etag": result.headers.get("etag"), "last_modified": result.headers.get("last-modified"),
                  "body_sha256": feed.body_sha, "feed_title": parsed.title}
    state = feed.state
    values = decide.source_after_poll(
        now=now, error=feed.error, feed_status=report.feed_status, error_count=state.error_count,
        failing_since=state.failing_since, retry_after_s=result.retry_after_s, rng=ctx.rng,
        got_body=result.ok and not result.not_modified, lied=feed.lied, cursor=cursor, new_items=written.new,
        warning=_warning(feed.warnings, written.rejected),
        next_poll=None if feed.error is not None else _next_poll(
            ctx.config, now, state.poll_interval_s, written.new, parsed, result))
    if updates is None:
        source_rows.update_source(s, feed.source_id, values)
    else:
        updates.append((feed.source_id, values))
    return written


def _write_feeds(ctx: PollContext, feeds: Sequence[_Feed]
                 ) -> list[tuple[_Feed, archive.EntriesWritten | Exception]]:
    """Every feed of the batch in one transaction; if the database refuses something (one bad value), feed
    by feed, each entry in a savepoint of its own as the last resort, so one value loses nothing else."""
    if not feeds:
        return []

    def batch() -> list[archive.EntriesWritten]:
        with write_session(ctx.engine) as s:
            updates: list[tuple[int, dict[str, Any]]] = []
            written = [_write_feed(ctx, s, feed, False, updates) for feed in feeds]
            source_rows.update_sources(s, updates)
            return written

    try:
        return list(zip(feeds, retry_lost_races(batch), strict=True))
    except Exception as exc:  # noqa: BLE001 - each feed alone, below, says which one failed and why
        if is_lost_race(exc) or len(feeds) == 1 and not isinstance(exc, DBAPIError):
            return [(feed, exc) for feed in feeds]
    out: list[tuple[_Feed, archive.EntriesWritten | Exception]] = []
    for feed in feeds:
        def one(isolate: bool, feed: _Feed = feed) -> archive.EntriesWritten:
            with write_session(ctx.engine) as s:
                return _write_feed(ctx, s, feed, isolate)

        try:
            try:
                out.append((feed, retry_lost_races(lambda: one(False))))
            except DBAPIError as exc:
                if is_lost_race(exc):
                    raise
                out.append((feed, retry_lost_races(lambda: one(True))))
        except Exception as exc:  # noqa: BLE001 - recorded on the source's row by the caller
            out.append((feed, exc))
    return out


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


def _plan_all(ctx: PollContext, stages: Sequence[tuple[SourceConfig, FeedStage, bool]], parsed: set[str]) -> None:
    """Plan the page work of the batch's sources that have any: those whose feed was parsed (new or
    relisted entries), those polled for their page work only, and those one read finds with due work
    (pending entries, due retries, due or relisted re-checks). An unchanged feed with nothing due costs
    no more than its share of that read."""
    now = ctx.now()
    # a feed that failed still does its due page work (its pages may well answer): as before batching
    candidates = [stage.source_id for src, stage, fetch in stages if fetch and src.name not in parsed]
    try:
        busy = source_rows.sources_with_due_work(ctx.engine, candidates, now, relisted=True) if candidates else set()
    except Exception:  # noqa: BLE001 - then plan each of them, as before the batch read
        busy = set(candidates)
    for src, stage, fetch in stages:
        if stage.report.feed_status == "failed" and stage.report.error_kind == ErrorKind.INTERNAL.value:
            continue  # recorded already; its work waits for the next run
        if fetch and src.name not in parsed and stage.source_id not in busy:
            continue
        try:
            stage.work, sighted = _plan(ctx, stage.source_id, now)
        except Exception as exc:  # an unexpected exception is a failure too, recorded where operators look
            if ctx.stopping.is_set():
                raise
            failed = _failed(ctx, src, stage.source_id, exc, "feed stage")
            stage.report, stage.work = failed.report, []
            continue
        stage.report.counts["known"] += sighted  # new to this source, already archived: not "unchanged"


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
        with read_session(ctx.engine) as s:  # most polls find none: no write lock for them
            if not revisions.due_recheck_ids(s, source_id, now):
                return []
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


# --- whole sources --------------------------------------------------------------------------------

def batch_size(n: int, workers: int, most: int = SOURCE_BATCH) -> int:
    """Sources per batch for ``n`` sources on ``workers`` threads or task runs: at most ``most``, and small
    enough that every worker gets a batch (a run of 7 sources on 4 threads still polls 4 at once)."""
    return max(1, min(most, math.ceil(n / max(1, workers))))


def poll_sources(ctx: PollContext, sources: Sequence[tuple[SourceConfig, bool]],
                 on_batch: Callable[[SourceReport], None] | None = None) -> list[SourceReport]:
    """The whole poll of a batch of ``(source, fetch_feed)``: the feed stage together
    (:func:`poll_feeds`), then each source's pages. Never raises for a source's sake."""
    stages = poll_feeds(ctx, sources)
    for stage in stages:
        for batch in stage.batches():
            stage.report.add(process_batch(ctx, stage.source_id, batch))
            if on_batch:
                on_batch(stage.report)
    return [stage.report for stage in stages]


def poll_source(ctx: PollContext, source: SourceConfig,
                on_batch: Callable[[SourceReport], None] | None = None, *, fetch_feed: bool = True) -> SourceReport:
    """The whole poll of one source, sequentially (the Prefect flow maps the same stages onto tasks).
    Never raises for the source's sake (see :func:`poll_feed` and :func:`process_batch`)."""
    return poll_sources(ctx, [(source, fetch_feed)], on_batch)[0]


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
