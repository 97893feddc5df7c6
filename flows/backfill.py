"""The ``backfill`` flow: Prefect wiring over :mod:`ingest.pipeline.backfill`, nothing more.

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
from ingest.store import archive
from ingest.store.db import open_archive
from ingest.store.runs import run_status


@task(name="discover-urls", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def discover_task(ctx: pipeline.PollContext, source: Any, source_id: int, via: str, since: Any,
                  until: Any) -> bf.Discovery:
    return bf.discover(ctx, source, source_id, via, since, until)


@task(name="backfill-window", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def window_task(ctx: pipeline.PollContext, source: Any, source_id: int, via: str, window: bf.Window,
                candidates: list[bf.Candidate]) -> bf.WindowReport:
    return bf.run_window(ctx, source, source_id, via, window, candidates)


@task(name="reprocess-source", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def reprocess_task(engine: Any, config: Any, source: str, since: Any, until: Any, run_id: int) -> dict[str, Any]:
    from ingest.pipeline.reprocess import reprocess

    return reprocess(engine, config, sources=[source], since=since, until=until, run_id=run_id,
                     extractor=shared_extractor(config.extract)).as_dict()


@flow(name="backfill", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=False)
def backfill(source: str, since: str, until: str | None = None, via: str = "sitemap",
             config_path: str = "config/feeds.yaml", database_url: str | None = None,
             window_days: int = 7) -> dict[str, Any]:
    """Archive a source's articles published in [since, until) (dates or ISO date-times, UTC)."""
    logger = get_run_logger()
    start, end = bf.parse_range(since, until)
    bf.parse_via(via)
    config = load_config(config_path)
    (src,) = config.select([source])
    engine = open_archive(resolve_database_url(database_url, config))
    run_id = archive.start_run(
        engine, "backfill", {"source": source, "since": start.isoformat(), "until": end.isoformat(), "via": via,
                             "window_days": window_days, "config_path": config_path},
        flow_run_id=str(runtime.flow_run.id) if runtime.flow_run.id else None,
        flow_name=runtime.flow_run.flow_name, deployment=runtime.deployment.name)
    if via == "archive":  # no network: re-extract, re-dedup and re-tag what the archive holds
        summary = reprocess_task(engine, config, source, start, end, run_id)
        archive.finish_run(engine, run_id, "completed", summary)
        create_table_artifact([{k: v for k, v in summary.items() if not isinstance(v, dict)}],
                              key="backfill-summary", description=f"ingest backfill run {run_id}: {source} via archive")
        return summary
    try:
        with pipeline.PollContext(config, engine, run_id, extractor=shared_extractor(config.extract)) as ctx:
            source_id = ctx.source_id(src)
            wins = bf.windows(start, end, window_days)
            reports: list[bf.WindowReport] = []
            problems: list[str] = []
            if bf.open_windows(engine, source_id, via, wins):
                found = discover_task(ctx, src, source_id, via, start, end)
                problems = found.problems
                by_window = bf.assign(found.candidates, wins)
                todo = bf.runnable_windows(bf.open_windows(engine, source_id, via, wins), by_window, found)
                logger.info("%d URLs found via %s; %d of %d windows to do", len(found.candidates), via, len(todo),
                            len(wins))
                for problem in problems:
                    logger.warning("discovery: %s", problem)
                futures = [window_task.submit(ctx, src, source_id, via, w, by_window.get(w, [])) for w in todo]
                reports = [f.result() for f in futures]
            else:
                logger.info("backfill of %s via %s already done for this range: nothing to do", source, via)
    except BaseException as exc:
        archive.finish_run(engine, run_id, run_status(exc), error=f"{type(exc).__name__}: {exc}")
        raise
    summary = bf.backfill_summary(source, via, start, end, wins, reports, problems) | {"run_id": run_id}
    if summary["nothing_found"]:
        logger.warning("%s", summary["nothing_found"])
    archive.finish_run(engine, run_id, "completed", summary)
    create_table_artifact(summary["by_window"] or [{"window": "-", "urls": 0}], key="backfill-summary",
                          description=f"ingest backfill run {run_id}: {source} via {via}, per window")
    create_markdown_artifact(bf.summary_markdown(summary), key="backfill-summary-text")
    logger.info("backfill run %s: %s", run_id, summary["totals"])
    return summary


if __name__ == "__main__":
    import sys

    backfill(source=sys.argv[1], since=sys.argv[2])
