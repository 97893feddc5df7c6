"""The ``poll-feeds`` flow: Prefect wiring over :mod:`ingest.pipeline.stages`, nothing more.

Task granularity: one ``poll-feeds`` task run per batch of up to 200 sources (four of the library's
batches of 50: their feeds fetched in parallel, their database work in one transaction), one ``store-pages`` task run per batch of up to 100
pages, of one source or several (a task run costs several ms of orchestration and a row in Prefect's
database; a re-polled unchanged feed ~2 ms, an extraction ~25 ms of CPU, done in the shared
worker-process pool). Per-source failures are values in the summary; the flow run fails only
when the run itself cannot proceed (bad configuration, unreachable archive).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.states import Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from ingest import shutdown
from ingest.config import load_config, resolve_database_url
from ingest.orchestrate.runtime import shared_extractor
from ingest.pipeline import stages as pipeline
from ingest.pipeline.poll import PollRun
from ingest.pipeline.report import summary_markdown, summary_rows
from ingest.pipeline.results import PollResult
from ingest.store import archive
from ingest.store.db import open_archive, redacted


# Neither task raises for a source's sake (the library records such failures on the source's row);
# retries are for the run's own infrastructure (the archive briefly unreachable). Tasks are coarse: a
# task run costs 6-9 ms of orchestration and a row in Prefect's database, a re-polled unchanged feed ~2 ms.
@task(name="poll-feeds", task_run_name="poll-feeds[{label}]", cache_policy=NO_CACHE, retries=2,
      retry_delay_seconds=[2, 10])
def poll_feeds_task(ctx: pipeline.PollContext, batch: list[tuple[Any, bool]], label: str = "") -> list[pipeline.FeedStage]:
    # the library's batches (one feed-state read and one write transaction each) inside the task run
    return [stage for i in range(0, len(batch), pipeline.SOURCE_BATCH)
            for stage in pipeline.poll_feeds(ctx, batch[i:i + pipeline.SOURCE_BATCH])]


@task(name="store-pages", task_run_name="store-pages[{label}]", cache_policy=NO_CACHE, retries=2,
      retry_delay_seconds=[2, 10])
def store_pages_task(ctx: pipeline.PollContext, work: list[tuple[int, list[pipeline.WorkItem]]],
                     label: str = "") -> list[list[archive.StoredItem]]:
    return [pipeline.process_batch(ctx, source_id, items) for source_id, items in work]


def _label(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]}…{names[-1]} ({len(names)})"


def _page_tasks(stages: list[pipeline.FeedStage]) -> list[list[tuple[pipeline.FeedStage, list[pipeline.WorkItem]]]]:
    """The stages' pages in tasks of at most BATCH_SIZE pages (a source's pages may span tasks)."""
    tasks: list[list[tuple[pipeline.FeedStage, list[pipeline.WorkItem]]]] = [[]]
    room = pipeline.BATCH_SIZE
    for stage in stages:
        for batch in stage.batches():
            while batch:
                if room == 0:
                    tasks.append([])
                    room = pipeline.BATCH_SIZE
                part, batch = batch[:room], batch[room:]
                tasks[-1].append((stage, part))
                room -= len(part)
    return [t for t in tasks if t]


TASK_THREADS = 4
# Sources per poll-feeds task run: four of the library's batches. Each task run costs Prefect several
# ms in this process and more in its API server; at 10,000 feeds, 200 task runs of 50 took ~30 s of the
# flow's time on two cores.
TASK_SOURCES = 4 * pipeline.SOURCE_BATCH


@flow(name="poll-feeds", task_runner=ThreadPoolTaskRunner(max_workers=TASK_THREADS), log_prints=False)
def poll_feeds(config_path: str = "config/feeds.yaml", sources: list[str] | None = None,
               database_url: str | None = None, due_only: bool = False) -> dict[str, Any] | State:
    """Poll the configured feeds once: fetch, extract, deduplicate and archive every new article.

    ``due_only`` (scheduled runs): only sources whose adaptive next poll time has come. Each source is
    polled under a database lease; one another run holds is skipped and counted as ``skipped``.
    Each failed source is a WARNING with its detail and an ``ingest.source.failed`` event, each source
    whose extraction drifts one with an ``ingest.source.drift`` event; a run in
    which every polled source failed ends Failed (its summary is the state's data), so automations fire."""
    logger = get_run_logger()
    config = load_config(config_path)
    for problem in config.invalid_sources:
        logger.error("skipped source entry: %s", problem)
    engine = open_archive(resolve_database_url(database_url, config))
    run = PollRun(config, engine, sources=sources, due_only=due_only, extractor=shared_extractor(config.extract),
                  parameters={"config_path": config_path, "sources": list(sources or []), "due_only": due_only,
                              "database_url": redacted(database_url) if database_url else None},
                  flow_run_id=str(runtime.flow_run.id) if runtime.flow_run.id else None,
                  flow_name=runtime.flow_run.flow_name, deployment=runtime.deployment.name)
    with run:
        for report in run.reports:
            logger.warning("source %s skipped: another run is polling it (lease held)", report.source)
        if run.not_due:
            logger.info("%d sources not due yet: %s", len(run.not_due), ", ".join(run.not_due))
        claimed = [(src, run.fetches_feed(src)) for src in run.claimed]
        size = pipeline.batch_size(len(claimed), TASK_THREADS, most=TASK_SOURCES)
        feeds = {poll_feeds_task.submit(run.ctx, claimed[i:i + size], _label([s.name for s, _ in claimed[i:i + size]])):
                 claimed[i:i + size] for i in range(0, len(claimed), size)}
        pages = {}
        # shutdown.as_completed: waits that wake up, so SIGTERM is handled at once (see there)
        for future in shutdown.as_completed(list(feeds)):
            stages = _stages_or_failure(run.ctx, future, [src for src, _ in feeds[future]], logger)
            for stage in stages:
                run.add(stage.report)
            for work in _page_tasks(stages):
                label = _label(list(dict.fromkeys(stage.report.source for stage, _ in work)))
                pages[store_pages_task.submit(run.ctx, [(stage.source_id, items) for stage, items in work], label)] = work
        for future in shutdown.as_completed(list(pages)):
            work = pages[future]
            try:
                for (stage, _), stored in zip(work, future.result(), strict=True):
                    stage.report.add(stored)
            except Exception as exc:  # the task's infrastructure failed after its retries: count, keep going
                for stage, items in work:
                    logger.error("batch of %s failed: %s", stage.report.source, exc)
                    stage.report.counts["failed"] += len(items)
                    stage.report.failures["internal"] += len(items)
    summary = run.summary
    assert summary is not None
    create_table_artifact(summary_rows(summary), key="poll-summary",
                          description=f"ingest poll run {run.run_id}: per source outcome")
    create_markdown_artifact(summary_markdown(summary), key="poll-summary-text")
    totals = summary["totals"]
    logger.info("run %s: %s new, %s updated, %s duplicate, %s known, %s unchanged, %s gone, %s failed; %s of %s "
                "sources failed, %s skipped", run.run_id, totals.get("new", 0), totals.get("updated", 0),
                totals.get("duplicate", 0), totals.get("known", 0), totals.get("unchanged", 0), totals.get("gone", 0),
                totals.get("failed", 0), totals["sources_failed"], len(run.reports), totals["sources_skipped"])
    result = PollResult.from_summary(summary)
    for src in result.sources:
        if src.ok:
            continue
        logger.warning("source %s failed: %s: %s", src.source, src.error_kind, src.error_detail or "")
        emit_event(event="ingest.source.failed",
                   resource={"prefect.resource.id": f"ingest.source.{src.source}", "prefect.resource.name": src.source},
                   payload={"source": src.source, "error_kind": src.error_kind, "error_detail": src.error_detail,
                            "run_id": run.run_id})
    for drift in result.drifting:
        logger.warning("source %s: extraction %s", drift["source"], drift["describe"])
        emit_event(event="ingest.source.drift",
                   resource={"prefect.resource.id": f"ingest.source.{drift['source']}",
                             "prefect.resource.name": drift["source"]},
                   payload={"source": drift["source"], "since": drift["since"], "moved": drift["moved"],
                            "describe": drift["describe"], "run_id": run.run_id})
    if result.all_failed:
        logger.error("%s", result.all_failed_line())
        return Failed(message=result.all_failed_line(), data=summary)
    return summary


def _stages_or_failure(ctx: pipeline.PollContext, future: Any, sources: list[Any], logger: Any
                       ) -> list[pipeline.FeedStage]:
    try:
        return list(future.result())
    except Exception as exc:  # the task failed after its retries (e.g. the archive unreachable): recorded too
        out = []
        for source in sources:
            logger.error("source %s failed: %s", source.name, exc)
            source_id = ctx.source_id(source)
            detail = pipeline.record_internal_failure(ctx, source_id, exc, "poll-feeds task")
            report = pipeline.SourceReport(source.name, feed_status="failed", error_kind="internal", error_detail=detail)
            out.append(pipeline.FeedStage(report, source_id, []))
        return out


if __name__ == "__main__":
    poll_feeds()
