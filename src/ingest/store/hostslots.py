"""Per-host politeness across processes: request slots leased in the archive database.

Every process sharing the archive (scheduled polls, backfills, any number of workers) takes a slot row
of ``host_slots`` before each request to a host, so at most ``per_host_concurrency`` requests are in
flight per host *in total*, and request starts on one host are at least ``per_host_delay_s`` apart.

Design (the simplest correct one we found): the rows of one host are locked together (``SELECT …
FOR UPDATE`` in slot order on PostgreSQL, one order, so no deadlock; ``BEGIN IMMEDIATE`` serialises
all writers on SQLite) while a process picks a free slot and reserves its start time; the request
then runs outside any transaction. A slot is released after the request. A process that dies
(SIGKILL, OOM) cannot release its slots: a process on the same machine sees the holder is gone
(:func:`ingest.store.leases.holder_is_dead`) and takes the slot at once; a holder on another machine keeps it
until its lease runs out, which is sized to the longest a request may hold a slot (the fetch timeout,
plus a margin), not minutes. Start times come from each process's clock: workers on
several machines need synchronised clocks (NTP) for the spacing to hold exactly.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, select, update

from ingest.store.db import insert_ignore, write_session, write_transaction
from ingest.store.leases import holder_is_dead
from ingest.store.models import HostSlot  # spacing is real seconds (ingest/clock.py)
from ingest.store.models import utcnow as real_now

LEASE = timedelta(minutes=5)  # default; the pipeline passes the fetch timeout plus LEASE_MARGIN
LEASE_MARGIN = timedelta(seconds=30)
WAIT_STEP_S = 0.05  # between attempts when every slot of a host is busy

# Two transactions per request: built once and run on a bare connection with parameters (an ORM
# session and per-call statements cost more CPU than the SQL, on the cores extraction needs).
_T = HostSlot.__table__  # type: ignore[attr-defined]
_SLOTS = select(_T.c.slot, _T.c.owner, _T.c.expires_at, _T.c.last_start_at).where(
    _T.c.host == bindparam("h")).order_by(_T.c.slot).with_for_update()
_TAKE = update(_T).where(_T.c.host == bindparam("h"), _T.c.slot == bindparam("s")).values(
    owner=bindparam("o"), expires_at=bindparam("until"), last_start_at=bindparam("start"))
_FREE = update(_T).where(_T.c.host == bindparam("h"), _T.c.slot == bindparam("s"),
                         _T.c.owner == bindparam("o")).values(owner=None, expires_at=None)


class HostSlots:
    def __init__(self, engine: Engine, owner: str, per_host: int, delay_s: float,
                 sleep: Callable[[float], None] = time.sleep, lease: timedelta = LEASE) -> None:
        self._engine = engine
        self._owner = owner
        self._per_host = per_host
        self._delay = timedelta(seconds=delay_s)
        self._sleep = sleep
        self._lease = lease  # from the reserved start: one hop of one request holds a slot at most this
        self._known: set[str] = set()

    def _ensure(self, host: str) -> None:
        if host in self._known:
            return
        with write_session(self._engine) as s:
            for slot in range(self._per_host):
                s.execute(insert_ignore(self._engine, HostSlot).values(host=host, slot=slot)
                          .on_conflict_do_nothing(index_elements=["host", "slot"]))
        self._known.add(host)

    def _try_acquire(self, host: str, owner: str) -> tuple[int, datetime] | None:
        """(slot, reserved start time), or None when every slot is busy."""
        with write_transaction(self._engine) as conn:
            rows = conn.execute(_SLOTS, {"h": host}).all()
            # "now" once the host's rows are ours: taken before, a wait for the lock (other writers of
            # the archive) would reserve a start already past, and the next request, spaced from that
            # reserved time, would start less than the delay after this one really did
            now = real_now()
            free = [r for r in rows if r.slot < self._per_host and
                    (r.owner is None or r.expires_at is None or r.expires_at < now
                     or holder_is_dead(r.owner))]
            if not free:
                return None
            last = max((r.last_start_at for r in rows if r.last_start_at is not None), default=None)
            start = max(now, last + self._delay) if last is not None else now
            conn.execute(_TAKE, {"h": host, "s": free[0].slot, "o": owner, "until": start + self._lease,
                                 "start": start})
            return free[0].slot, start

    def _release(self, host: str, slot: int, owner: str) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(_FREE, {"h": host, "s": slot, "o": owner})

    @contextlib.contextmanager
    def slot(self, host: str) -> Iterator[datetime]:
        """Hold one of the host's slots, from the reserved start time (yielded) on."""
        self._ensure(host)
        owner = f"{self._owner}:{random.getrandbits(32):08x}"  # one lease per request (threads share us)
        while (got := self._try_acquire(host, owner)) is None:
            self._sleep(random.uniform(WAIT_STEP_S / 2, WAIT_STEP_S))
        slot, start = got
        try:
            wait = (start - real_now()).total_seconds()  # measured after the commit: never start early
            if wait > 0:
                self._sleep(wait)
            yield start
        finally:
            self._release(host, slot, owner)
