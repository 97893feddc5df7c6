"""Prefect at the edge: deployments derived from the configuration, ``ingest serve``'s local
scheduler, loading flows from ``flows/``, and the process-wide extractor pool that flow runs share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest._lazy import lazy_exports

if TYPE_CHECKING:
    from ingest.orchestrate.deployments import (
        ScheduleSpec,
        render_prefect_yaml,
        schedule_specs,
        serve_deployments,
    )
    from ingest.orchestrate.localscheduler import LocalScheduler
    from ingest.orchestrate.runtime import load_flow, prestart_prefect_api, shared_extractor

_PUBLIC = {
    "ScheduleSpec": "deployments",
    "schedule_specs": "deployments",
    "render_prefect_yaml": "deployments",
    "serve_deployments": "deployments",
    "LocalScheduler": "localscheduler",
    "load_flow": "runtime",
    "prestart_prefect_api": "runtime",
    "shared_extractor": "runtime",
}
__all__ = [
    "LocalScheduler",
    "ScheduleSpec",
    "load_flow",
    "prestart_prefect_api",
    "render_prefect_yaml",
    "schedule_specs",
    "serve_deployments",
    "shared_extractor",
]
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
