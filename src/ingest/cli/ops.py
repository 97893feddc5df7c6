"""Operations commands of ``ingest``: ``serve``, ``backfill``, ``deployments render``, ``runs``.

Registered on the main group (:mod:`ingest.cli.group`) when :mod:`ingest.cli` is imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ingest.cli.group import (
    config_option,
    csv_option,
    db_option,
    json_line,
    json_option,
    load_config,
    main,
    open_reader,
)
from ingest.cli.tables import emit, print_table, when
from ingest.errors import UsageError
from ingest.locations import DEFAULT_CONFIG_PATH, resolve_database_url

DEFAULT_DEPLOYMENTS_FILE = "deployments/prefect.yaml"


@main.command()
@click.option("--config", "config_path", default=DEFAULT_CONFIG_PATH, show_default=True, metavar="FILE")
@click.option("--limit", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Flow runs at once (late runs after downtime queue instead of piling up).")
def serve(config_path: str, limit: int) -> None:
    """Serve the poll-feeds (scheduled), backfill and reprocess deployments in this process until Ctrl-C/SIGTERM."""
    from ingest.memory import limit_arenas

    limit_arenas()  # months of runs, a fetch thread per connection (ingest.memory)
    # A first start of the local API migrates its database (~20 s, more on a busy machine): wait for it.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    from ingest.orchestrate.deployments import schedule_specs, serve_deployments
    from ingest.orchestrate.runtime import prestart_prefect_api
    from ingest.store.db import open_archive

    wait_for_prefect = prestart_prefect_api()
    config = load_config(config_path)
    open_archive(resolve_database_url(None, config)).dispose()  # schema problems surface here, as one line
    for problem in config.invalid_sources:
        click.echo(f"ingest: error: {problem} (source skipped)", err=True)
    wait_for_prefect()
    deployments = serve_deployments(config, config_path)
    for spec in schedule_specs(config):
        click.echo(f"schedule {spec.slug}: {spec.cron} ({spec.timezone}) {spec.parameters}")
    from prefect import serve as prefect_serve

    scheduler = None
    if not os.environ.get("PREFECT_API_URL"):  # the local API has no scheduler service: be it
        from prefect.server.api.server import SubprocessASGIServer

        from ingest.orchestrate.localscheduler import LocalScheduler

        local_api = SubprocessASGIServer().api_url
        # Served runs execute in subprocesses: pointed at this process's API, they report to it; left
        # alone, each would start a temporary API server of its own (~25 s per run).
        os.environ["PREFECT_API_URL"] = local_api
        scheduler = LocalScheduler(local_api, ["poll-feeds/poll-feeds"]).start()
    # Prefect handles SIGINT and SIGTERM (graceful shutdown); schedules stay active for the next start.
    try:
        prefect_serve(*deployments, pause_on_shutdown=False, limit=limit, print_starting_message=True)
    finally:
        if scheduler is not None:
            scheduler.stop()
    click.echo("ingest serve: stopped")


@main.command()
@click.option("--source", required=True, metavar="NAME", help="The configured source to backfill.")
@click.option("--since", metavar="DATE",
              help="Start of the range (YYYY-MM-DD or ISO, UTC); optional only with --via urls:FILE and warc:PATH.")
@click.option("--until", metavar="DATE", help="End of the range, exclusive (default: the end of today).")
@click.option("--via", default="sitemap", show_default=True,
              metavar="sitemap|feed|urls:FILE|warc:PATH|ccnews|wayback|archive",
              help="Where past URLs come from: the site's sitemaps, the feed's archive pages (RFC 5005, "
                   "WordPress ?paged=), a file of URLs, WARC files (a file, a glob or a directory), Common "
                   "Crawl News, the Wayback Machine, or the archive itself (re-extract stored bytes).")
@click.option("--window-days", default=7, show_default=True, type=click.IntRange(1, 366),
              help="Days per window (one checkpoint each).")
@click.option("--config", "config_path", default=DEFAULT_CONFIG_PATH, show_default=True, metavar="FILE")
@db_option
@json_option
def backfill(source: str, since: str | None, until: str | None, via: str, window_days: int, config_path: str,
             db: str | None, as_json: bool) -> None:
    """Archive a source's past articles (resumable: finished windows are not redone)."""
    from ingest.memory import limit_arenas

    limit_arenas()  # (as poll: ingest.memory)
    from ingest.pipeline import backfill as bf
    from ingest.store.db import open_archive

    kind, _ = bf.parse_via(via)
    if since is not None:
        bf.parse_range(since, until)  # a bad date is a usage error before anything opens
    elif kind not in ("urls", "warc"):
        raise UsageError(f"--since is needed with --via {via} (only urls:FILE and warc:PATH may go without)")
    config = load_config(config_path)
    config.select([source])
    engine = open_archive(resolve_database_url(db, config))
    bar: list[click.progressbar] = []
    seen = {"records": 0, "kept": 0}  # archive backfills (files, CDX pages): records read and kept so far
    archives = kind in ("warc", "ccnews", "wayback")

    def on_plan(n: int) -> None:
        if n and not as_json:
            label = f"backfill {source} via {via}" + (" (files)" if archives else "")
            bar.append(click.progressbar(
                length=n, label=label, file=sys.stderr, show_pos=True,
                item_show_func=(lambda _: f"{seen['records']} records, {seen['kept']} kept") if archives else None))
            bar[0].__enter__()

    def on_window(report: Any) -> None:
        seen["records"] += getattr(report, "records", 0)
        seen["kept"] += getattr(report, "kept", 0)
        if bar:
            bar[0].update(1, report)
        elif archives and not as_json:  # CDX pages: their number is not known in advance
            click.echo(f"{report.unit}: {report.status}, {seen['records']} captures listed, {seen['kept']} kept",
                       err=True)

    try:
        summary = bf.backfill(config, engine, source, since=since, until=until, via=via, window_days=window_days,
                              on_window=on_window, on_plan=on_plan, parameters={"config_path": config_path})
    finally:
        if bar:
            bar[0].__exit__(None, None, None)
        engine.dispose()
    run_id = summary["run_id"]
    if as_json:
        json_line(summary.as_dict())
    elif via == "archive":
        click.echo(f"run {run_id}: re-extracted {summary['articles']} archived articles of {source}: "
                   f"{summary['revised']} revised, {summary['unchanged']} unchanged, {summary['failed']} failed")
    elif not summary["by_window"] and not summary["problems"]:
        click.echo(f"backfill of {source} via {via} already done for {summary['since'][:10]}..{summary['until'][:10]}:"
                   " nothing to do")
    else:
        if summary["by_window"]:
            print_table(summary["by_window"])
        click.echo(f"run {run_id}: {summary['urls']} URLs; " +
                   ", ".join(f"{k} {v}" for k, v in summary["totals"].items()))
    if summary.get("nothing_found"):
        click.echo(f"ingest: {source}: {summary['nothing_found']}", err=True)


