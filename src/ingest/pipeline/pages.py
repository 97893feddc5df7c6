"""The page stage: fetch pages (threads, per-host politeness), extract them (worker processes), then
canonicalise, dedup and store them (one transaction per chunk, a savepoint per item), as a stream.
A page several sources of one run list is fetched and extracted once (:func:`process_batch`)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait

from ingest import decide
from ingest.errors import ErrorKind
from ingest.extract.pages import ExtractResult, PageInput
from ingest.fetch.client import FetchCancelled, FetchResult, host_of
from ingest.pipeline.context import (
    EXTRACT_CHUNK,
    PAGES_IN_HAND,
    PollContext,
    WorkItem,
    record_internal_failure,
)
from ingest.store import archive
from ingest.store import entries as entry_rows
from ingest.store.db import write_session
from ingest.store.retry import retry_lost_races


def process_batch(ctx: PollContext, source_id: int, items: Sequence[WorkItem]) -> list[archive.StoredItem]:
    """Fetch, extract and store one batch of pages. Never raises for the batch's sake: an unexpected
    error fails the batch's unresolved entries with kind ``internal`` and a retry time, and lands on the
    source's row (what was stored before it stays stored).

    One fetch per page per run: a page another batch of this run (another source) already fetches is not
    fetched again; once that batch has stored it, this source's entries become sightings of its article
    (``known``), or fail with its error kind (:class:`~ingest.pipeline.context.RunPages`)."""
    if not items:
        return []
    leading: list[WorkItem] = []
    following: list[tuple[WorkItem, Future[archive.StoredItem | None]]] = []
    for item in items:
        leader = ctx.pages.claim(item.canonical) if item.recheck_of is None else None
        if leader is None:
            leading.append(item)
        else:
            following.append((item, leader))
    stored: list[archive.StoredItem] = []
    try:
        _lead(ctx, source_id, leading, stored)
    finally:  # always, or the followers would wait for ever
        outcomes = {s.url: s for s in stored}
        for item in leading:
            if item.recheck_of is None:
                ctx.pages.resolve(item.canonical, outcomes.get(item.link))
    if following:
        stored += _follow(ctx, source_id, following)
    return stored


def _lead(ctx: PollContext, source_id: int, items: Sequence[WorkItem], stored: list[archive.StoredItem]) -> None:
    if not items:
        return
    if any(item.recheck_of is None for item in items):  # re-checks mostly answer 304: lazily, if at all
        ctx.extractor.start()  # warms on a thread of its own while the pages are fetched (a no-op once started)
    try:
        _process_batch(ctx, source_id, items, stored)
    except Exception as exc:  # an unexpected exception is a failure too, recorded where operators look
        if ctx.stopping.is_set():
            return  # the run is being stopped and its pools closed: what is left stays pending
        detail = record_internal_failure(ctx, source_id, exc, "page stage")
        done = {item.url for item in stored}
        lost = [item for item in items if item.link not in done]
        archive.fail_entries(ctx.engine, [e for item in lost if item.recheck_of is None for e in item.entry_ids],
                             kind=ErrorKind.INTERNAL.value, detail=detail, now=ctx.now(),
                             next_attempt=decide.next_item_attempt)
        stored += [archive.StoredItem("failed", item.recheck_of, ErrorKind.INTERNAL.value, item.link) for item in lost]


def _follow(ctx: PollContext, source_id: int, following: Sequence[tuple[WorkItem, Future[archive.StoredItem | None]]]
            ) -> list[archive.StoredItem]:
    """This source's entries of pages another batch of the run fetched: sightings of the article it
    stored, or failures of the same kind (retried on the same schedule); left pending when it stored
    nothing (the run is stopping)."""
    known: list[tuple[WorkItem, int]] = []
    failed: dict[str, list[WorkItem]] = {}
    out: list[archive.StoredItem] = []
    for item, leader in following:
        outcome = leader.result()
        if outcome is None:
            continue
        if outcome.article_id is not None and outcome.status != "failed":
            known.append((item, outcome.article_id))
        else:
            failed.setdefault(outcome.error_kind or ErrorKind.INTERNAL.value, []).append(item)
    now = ctx.now()
    if known:
        def write() -> None:
            with write_session(ctx.engine) as s:
                entry_rows.settle_without_fetch(s, [(e, aid) for item, aid in known for e in item.entry_ids], (),
                                                now=now)

        retry_lost_races(write)
        out += [archive.StoredItem("known", aid, None, item.link) for item, aid in known]
    for kind, items in failed.items():
        archive.fail_entries(ctx.engine, [e for item in items for e in item.entry_ids], kind=kind, now=now,
                             detail=f"{kind}: the page, listed by another source too, was fetched once in this run",
                             next_attempt=decide.next_item_attempt)
        out += [archive.StoredItem("failed", None, kind, item.link) for item in items]
    return out


def _process_batch(ctx: PollContext, source_id: int, items: Sequence[WorkItem],
                   stored: list[archive.StoredItem]) -> None:
    """As a stream: each page goes to the extractor processes as soon as it is fetched (in small
    chunks), and each extracted chunk is stored as soon as it comes back, while the other pages are
    still being fetched: fetching, extraction and storing overlap, and a run that is killed or stopped
    half way has committed what it extracted. Results are appended to ``stored`` as they are committed."""
    ctx.slots.prepare(host_of(item.link) for item in items)  # the batch's hosts, leased together
    waiting = list(reversed(items))  # popped from the end: in the batch's order
    fetching: dict[Future[FetchResult | None], WorkItem] = {}
    extracting: dict[Future[tuple[list[tuple[WorkItem, FetchResult]], list[ExtractResult]]], int] = {}
    direct: list[archive.PageOutcome] = []  # failed fetches and 304s: nothing to extract
    chunk: list[tuple[WorkItem, FetchResult]] = []

    def top_up() -> None:
        # At most PAGES_IN_HAND pages fetching, fetched or being extracted: a page's body is held from its
        # fetch until its chunk is stored, and fetching (fast) ran ahead of extraction (~40 ms a page a
        # core) by the whole batch, 100 bodies of ~0.3 MB (and 2 MB for a live blog) at once.
        held = len(fetching) + len(chunk) + sum(extracting.values())
        while waiting and held < PAGES_IN_HAND:
            item = waiting.pop()
            fetching[ctx.threads.submit(_fetch_unless_stopping, ctx, item)] = item
            held += 1

    top_up()
    while fetching or extracting:
        done, _ = wait([*fetching, *extracting], return_when=FIRST_COMPLETED)
        for future in done:
            if future in extracting:
                del extracting[future]  # type: ignore[arg-type]
                fetched, results = future.result()
                stored += _store(ctx, source_id, [
                    archive.PageOutcome(item.entry_ids, item.link, fetch, extraction, item.recheck_of)
                    for (item, fetch), extraction in zip(fetched, results, strict=True)])
                continue
            item, result = fetching.pop(future), future.result()  # type: ignore[call-overload]
            if result is None:
                waiting.clear()  # the run is stopping: left pending for the next run, as the rest are
                continue
            if not result.ok or result.not_modified:
                direct.append(archive.PageOutcome(item.entry_ids, item.link, result, None, item.recheck_of))
            else:
                chunk.append((item, result))
        if len(chunk) >= EXTRACT_CHUNK or (chunk and not fetching and not waiting):
            extracting[ctx.handoffs.submit(_extract, ctx, chunk)] = len(chunk)
            chunk = []
        if direct and (len(direct) >= EXTRACT_CHUNK or (not fetching and not waiting)):
            stored += _store(ctx, source_id, direct)
            direct = []
        top_up()
        if chunk and not fetching and not extracting:  # room for no more fetches until this chunk goes
            extracting[ctx.handoffs.submit(_extract, ctx, chunk)] = len(chunk)
            chunk = []


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
