"""Source leases: no two runs (any process, any worker) poll or backfill one source at once.

A lease is two columns on the source's row, taken with ONE conditional UPDATE: it succeeds only when
the lease is free, expired, or already ours, so the database decides races (SQLite serialises writers
with BEGIN IMMEDIATE; PostgreSQL row-locks the UPDATE and re-checks the condition). A run that cannot
take a source's lease skips that source and says so (``skipped`` in the run summary); the next
scheduled run picks it up.

A run that dies (SIGKILL, OOM killer, power cut) cannot release what it holds. Its lease runs out in
time; sooner than that, a process on the *same machine* sees that the holder is gone (the owner id
names host and PID namespace, pid and the pid's start time, so a recycled pid is not mistaken for
the holder, nor a process of another container) and takes
the lease over, again with one conditional UPDATE on that exact dead owner, so two takers cannot both
win. Holders on other machines are only ever freed by expiry: their liveness cannot be seen from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, or_, select, update

from ingest.clock import SYSTEM_CLOCK
from ingest.store.db import write_session
from ingest.store.models import Source
from ingest.store.owners import holder_is_dead, new_owner  # noqa: E402,F401  (their home before)


def acquire(engine: Engine, source_id: int, owner: str, duration: timedelta, *,
            now: datetime | None = None) -> bool:
    """Take (or renew) the source's lease until ``now + duration``; False when another live run holds it."""
    return source_id in acquire_many(engine, [source_id], owner, duration, now=now)


def acquire_many(engine: Engine, source_ids: Sequence[int], owner: str, duration: timedelta, *,
                 now: datetime | None = None) -> set[int]:
    """The sources among these whose lease this owner now holds: one transaction for all of them (a
    scheduled run claims every due source at once), one conditional UPDATE per source in it."""
    now = now or SYSTEM_CLOCK.now()
    taken: set[int] = set()
    if not source_ids:
        return taken
    with write_session(engine) as s:
        for source_id in source_ids:
            if _take(s, source_id, owner, now + duration, now):
                taken.add(source_id)
    return taken


def _take(s: Any, source_id: int, owner: str, until: datetime, now: datetime) -> bool:
    result = s.execute(update(Source).where(
        Source.id == source_id,
        or_(Source.lease_owner.is_(None), Source.lease_expires_at.is_(None),  # type: ignore[union-attr]
            Source.lease_expires_at < now, Source.lease_owner == owner),  # type: ignore[operator]
    ).values(lease_owner=owner, lease_expires_at=until))
    if result.rowcount == 1:
        return True
    holder = s.execute(select(Source.lease_owner).where(Source.id == source_id)).scalar_one_or_none()
    if not holder_is_dead(holder):
        return False
    taken = s.execute(update(Source).where(Source.id == source_id, Source.lease_owner == holder)
                      .values(lease_owner=owner, lease_expires_at=until))
    return bool(taken.rowcount == 1)


def release(engine: Engine, source_id: int, owner: str) -> None:
    release_many(engine, [source_id], owner)


def release_many(engine: Engine, source_ids: Sequence[int], owner: str) -> None:
    if not source_ids:
        return
    with write_session(engine) as s:
        s.execute(update(Source).where(Source.id.in_(list(source_ids)), Source.lease_owner == owner)  # type: ignore[union-attr]
                  .values(lease_owner=None, lease_expires_at=None))