@main.group()
def deployments() -> None:
    """Prefect deployments (deployments/prefect.yaml)."""


@deployments.command("render")
@config_option
@click.option("--out", default=DEFAULT_DEPLOYMENTS_FILE, show_default=True, metavar="FILE")
@click.option("--check", is_flag=True, help="Only say whether FILE is current (exit 1 when not).")
def deployments_render(config_path: str | None, out: str, check: bool) -> None:
    """Write the deployments (schedules from the config) to deployments/prefect.yaml."""
    from ingest.orchestrate.deployments import render_prefect_yaml

    path = config_path or DEFAULT_CONFIG_PATH
    text = render_prefect_yaml(load_config(path), path)
    target = Path(out)
    current = target.read_text(encoding="utf-8") if target.is_file() else None
    if check:
        if current != text:
            click.echo(f"{out} is out of date: run `ingest deployments render`", err=True)
            sys.exit(1)
        click.echo(f"{out} is current")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}" + (" (unchanged)" if current == text else ""))


@main.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--kind", type=click.Choice(["poll", "backfill", "reprocess"]), help="Only runs of this kind.")
@click.option("--status", type=click.Choice(["running", "completed", "failed", "interrupted", "abandoned"]))
@db_option
@config_option
@json_option
@csv_option
def runs(limit: int, kind: str | None, status: str | None, db: str | None, config_path: str | None,
         as_json: bool, as_csv: bool = False) -> None:
    """The latest runs (polls, backfills, reprocessing), newest first: status, totals, Prefect flow run."""
    from ingest.store.query import recent_runs

    with open_reader(db, config_path).connect() as s:
        rows = recent_runs(s, limit=limit, kind=kind, status=status)
    if emit(rows, as_json=as_json, as_csv=as_csv):
        return
    if not rows:
        click.echo("no runs yet")
        return

    def totals(r: dict) -> str:
        t = (r["summary"] or {}).get("totals") or {}
        return " ".join(f"{k}={t[k]}" for k in ("new", "updated", "duplicate", "failed") if t.get(k)) or "-"

    print_table([{
        "id": r["id"], "kind": r["kind"],
        "status": r["status"] + (" (process gone)" if r["process_gone"] else ""),
        "started": when(r["started_at"]), "finished": when(r["finished_at"]),
        "totals": totals(r), "flow run": r["prefect_flow_run_id"] or "-",
        "error": (r["error"] or "-").splitlines()[0]} for r in rows], wide=("error", "flow run"))
