"""The poll story: one run over the configured sources, with its run row, leases and summary.

    with PollRun(config, engine, due_only=True) as run:     # a runs row; the sources claimed
        for report in pipeline.poll_sources(run.ctx, [(src, run.fetches_feed(src)) for src in run.claimed]):
            run.add(report)
    run.summary                                            # what the run did, per source

:func:`poll` is that, with the sources polled by a few threads; the Prefect flow (``flows/poll.py``)
is the same run lifecycle with tasks instead of threads. The lifecycle is written once, here:

* the run row is started first and always finished: ``completed``, ``failed`` (an error of the run
  itself, such as an unreachable archive) or ``interrupted`` (Ctrl-C, SIGTERM, whichever thread the run
  is on: ingest/shutdown.py; what was committed stays, and pages not yet fetched stay pending for the
  next run);
* sources are claimed under leases (:mod:`ingest.pipeline.scheduling`), and released whatever happens;
* every "now" comes from the clock given (a :class:`~ingest.clock.ManualClock` drives the soak).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from datetime import timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Engine

from ingest import shutdown
from ingest.clock import SYSTEM_CLOCK, Clock
from ingest.config import Config, SourceConfig
from ingest.extract.pages import ExtractorPool
from ingest.fetch.client import Fetcher, Resolver
from ingest.pipeline import scheduling
from ingest.pipeline.results import PollResult
from ingest.pipeline.stages import PollContext, SourceReport, batch_size, describe, poll_sources, run_summary
from ingest.store import archive, leases
from ingest.store.driftstate import update_sources
from ingest.store.runs import run_status

SOURCE_THREADS = 4  # sources polled at once by poll(); pages have their own pools


class PollRun:
    """One poll run: enter to start it (run row, context, claims), exit to finish it."""

    def __init__(self, config: Config, engine: Engine, *, sources: Sequence[str] | None = None,
                 due_only: bool = False, clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None,
                 extractor: ExtractorPool | None = None, fetcher: Fetcher | None = None,
                 resolver: Resolver | None = None,
                 parameters: dict[str, Any] | None = None, flow_run_id: str | None = None,
                 flow_name: str | None = None, deployment: str | None = None) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.selected: tuple[SourceConfig, ...] = config.select(list(sources or []))
        self.due_only = due_only
        self._rng = rng
        self._extractor, self._fetcher, self._resolver = extractor, fetcher, resolver
        self._parameters = parameters if parameters is not None else {
            "sources": list(sources or []), "due_only": due_only}
        self._prefect = (flow_run_id, flow_name, deployment)
        self.reports: list[SourceReport] = []
        self.run_id: int | None = None
        self.summary: dict[str, Any] | None = None
        self._ctx: PollContext | None = None
        self._claim: scheduling.Claim | None = None

    @property
    def ctx(self) -> PollContext:
        assert self._ctx is not None, "enter the PollRun first"
        return self._ctx

    @property
    def claimed(self) -> list[SourceConfig]:
        return self._claim.claimed if self._claim else []

    def fetches_feed(self, source: SourceConfig) -> bool:
        """False for a source claimed only for its due page work (its feed is not due)."""
        return self._claim is None or self._claim.fetches_feed(source)

    @property
    def not_due(self) -> list[str]:
        return self._claim.not_due if self._claim else []

    def add(self, report: SourceReport) -> None:
        self.reports.append(report)

    def __enter__(self) -> PollRun:
        flow_run_id, flow_name, deployment = self._prefect
        self.run_id = archive.start_run(self.engine, "poll", self._parameters, flow_run_id=flow_run_id,
                                        flow_name=flow_name, deployment=deployment, now=self.clock.now())
        try:
            self._ctx = PollContext(self.config, self.engine, self.run_id, extractor=self._extractor,
                                    fetcher=self._fetcher, clock=self.clock, rng=self._rng, resolver=self._resolver)
            self._ctx.register(self.selected)
            self._claim = scheduling.claim_sources(
                self.engine, self.selected, self._ctx.source_id, owner=leases.new_owner(f"poll-run-{self.run_id}"),
                lease=timedelta(seconds=self.config.poll.lease_s), due_only=self.due_only, now=self.clock.now())
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self.reports += [SourceReport(name, feed_status="skipped") for name in self._claim.skipped]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self.run_id is not None
        try:
            if self._ctx is not None:
                if exc is not None:
                    self._ctx.stopping.set()
                self._ctx.close()
        finally:
            if self._claim is not None:
                scheduling.release_all(self.engine, self._claim)
            if exc is not None:
                archive.finish_run(self.engine, self.run_id, run_status(exc), error=describe(exc),
                                   now=self.clock.now())
        if exc is None:
            self.reports.sort(key=lambda r: r.source)
            self.summary = run_summary(self.reports, self.run_id,
                                       [str(p) for p in self.config.invalid_sources])
            self.summary["drifting"] = self._drifting()
            # asked to stop while running (ingest/shutdown.py): it stopped early, with what it summarises
            stopped = self._ctx is not None and self._ctx.stopping.is_set()
            archive.finish_run(self.engine, self.run_id, "interrupted" if stopped else "completed", self.summary,
                               error="stopped before the end (SIGTERM)" if stopped else None, now=self.clock.now())

    def _drifting(self) -> list[dict[str, Any]]:
        """The polled sources whose extraction drifts (ingest.analyse.drift), for the summary: their new
        pages judged and the verdict stored (store/driftstate.py), after the run's work; a failure to
        judge is logged, never the run's failure."""
        # only sources this run fetched pages for: the others have no new observation
        names = [r.source for r in self.reports if r.feed_status != "skipped"
                 and any(n for k, n in r.counts.items() if k != "known")]
        try:
            return update_sources(self.engine, names, self.config.drift.thresholds(), self.clock.now())
        except Exception:  # noqa: BLE001  (the archive is written; the verdict can wait for `ingest sources`)
            logging.getLogger(__name__).exception("could not judge extraction drift")
            return []


