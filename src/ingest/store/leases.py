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

from sqlalchemy import Connection, Engine, bindparam, or_, select, update

from ingest.clock import SYSTEM_CLOCK
from ingest.store.db import write_transaction
from ingest.store.models import Source
from ingest.store.owners import holder_is_dead, new_owner  # noqa: E402,F401  (their home before)
from ingest.store.retry import retry_lost_races


def acquire(engine: Engine, source_id: int, owner: str, duration: timedelta, *,
            now: datetime | None = None) -> bool:
    """Take (or renew) the source's lease until ``now + duration``; False when another live run holds it."""
    return source_id in acquire_many(engine, [source_id], owner, duration, now=now)


def acquire_many(engine: Engine, source_ids: Sequence[int], owner: str, duration: timedelta, *,
                 now: datetime | None = None) -> set[int]:
    """The sources among these whose lease this owner now holds: one transaction for all of them (a
    scheduled run claims every due source at once). The free ones are taken by one conditional UPDATE
    per chunk of ids (RETURNING says which); only the rest are looked at one by one, for dead holders."""
    now = now or SYSTEM_CLOCK.now()
    taken: set[int] = set()
    if not source_ids:
        return taken
    until = now + duration
    # Rows are locked in id order, whatever order the caller's list has: two runs claiming overlapping
    # sets in different orders (due sources first, then those with page work only) each held a row the
    # other waited for, and PostgreSQL aborted one (the 90-day soak's scheduler died of it, day 39).
    ids = sorted(set(source_ids))

    def claim() -> set[int]:
        got: set[int] = set()
        with write_transaction(engine) as conn:
            for i in range(0, len(ids), CHUNK):
                chunk = ids[i:i + CHUNK]
                _lock_in_order(conn, chunk)
                got |= set(conn.execute(_TAKE_FREE, {"ids": chunk, "o": owner, "until": until,
                                                     "now": now}).scalars())
            for source_id in ids:
                if source_id not in got and _take_from_dead(conn, source_id, owner, until):
                    got.add(source_id)
        return got

    # Another writer may still lock source rows in its own order (a poll's source update): a lost race
    # rolled the whole claim back, and claiming again is safe.
    taken |= retry_lost_races(claim)
    return taken


def _lock_in_order(conn: Connection, ids: list[int]) -> None:
    """PostgreSQL: row-lock these sources in id order before the UPDATE (whose own lock order is the
    plan's scan order). SQLite needs nothing: BEGIN IMMEDIATE already holds the only write lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK, {"ids": ids}).all()


CHUNK = 500  # ids per statement: well under SQLite's and PostgreSQL's bound-parameter limits
_S = Source.__table__  # type: ignore[attr-defined]
# Core statements built once: ORM-enabled UPDATEs (session synchronisation, per-call compilation) cost
# ~9 ms each, 9 s for a run claiming 1,000 sources
_TAKE_FREE = update(_S).where(
    _S.c.id.in_(bindparam("ids", expanding=True)),
    or_(_S.c.lease_owner.is_(None), _S.c.lease_expires_at.is_(None), _S.c.lease_expires_at < bindparam("now"),
        _S.c.lease_owner == bindparam("o")),
).values(lease_owner=bindparam("o"), lease_expires_at=bindparam("until")).returning(_S.c.id)
_LOCK = select(_S.c.id).where(_S.c.id.in_(bindparam("ids", expanding=True))).order_by(_S.c.id).with_for_update()
_HOLDER = select(_S.c.lease_owner).where(_S.c.id == bindparam("sid"))
_TAKE_OVER = update(_S).where(_S.c.id == bindparam("sid"), _S.c.lease_owner == bindparam("holder")).values(
    lease_owner=bindparam("o"), lease_expires_at=bindparam("until"))
_RELEASE = update(_S).where(_S.c.id.in_(bindparam("ids", expanding=True)), _S.c.lease_owner == bindparam("o")).values(
    lease_owner=None, lease_expires_at=None)


def _take_from_dead(conn: Connection, source_id: int, owner: str, until: datetime) -> bool:
    """Take the lease of a source whose holder's process is gone (same machine), on that exact holder:
    two takers cannot both win."""
    holder = conn.execute(_HOLDER, {"sid": source_id}).scalar_one_or_none()
    if not holder_is_dead(holder):
        return False
    taken = conn.execute(_TAKE_OVER, {"sid": source_id, "holder": holder, "o": owner, "until": until})
    return bool(taken.rowcount == 1)


def release(engine: Engine, source_id: int, owner: str) -> None:
    release_many(engine, [source_id], owner)


def release_many(engine: Engine, source_ids: Sequence[int], owner: str) -> None:
    if not source_ids:
        return
    ids = sorted(set(source_ids))

    def release_them() -> None:
        with write_transaction(engine) as conn:
            for i in range(0, len(ids), CHUNK):
                _lock_in_order(conn, ids[i:i + CHUNK])
                conn.execute(_RELEASE, {"ids": ids[i:i + CHUNK], "o": owner})

    retry_lost_races(release_them)
