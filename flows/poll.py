"""The ``poll-feeds`` flow: Prefect wiring over :mod:`ingest.pipeline`, nothing more.

Task granularity: one ``poll-feed`` task run per source, one ``store-pages`` task run per batch of up
to 100 pages (a task run costs several ms of orchestration; an extraction ~25 ms of CPU, done in the
shared worker-process pool). Per-source failures are values in the summary; the flow run fails only
when the run itself cannot proceed (bad configuration, unreachable archive).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from ingest import leases, pipeline, scheduling
from ingest.config import load_config, resolve_database_url
from ingest.report import summary_markdown, summary_rows
from ingest.runtime import shared_extractor
from ingest.store import archive
from ingest.store.db import open_archive, redacted


@task(name="poll-feed", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def poll_feed_task(ctx: pipeline.PollContext, source: Any) -> pipeline.FeedStage:
    return pipeline.poll_feed(ctx, source)


@task(name="store-pages", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def store_pages_task(ctx: pipeline.PollContext, source_id: int,
                     items: list[pipeline.WorkItem]) -> list[archive.StoredItem]:
    return pipeline.process_batch(ctx, source_id, items)


@flow(name="poll-feeds", task_runner=ThreadPoolTaskRunner(max_workers=4), log_prints=False)
def poll_feeds(config_path: str = "config/feeds.yaml", sources: list[str] | None = None,
               database_url: str | None = None, due_only: bool = False) -> dict[str, Any]:
    """Poll the configured feeds once: fetch, extract, deduplicate and archive every new article.

    ``due_only`` (scheduled runs): only sources whose adaptive next poll time has come. Each source is
    polled under a database lease; one another run holds is skipped and counted as ``skipped``."""
    logger = get_run_logger()
    config = load_config(config_path)
    for problem in config.invalid_sources:
        logger.error("skipped source entry: %s", problem)
    selected = config.select(sources)
    engine = open_archive(resolve_database_url(database_url, config))
    run_id = archive.start_run(
        engine, "poll", {"config_path": config_path, "sources": list(sources or []),
                         "database_url": redacted(database_url) if database_url else None},
        flow_run_id=str(runtime.flow_run.id) if runtime.flow_run.id else None,
        flow_name=runtime.flow_run.flow_name, deployment=runtime.deployment.name)
    reports: list[pipeline.SourceReport] = []
    claim: scheduling.Claim | None = None
    try:
        with pipeline.PollContext(config, engine, run_id, extractor=shared_extractor(config.extract)) as ctx:
            claim = scheduling.claim_sources(
                engine, selected, ctx.source_id, owner=leases.new_owner(f"poll-run-{run_id}"),
                lease=timedelta(seconds=config.poll.lease_s), due_only=due_only)
            for name in claim.skipped:
                logger.warning("source %s skipped: another run is polling it (lease held)", name)
                reports.append(pipeline.SourceReport(name, feed_status="skipped"))
            if claim.not_due:
                logger.info("%d sources not due yet: %s", len(claim.not_due), ", ".join(claim.not_due))
            feeds = {poll_feed_task.submit(ctx, src): src for src in claim.claimed}
            batches = []
            for future in as_completed(list(feeds)):
                stage = _stage_or_failure(ctx, future, feeds[future], logger)
                reports.append(stage.report)
                batches += [(stage, store_pages_task.submit(ctx, stage.source_id, b)) for b in stage.batches()]
            for stage, future in batches:
                try:
                    stage.report.add(future.result())
                except Exception as exc:  # the batch task failed after its retries: count, keep going
                    logger.error("batch of %s failed: %s", stage.report.source, exc)
                    stage.report.counts["failed"] += 1
                    stage.report.failures["internal"] += 1
    except BaseException as exc:
        archive.finish_run(engine, run_id, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if claim is not None:
            scheduling.release_all(engine, claim)
    reports.sort(key=lambda r: r.source)
    summary = pipeline.run_summary(reports, run_id, [str(p) for p in config.invalid_sources])
    archive.finish_run(engine, run_id, "completed", summary)
    create_table_artifact(summary_rows(summary), key="poll-summary",
                          description=f"ingest poll run {run_id}: per source outcome")
    create_markdown_artifact(summary_markdown(summary), key="poll-summary-text")
    totals = summary["totals"]
    logger.info("run %s: %s new, %s updated, %s duplicate, %s unchanged, %s failed; %s of %s sources failed,"
                " %s skipped", run_id, totals.get("new", 0), totals.get("updated", 0), totals.get("duplicate", 0),
                totals.get("unchanged", 0), totals.get("failed", 0), totals["sources_failed"], len(reports),
                totals["sources_skipped"])
    return summary


def _stage_or_failure(ctx: pipeline.PollContext, future: Any, source: Any, logger: Any) -> pipeline.FeedStage:
    try:
        return future.result()
    except Exception as exc:  # an unexpected error in one source never stops the others
        logger.error("source %s failed: %s", source.name, exc)
        report = pipeline.SourceReport(source.name, feed_status="failed", error_kind="internal",
                                       error_detail=f"{type(exc).__name__}: {exc}")
        return pipeline.FeedStage(report, ctx.source_id(source), [])


if __name__ == "__main__":
    poll_feeds()