def poll(config: Config, engine: Engine, *, sources: Sequence[str] | None = None, due_only: bool = False,
         clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None, extractor: ExtractorPool | None = None,
         fetcher: Fetcher | None = None, resolver: Resolver | None = None,
         threads: int = SOURCE_THREADS, executor: Executor | None = None) -> PollResult:
    """Poll the selected (or all enabled) sources once, in this process; returns what the run did.
    ``due_only``: only the sources whose adaptive next poll time has come (what the schedule runs).
    Sources fan out in batches (one feed-state read and one write transaction each: stages.poll_feeds) on
    ``executor`` when one is given (it stays open: the caller owns it), else on ``threads`` threads of a
    pool made for the run. (The Prefect flow fans out as task runs instead.)"""
    with PollRun(config, engine, sources=sources, due_only=due_only, clock=clock, rng=rng, extractor=extractor,
                 fetcher=fetcher, resolver=resolver) as run:
        pool = executor or ThreadPoolExecutor(max_workers=max(1, min(threads, len(run.claimed) or 1)),
                                              thread_name_prefix="ingest-source")
        futures: list[Future[list[SourceReport]]] = []
        claimed = [(src, run.fetches_feed(src)) for src in run.claimed]
        size = batch_size(len(claimed), threads if executor is None else SOURCE_THREADS)
        try:
            futures = [pool.submit(poll_sources, run.ctx, claimed[i:i + size]) for i in range(0, len(claimed), size)]
            for future in shutdown.as_completed(futures):
                for report in future.result():
                    run.add(report)
        except BaseException:
            # interrupted: start no further source or page; the running ones store what they fetched
            run.ctx.stopping.set()
            raise
        finally:
            if executor is None:
                pool.shutdown(wait=True, cancel_futures=True)
            else:  # the run's context closes next: nothing of it may still run on the caller's executor
                for future in futures:
                    future.cancel()
                wait(futures)
    assert run.summary is not None
    return PollResult.from_summary(run.summary)
