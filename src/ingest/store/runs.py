"""Runs in the archive: one row per poll, backfill or reprocess, with the process that runs it.

A run records its owner (host, PID namespace, pid and start time: :func:`ingest.store.leases.new_owner`), so a
run whose process was killed can be told apart from one still running, and is marked ``abandoned`` by
the next run started on that machine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update

from ingest import __version__
from ingest.clock import SYSTEM_CLOCK
from ingest.errors import Interrupted
from ingest.store import leases
from ingest.store.db import read_session, write_session
from ingest.store.models import Run


def start_run(engine: Engine, kind: str, parameters: dict[str, Any] | None = None, *,
              flow_run_id: str | None = None, flow_name: str | None = None,
              deployment: str | None = None, now: datetime | None = None) -> int:
    now = now or SYSTEM_CLOCK.now()
    sweep_abandoned_runs(engine, now=now)
    with write_session(engine) as s:
        run = Run(kind=kind, started_at=now, ingest_version=__version__, parameters=parameters,
                  prefect_flow_run_id=flow_run_id, prefect_flow_name=flow_name, prefect_deployment=deployment,
                  owner=leases.new_owner(kind))
        s.add(run)
        s.flush()
        assert run.id is not None
        return run.id


def sweep_abandoned_runs(engine: Engine, *, now: datetime | None = None) -> list[int]:
    """Mark "abandoned" the runs still "running" whose process is gone from this machine (killed,
    OOM, power cut): without this they would say "running" for ever. Runs of other machines are left
    alone (their liveness cannot be seen from here). Returns the ids marked."""
    with read_session(engine) as s:
        running = s.execute(select(Run.id, Run.owner).where(Run.status == "running",  # type: ignore[arg-type]
                                                            Run.owner.is_not(None))).all()  # type: ignore[union-attr]
    dead = [(run_id, owner) for run_id, owner in running if leases.holder_is_dead(owner)]
    if dead:
        with write_session(engine) as s:
            for run_id, owner in dead:  # conditional: a concurrent sweep marks each run once
                s.connection().execute(update(Run).where(Run.id == run_id, Run.status == "running",  # type: ignore[arg-type]
                                          Run.owner == owner).values(
                    status="abandoned", finished_at=now or SYSTEM_CLOCK.now(),
                    error="the process running it ended without finishing the run (killed?)"))
    return [run_id for run_id, _ in dead]


def run_status(exc: BaseException) -> str:
    """How a run that raised ``exc`` ended: ``interrupted`` when it was stopped from outside (Ctrl-C,
    SIGTERM, interpreter exit), ``failed`` otherwise. Inside a Prefect flow run, Prefect turns SIGTERM
    into its own ``TerminationSignal`` (an ``ExternalSignal``), recognised by name so that the library
    needs no Prefect import."""
    if isinstance(exc, KeyboardInterrupt | SystemExit | Interrupted):
        return "interrupted"
    if any(cls.__name__ == "ExternalSignal" and cls.__module__.startswith("prefect") for cls in type(exc).__mro__):
        return "interrupted"
    return "failed"


def finish_run(engine: Engine, run_id: int, status: str, summary: dict[str, Any] | None = None,
               error: str | None = None, *, now: datetime | None = None) -> None:
    with write_session(engine) as s:
        s.connection().execute(update(Run).where(Run.id == run_id).values(  # type: ignore[arg-type]
            status=status, finished_at=now or SYSTEM_CLOCK.now(), summary=summary, error=error))
    # the search index takes the run's articles now rather than at the next search (where one exists)
    from ingest.store.searchengine import refresh

    refresh(engine, only_existing=True)
    from ingest.store.searchtrim import trim

    with write_session(engine) as s:  # its own short transaction (store/searchtrim.py)
        trim(s)
