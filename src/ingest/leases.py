"""Source leases: no two runs (any process, any worker) poll or backfill one source at once.

A lease is two columns on the source's row, taken with ONE conditional UPDATE: it succeeds only when
the lease is free, expired, or already ours, so the database decides races (SQLite serialises writers
with BEGIN IMMEDIATE; PostgreSQL row-locks the UPDATE and re-checks the condition). A run that dies
keeps its lease only until it expires. A run that cannot take a source's lease skips that source and
says so (``skipped`` in the run summary); the next scheduled run picks it up.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import Engine, or_, update

from ingest.store.db import write_session
from ingest.store.models import Source, utcnow


def new_owner(label: str = "run") -> str:
    """A lease owner id that says who holds it: host, pid and a random part."""
    return f"{label}:{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def acquire(engine: Engine, source_id: int, owner: str, duration: timedelta) -> bool:
    now = utcnow()
    with write_session(engine) as s:
        result = s.execute(update(Source).where(
            Source.id == source_id,
            or_(Source.lease_owner.is_(None), Source.lease_expires_at.is_(None),  # type: ignore[union-attr]
                Source.lease_expires_at < now, Source.lease_owner == owner),  # type: ignore[operator]
        ).values(lease_owner=owner, lease_expires_at=now + duration))
        return result.rowcount == 1  # type: ignore[attr-defined]


def release(engine: Engine, source_id: int, owner: str) -> None:
    with write_session(engine) as s:
        s.execute(update(Source).where(Source.id == source_id, Source.lease_owner == owner)
                  .values(lease_owner=None, lease_expires_at=None))
