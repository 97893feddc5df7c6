"""The ``backfill`` flow: Prefect wiring over :mod:`ingest.pipeline.backfill` (one story call), nothing more.

One ``discover-urls`` task (sitemaps / feed pages / the URL file), then one ``backfill-window`` task
per date window not yet done (checkpoints in the archive make a killed run resume and a finished one
a no-op). Run it from the ``backfill`` deployment with parameters, e.g.
``prefect deployment run backfill/backfill -p source=bbc-world -p since=2024-05-01 -p via=sitemap``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from ingest.config import load_config, resolve_database_url
from ingest.orchestrate.runtime import shared_extractor
from ingest.pipeline import backfill as bf
from ingest.pipeline import stages as pipeline
from ingest.pipeline.results import ReprocessResult
from ingest.store.db import open_archive


@task(name="discover-urls", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def discover_task(ctx: pipeline.PollContext, source: Any, source_id: int, via: str, since: Any,
                  until: Any) -> bf.Discovery:
    return bf.discover(ctx, source, source_id, via, since, until)


@task(name="backfill-window", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def window_task(ctx: pipeline.PollContext, source: Any, source_id: int, via: str, window: bf.Window,
                candidates: list[bf.Candidate]) -> bf.WindowReport:
    return bf.run_window(ctx, source, source_id, via, window, candidates)


@task(name="reprocess-source", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def reprocess_task(engine: Any, config: Any, **kwargs: Any) -> ReprocessResult:
    from ingest.pipeline.reprocess import reprocess

    return reprocess(engine, config, **kwargs)


def _windows_as_tasks(items: Any) -> Any:
    futures = [window_task.submit(*args) for args in items]  # runs them two at a time (the task runner)
    return (f.result() for f in futures)


@flow(name="backfill", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=False)
def backfill(source: str, since: str | None = None, until: str | None = None, via: str = "sitemap",
             config_path: str = "config/feeds.yaml", database_url: str | None = None,
             window_days: int = 7) -> dict[str, Any]:
    """Archive a source's articles published in [since, until) (dates or ISO date-times, UTC)."""
    logger = get_run_logger()
    config = load_config(config_path)
    engine = open_archive(resolve_database_url(database_url, config))

    def discovered(found: bf.Discovery, todo: int, windows: int) -> None:
        logger.info("%d URLs found via %s; %d of %d windows to do", len(found.candidates), via, todo, windows)
        for problem in found.problems:
            logger.warning("discovery: %s", problem)

    result = bf.backfill(
        config, engine, source, since=since, until=until, via=via, window_days=window_days,
        parameters={"config_path": config_path}, extractor=shared_extractor(config.extract),
        flow_run=(str(runtime.flow_run.id) if runtime.flow_run.id else None, runtime.flow_run.flow_name,
                  runtime.deployment.name),
        discover_fn=discover_task, map_windows=_windows_as_tasks, on_discovered=discovered,
        reprocess_fn=reprocess_task)
    summary = result.as_dict()
    if isinstance(result, ReprocessResult):
        create_table_artifact([{k: v for k, v in summary.items() if not isinstance(v, dict)}],
                              key="backfill-summary", description=f"ingest backfill run {result.run_id}: {source} via archive")
        return summary
    if result.nothing_found:
        logger.warning("%s", result.nothing_found)
    elif not result.windows_run:
        logger.info("backfill of %s via %s already done for this range: nothing to do", source, via)
    create_table_artifact(result.by_window or [{"window": "-", "urls": 0}], key="backfill-summary",
                          description=f"ingest backfill run {result.run_id}: {source} via {via}, per window")
    create_markdown_artifact(bf.summary_markdown(summary), key="backfill-summary-text")
    logger.info("backfill run %s: %s", result.run_id, result.totals)
    return summary


if __name__ == "__main__":
    import sys

    backfill(source=sys.argv[1], since=sys.argv[2])
