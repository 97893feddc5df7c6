"""Backfills from the archives others keep: WARC files (``--via warc:PATH``), Common Crawl News
(``--via ccnews``) and the Wayback Machine (``--via wayback``).

Each reads *units* (a WARC file; a CDX page), keeps the source's site's HTML pages dated within
``[since, until)``, and puts them in batches through the same extract, dedup and store steps as polls,
with the archived bytes in place of a fetch of the live page. Every page becomes an
entry of the source keyed ``backfill:<canonical URL>``, as in any backfill, so a re-run adds nothing and
a page already archived is a sighting. A checkpoint per unit (``backfill_checkpoints``; via
``warc:<file>``, ``ccnews:<path>``, ``wayback:<host>:<resume key>``) makes a killed backfill resume at
its first unfinished unit; a unit that failed (a broken download, a CDX error) is left open for a re-run.
Each page's fetch row keeps where its bytes came from (``store/captures.py``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest import decide
from ingest.config import SourceConfig
from ingest.errors import ErrorKind
from ingest.extract.pages import PageInput
from ingest.feeds.parse import FeedEntry
from ingest.fetch.client import Fetcher, FetchRecord, FetchResult
from ingest.fetch.stream import StreamError, StreamFetcher, stream_record
from ingest.interop import ccnews, wayback
from ingest.interop.captures import Capture, SiteMatcher, as_fetch_result
from ingest.interop.warc_in import WarcFormatError, read_warc, warc_files
from ingest.pipeline.stages import BATCH_SIZE, PollContext, SourceReport
from ingest.store import archive, checkpoints, leases
from ingest.store import captures as capture_rows
from ingest.store import entries as entry_rows
from ingest.store.db import write_session
from ingest.store.hostslots import LEASE_MARGIN, HostSlots
from ingest.store.retry import retry_lost_races
from ingest.urls import canonicalize

ARCHIVE_VIAS = ("warc", "ccnews", "wayback")
COUNTS = ("new", "updated", "duplicate", "unchanged", "failed")
RETRYABLE = frozenset(k.value for k in (ErrorKind.TIMEOUT, ErrorKind.CONNECTION, ErrorKind.REFUSED,
                                        ErrorKind.TRUNCATED, ErrorKind.HTTP_5XX, ErrorKind.RATE_LIMITED))


@dataclass(frozen=True, slots=True)
class Pending:
    """A page to archive: its URL, where it was found, and how to get its bytes (in hand for a WARC
    record; one request for a Wayback capture)."""

    url: str
    found_in: str
    get: Callable[[], FetchResult]
    provenance: dict[str, Any]


@dataclass
class UnitReport:
    unit: str
    status: str  # done | open (failed or with retryable failures: a re-run does it again)
    records: int = 0  # read from the unit
    kept: int = 0  # the source's HTML pages in the range
    counts: Counter[str] = field(default_factory=Counter)

    def row(self) -> dict[str, Any]:
        return {"window": self.unit, "urls": self.kept, "records": self.records,
                **{k: self.counts.get(k, 0) for k in COUNTS}}


class ArchiveBackfill:
    """One backfill of one source from an archive; see the module docstring."""

    def __init__(self, ctx: PollContext, source: SourceConfig, source_id: int, since: datetime, until: datetime,
                 on_unit: Callable[[UnitReport], None] | None = None,
                 on_plan: Callable[[int], None] | None = None) -> None:
        self.ctx, self.source, self.source_id, self.since, self.until = ctx, source, source_id, since, until
        self.site = SiteMatcher(source)
        self.on_unit = on_unit
        self.on_plan = on_plan  # hears how many units there are (0: not known in advance, CDX pages)
        self.problems: list[str] = []
        self.reports: list[UnitReport] = []
        self.units_total = 0

    # --- units --------------------------------------------------------------------------------------

    def _planned(self, units: int) -> None:
        if self.on_plan:
            self.on_plan(units)

    def _done(self, via: str) -> bool:
        """Whether the unit is done (its checkpoint is created when it has none)."""
        span = (self.since, self.until)
        return span in checkpoints.open_spans(self.ctx.engine, self.source_id, via, [span], self.ctx.now())

    def _finish(self, via: str, report: UnitReport, extra: dict[str, Any] | None = None) -> None:
        self.reports.append(report)
        if report.status == "done":
            checkpoints.finish_span(self.ctx.engine, self.source_id, via, (self.since, self.until), report.kept,
                                    {**report.row(), **(extra or {})}, self.ctx.run_id, self.ctx.now())
        if self.on_unit:
            self.on_unit(report)

    def _skip(self, label: str) -> None:
        if self.on_unit:
            self.on_unit(UnitReport(label, "already done"))

    def run_captures(self, label: str, captures: Iterator[Capture]) -> UnitReport:
        report = UnitReport(label, "done")
        batch: list[Pending] = []
        for c in captures:
            if self.ctx.stopping.is_set():
                report.status = "open"
                break
            batch.append(Pending(c.url, c.found_in, _in_hand(c), c.provenance()))
            if len(batch) >= BATCH_SIZE:
                self.archive_batch(batch, report)
                batch = []
        if batch:
            self.archive_batch(batch, report)
        return report

    # --- one batch: extract, dedup, store -------------------------------------------------------------

    def archive_batch(self, pages: Iterable[Pending], report: UnitReport) -> None:
        ctx, now = self.ctx, self.ctx.now()
        by_key: dict[str, tuple[str, Pending]] = {}
        for p in pages:
            report.kept += 1
            try:
                canonical = canonicalize(p.url)
            except ValueError:
                report.counts["failed"] += 1
                continue
            by_key.setdefault(f"backfill:{canonical}", (canonical, p))  # a URL twice: the first capture

        def upsert() -> None:
            with write_session(ctx.engine) as s:
                for key, (_, p) in by_key.items():
                    archive.upsert_entries(s, source_id=self.source_id, feed_url=p.found_in, feed_fetch_id=None,
                                           entries=[FeedEntry(key, None, p.url, None, None, None, (), None, None, ())],
                                           run_id=ctx.run_id, now=now)

        retry_lost_races(upsert)
        rows = entry_rows.entries_by_keys(ctx.engine, self.source_id, list(by_key))
        due = [(eid, link, canonicalize(link)) for eid, link, status, at in rows
               if link and decide.is_due(status, at, now)]
        plan = decide.plan_entries(due, entry_rows.known_articles(ctx.engine, (c for _, _, c in due)))
        if plan.link_known:
            def settle() -> None:
                with write_session(ctx.engine) as s:
                    entry_rows.settle_without_fetch(s, plan.link_known, (), now=now)

            retry_lost_races(settle)
            report.counts["unchanged"] += len(plan.link_known)  # archived already: a sighting
        by_canonical = {canonical: p for canonical, p in by_key.values()}
        fetched: list[tuple[int, str, str, FetchResult]] = []
        order = {canonical: i for i, (canonical, _) in enumerate(by_key.values())}  # as read (rows come by key)
        for eid, link, canonical in sorted(plan.to_fetch, key=lambda t: order.get(t[2], len(order))):
            if ctx.stopping.is_set():  # the run is being stopped: the rest stays pending, the unit open
                report.status = "open"
                break
            fetched.append((eid, link, canonical, by_canonical[canonical].get()))
        # Extracted in parallel (the extractor processes) but stored in the order read, in one
        # transaction: of two copies of one text, the first in the archive read becomes the article, as
        # it did in the archive that wrote it (a WARC exported by ingest imports to the same articles).
        ok = [r for *_, r in fetched if r.ok and not r.not_modified]
        extracted = iter(ctx.extractor.extract_many(
            [PageInput(url=r.final_url or r.url, body=r.body, content_type=r.content_type, status=r.status) for r in ok],
            precompute=ctx.precompute))
        outcomes = [archive.PageOutcome((eid,), link, r, next(extracted) if r.ok and not r.not_modified else None)
                    for eid, link, _, r in fetched]
        stored = SourceReport(self.source.name)
        stored.add(archive.store_outcomes(ctx.engine, outcomes, run_id=ctx.run_id, source_id=self.source_id,
                                          next_attempt=decide.next_item_attempt, enricher=ctx.enricher,
                                          now=ctx.now()))
        for k in COUNTS:
            report.counts[k] += stored.counts.get(k, 0)
        report.counts["unchanged"] += stored.counts.get("known", 0)
        if any(kind in RETRYABLE for kind in stored.failures):
            report.status = "open"  # a capture to fetch again: the unit is not done
        capture_rows.record_provenance(ctx.engine, self.source_id, [
            capture_rows.Provenance(f"backfill:{canonical}", r.records[-1].started_at, **by_canonical[canonical].provenance)
            for _, _, canonical, r in fetched if r.records])

    # --- the three archives -----------------------------------------------------------------------------

    def from_files(self, spec: str) -> None:
        files = warc_files(spec)
        self.units_total = len(files)
        self._planned(len(files))
        for path in files:
            via = f"warc:{path}"
            if self._done(via):
                self._skip(path)
                continue
            counts: Counter[str] = Counter()
            try:
                with open(path, "rb") as fh:
                    report = self.run_captures(path, read_warc(
                        fh, path, keep_url=self.site, since=self.since, until=self.until,
                        max_bytes=self.ctx.config.fetch.max_bytes, counts=counts))
            except (OSError, WarcFormatError) as exc:
                self.problems.append(f"{path}: {exc}")
                report = UnitReport(path, "open")
            report.records = counts["records"]
            self._finish(via, report)

    def from_ccnews(self) -> None:
        base = self.ctx.config.backfill.ccnews_url
        paths: list[str] = []
        for year, month in ccnews.months(self.since, self.until):
            url = ccnews.paths_listing(base, year, month)
            result = self.ctx.fetcher.fetch(url, kind="other")
            self._record(result, "listing")
            if not result.ok:
                if result.status == 404:
                    self.problems.append(f"no CC-NEWS listing for {year:04d}/{month:02d} ({url}: HTTP 404)")
                else:
                    self.problems.append(f"{url}: {_failed(result)}: its files were not read")
                continue
            try:
                paths += ccnews.parse_listing(result.body, self.ctx.config.fetch.max_bytes)
            except (ValueError, EOFError, OSError) as exc:
                self.problems.append(f"{url}: {exc}")
        files = ccnews.files_for_range(paths, self.since, self.until)
        self.units_total = len(files)
        self._planned(len(files))
        slots = HostSlots(self.ctx.engine, leases.new_owner("stream"), self.ctx.config.fetch.per_host_concurrency,
                          self.ctx.config.fetch.per_host_delay_s,
                          lease=_lease(self.ctx.config.fetch.timeout_s))
        with StreamFetcher(self.ctx.config.fetch, shared_slots=slots.slot, clock=self.ctx.clock) as streams:
            for f in files:
                if self.ctx.stopping.is_set():
                    break
                via = f"ccnews:{f.path}"
                if self._done(via):
                    self._skip(f.path)
                    continue
                self._finish(via, self._stream_file(streams, base + f.path, f.path))

    def _stream_file(self, streams: StreamFetcher, url: str, label: str) -> UnitReport:
        counts: Counter[str] = Counter()
        t0, opened, error = time.monotonic(), None, None
        try:
            with streams.open(url) as opened:
                report = self.run_captures(label, read_warc(
                    opened.stream, url, keep_url=self.site, since=self.since, until=self.until,
                    max_bytes=self.ctx.config.fetch.max_bytes, counts=counts))
        except StreamError as exc:
            error, report = exc, UnitReport(label, "open")
            self.problems.append(f"{label}: {exc.kind.value} ({exc.detail}): left for a re-run")
        except WarcFormatError as exc:
            report = UnitReport(label, "open")
            self.problems.append(str(exc))
        report.records = counts["records"]
        record = stream_record(url, opened, at=self.ctx.now(), error=error,
                               duration_ms=round((time.monotonic() - t0) * 1000))
        self._record(FetchResult(url, url, record.status, {}, b"", (record,), False, None, None), "warc")
        return report

    def from_wayback(self) -> None:
        cfg = self.ctx.config
        base = cfg.backfill.wayback_url
        settings = cfg.fetch.model_copy(update={"per_host_concurrency": 1,
                                                "per_host_delay_s": cfg.backfill.wayback_delay_s})
        slots = HostSlots(self.ctx.engine, leases.new_owner("wayback"), 1, cfg.backfill.wayback_delay_s,
                          lease=_lease(cfg.fetch.timeout_s))
        self._planned(0)
        with Fetcher(settings, shared_slots=slots.slot, clock=self.ctx.clock, cancel=self.ctx.stopping) as fetcher:
            for host in self.site.hosts:
                self._wayback_host(fetcher, base, host)

    def _wayback_host(self, fetcher: Fetcher, base: str, host: str) -> None:
        key: str | None = None
        page = 0
        while not self.ctx.stopping.is_set():
            page += 1
            via = f"wayback:{host}:{key or '-'}"
            label = f"{host} CDX page {page}"
            if self._done(via):
                self._skip(label)
                state = capture_rows.checkpoint(self.ctx.engine, self.source_id, via, (self.since, self.until))
                key = state[1].get("next") if state else None
                if not key:
                    return
                continue
            self.units_total += 1
            url = wayback.cdx_query(base, host, self.since, self.until, limit=self.ctx.config.backfill.wayback_page_size,
                                    resume_key=key)
            result = fetcher.fetch(url, kind="other")
            self._record(result, "cdx")
            if not result.ok:
                self.problems.append(f"{label}: {_failed(result)}: the rest of {host} is left for a re-run")
                self._finish(via, UnitReport(label, "open"))
                return
            try:
                cdx = wayback.parse_page(result.body)
            except wayback.CdxFormatError as exc:
                self.problems.append(f"{label} ({url}): {exc}")
                self._finish(via, UnitReport(label, "open"))
                return
            report = UnitReport(label, "done", records=len(cdx.captures))
            pending = [self._capture(fetcher, base, c) for c in cdx.captures
                       if self.site(c.original) and self.since <= c.captured_at < self.until]
            for i in range(0, len(pending), BATCH_SIZE):
                self.archive_batch(pending[i:i + BATCH_SIZE], report)
            self._finish(via, report, {"next": cdx.resume_key})
            if cdx.resume_key is None:
                return
            key = cdx.resume_key

    def _capture(self, fetcher: Fetcher, base: str, c: wayback.CdxCapture) -> Pending:
        capture = wayback.capture_url(base, c.timestamp, c.original)

        def get() -> FetchResult:
            return _as_original(fetcher.fetch(capture, kind="other"), c.original)

        return Pending(c.original, capture, get, {"capture_url": capture, "captured_at": c.captured_at})

    def _record(self, result: FetchResult, kind: str) -> None:
        with write_session(self.ctx.engine) as s:
            archive.record_fetch(s, result, kind=kind, run_id=self.ctx.run_id, source_id=self.source_id,
                                 keep_body=False, now=self.ctx.now())


def _in_hand(c: Capture) -> Callable[[], FetchResult]:
    return lambda: as_fetch_result(c)


def _as_original(result: FetchResult, original: str) -> FetchResult:
    """A capture's fetch as a fetch of the original URL (the Wayback URL goes in its provenance)."""
    records = tuple(FetchRecord(original, original, (), r.status, r.headers, r.n_bytes, r.sha256, r.started_at,
                                r.duration_ms, r.attempt, r.error_kind, r.error_detail) for r in result.records)
    headers = dict(result.headers)
    return FetchResult(original, original, result.status, headers, result.body, records, result.not_modified,
                       result.error, result.retry_after_s)


