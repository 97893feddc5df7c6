"""The deployments, derived from the configuration: one place that says what runs when.

``poll-feeds`` has the default schedule (``schedule:`` in feeds.yaml) polling the *due* sources (their
adaptive next poll time has come), plus one schedule per distinct source ``schedule:`` that polls
exactly those sources at those times, due or not. ``backfill`` has no schedule: it is run by hand with
parameters. ``deployments/prefect.yaml`` (for ``prefect deploy``) and ``ingest serve`` (one process,
no server) are both built from :func:`schedule_specs`, so they cannot disagree; ``ingest deployments
render`` rewrites the YAML after the configuration changed, and a test keeps the shipped one current.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ingest.config import Config

WORK_POOL = "ingest"
POLL = ("poll-feeds", "flows/poll.py", "poll_feeds")  # deployment name, file, function
BACKFILL = ("backfill", "flows/backfill.py", "backfill")
REPROCESS = ("reprocess", "flows/reprocess.py", "reprocess")


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    cron: str
    timezone: str
    parameters: dict[str, Any]
    slug: str


def schedule_specs(config: Config) -> list[ScheduleSpec]:
    own: dict[str, list[str]] = {}
    for src in config.sources:
        if src.enabled and src.schedule:
            own.setdefault(src.schedule, []).append(src.name)
    default: dict[str, Any] = {"due_only": True}
    if own:  # the default schedule must not also poll the sources that have their own
        default["sources"] = [s.name for s in config.sources if s.enabled and not s.schedule]
    specs = [ScheduleSpec(config.schedule, config.timezone, default, "default")] if default.get(
        "sources", True) else []
    for i, (cron, names) in enumerate(own.items(), start=1):
        specs.append(ScheduleSpec(cron, config.timezone, {"sources": names, "due_only": False}, f"sources-{i}"))
    return specs


def render_prefect_yaml(config: Config, config_path: str) -> str:
    """The text of ``deployments/prefect.yaml`` for this configuration."""
    def pull() -> list[dict[str, Any]]:  # a fresh copy per deployment: no YAML anchors in the file
        return [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PWD }}"}}]

    def pool() -> dict[str, Any]:
        return {"name": WORK_POOL}

    doc = {
        "name": "ingest",
        "prefect-version": "3.9.1",
        "build": None,
        "push": None,
        "deployments": [
            {"name": POLL[0], "entrypoint": f"{POLL[1]}:{POLL[2]}", "work_pool": pool(), "pull": pull(),
             "description": "Poll the configured feeds (due sources on the default schedule).",
             "parameters": {"config_path": config_path},
             "schedules": [{"cron": s.cron, "timezone": s.timezone, "slug": s.slug, "parameters": s.parameters}
                           for s in schedule_specs(config)]},
            {"name": BACKFILL[0], "entrypoint": f"{BACKFILL[1]}:{BACKFILL[2]}", "work_pool": pool(),
             "pull": pull(), "description": "Backfill one source over a date range (run with parameters).",
             "parameters": {"config_path": config_path}, "schedules": []},
            {"name": REPROCESS[0], "entrypoint": f"{REPROCESS[1]}:{REPROCESS[2]}", "work_pool": pool(),
             "pull": pull(), "description": "Re-extract, re-dedup and re-tag the archive from stored bytes.",
             "parameters": {"config_path": config_path}, "schedules": []},
        ],
    }
    header = (f"# Generated from {config_path} by `ingest deployments render`: edit that file, not this one.\n"
              "# Deploy from the project directory (workers run there, see the pull step):\n"
              "#   prefect --no-prompt deploy --all --prefect-file deployments/prefect.yaml\n")
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)


def serve_deployments(config: Config, config_path: str) -> list[Any]:
    """Prefect deployments of the same flows and schedules, for ``prefect.serve``."""
    from prefect.schedules import Cron

    from ingest.orchestrate.runtime import load_flow

    poll = load_flow("poll", POLL[2]).to_deployment(
        name=POLL[0], parameters={"config_path": config_path},
        schedules=[Cron(s.cron, timezone=s.timezone, parameters=s.parameters, slug=s.slug)
                   for s in schedule_specs(config)])
    backfill = load_flow("backfill", BACKFILL[2]).to_deployment(
        name=BACKFILL[0], parameters={"config_path": config_path})
    reprocess = load_flow("reprocess", REPROCESS[2]).to_deployment(
        name=REPROCESS[0], parameters={"config_path": config_path})
    return [poll, backfill, reprocess]