def _lease(timeout_s: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=timeout_s) + LEASE_MARGIN


def _failed(result: FetchResult) -> str:
    err = result.error
    return f"{err.kind.value} ({err.detail})" if err else "failed"


def run_archive_backfill(ctx: PollContext, source: SourceConfig, kind: str, path: str | None, since: datetime,
                         until: datetime, *, on_plan: Callable[[int], None] | None = None,
                         on_unit: Callable[[UnitReport], None] | None = None) -> dict[str, Any]:
    """The backfill of one source from an archive (``kind``: warc, ccnews, wayback); the summary has the
    shape of every backfill's (its windows are the units)."""
    job = ArchiveBackfill(ctx, source, ctx.source_id(source), since, until, on_unit, on_plan)
    if kind == "warc":
        assert path is not None
        job.from_files(path)
    elif kind == "ccnews":
        job.from_ccnews()
    else:
        job.from_wayback()
    totals: Counter[str] = Counter()
    for r in job.reports:
        totals.update({k: r.counts.get(k, 0) for k in COUNTS})
    urls = sum(r.kept for r in job.reports)
    nothing = None
    if not urls and (job.reports or job.problems):
        read = sum(r.records for r in job.reports)
        nothing = "no page of the source's site in the range: " + (
            "; ".join(job.problems) if job.problems else f"{read} records read, none on {', '.join(job.site.hosts)}")
    return {"source": source.name, "via": kind if path is None else f"{kind}:{path}",
            "since": since.isoformat(), "until": until.isoformat(), "windows": job.units_total,
            "windows_run": len(job.reports), "urls": urls, "totals": {k: totals.get(k, 0) for k in COUNTS},
            "by_window": [r.row() for r in job.reports], "problems": list(job.problems), "nothing_found": nothing}
