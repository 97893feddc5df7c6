"""Per-host politeness across processes, leased per batch of requests instead of per request.

:class:`~ingest.store.hostslots.HostSlots` takes a slot row before each request and frees it after: two
write transactions per request, and on SQLite every one of them queues for the archive's single write
lock behind the page writes, which made them most of a re-poll's cost (1,000 unchanged feeds: 2,000 of
the run's ~4,000 write transactions). :class:`HostLeases` keeps the same rows and the same guarantees:

* a process leases *all* of a host's slot rows at once (one transaction, the rows locked together as in
  HostSlots), and then runs any number of requests to that host with no database work: its own
  in-process limits (at most ``per_host`` in flight, starts ``delay_s`` apart) are the only ones that
  apply while it holds the host, so the host's totals across processes are exactly those limits;
* a batch about to fetch leases the free hosts it needs together (:meth:`HostLeases.prepare`, one
  transaction); hosts unused for ``hold_s`` are given back together (one transaction, recording each
  host's last request start) by a background thread; after ``max_hold_s`` a process stops starting
  requests on a host, lets the running ones finish, gives it back and leases it again, so other
  processes get their turn;
* spacing across processes: a process that leases a host starts no request before the last start
  recorded there plus ``delay_s``; one that takes a host over from a dead holder (same machine) or an
  expired one starts none before ``now + delay_s`` (the dead one started nothing after now);
* the lease's expiry covers the longest it may be held: ``max_hold_s``, the spacing of the requests
  already reserved, and one request's deadline (``lease``, the fetch timeout plus a margin). A killed
  holder's host is taken over at once on the same machine, on expiry elsewhere.

Processes using HostSlots and HostLeases on one archive exclude each other correctly: a lease needs every
slot row free, and a slot row taken per request keeps the host from being leased.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, update

from ingest.store.db import insert_ignore, write_transaction
from ingest.store.hostslots import _SLOTS, _T, LEASE, WAIT_STEP_S
from ingest.store.leases import holder_is_dead
from ingest.store.models import HostSlot
from ingest.store.models import utcnow as real_now  # spacing is real seconds (ingest/clock.py)

HOLD_S = 3.0  # a host unused this long (plus the delay) is given back
MAX_HOLD_S = 10.0  # then another process may have its turn

_LEASE_ALL = update(_T).where(_T.c.host == bindparam("h"), _T.c.slot < bindparam("n")).values(
    owner=bindparam("o"), expires_at=bindparam("until"), last_start_at=bindparam("start"))
_GIVE_BACK = update(_T).where(_T.c.host == bindparam("h"), _T.c.owner == bindparam("o")).values(
    owner=None, expires_at=None, last_start_at=bindparam("last"))


@dataclass
class _Host:
    cond: threading.Condition = field(default_factory=threading.Condition)
    held: bool = False
    busy: bool = False  # a thread is leasing or giving back the host (outside the condition's lock)
    draining: bool = False  # past max_hold: no new request until the host is given back
    users: int = 0  # requests of this process holding the host now
    since: float = 0.0  # monotonic time the lease was taken
    idle_since: float = 0.0
    floor: datetime | None = None  # no start before this (other processes' last start + delay)
    next_start: datetime | None = None  # this process's next free start
    last_start: datetime | None = None  # the latest start this process made (or may have made)
    owner: str = ""


class HostLeases:
    """The cross-process per-host limit, one lease per host and batch of requests (see the module)."""

    def __init__(self, engine: Engine, owner: str, per_host: int, delay_s: float, *, lease: timedelta = LEASE,
                 hold_s: float = HOLD_S, max_hold_s: float = MAX_HOLD_S,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._engine = engine
        self._owner = owner
        self._per_host = per_host
        self._delay = timedelta(seconds=delay_s)
        self._lease = lease
        self._hold_s = hold_s + delay_s
        self._max_hold_s = max_hold_s
        self._sleep = sleep
        self._lock = threading.Lock()
        self._hosts: dict[str, _Host] = {}
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    # --- the database side ---------------------------------------------------------------------

    def _try_lease(self, host: str, owner: str) -> datetime | None:
        """Lease every slot row of the host; the earliest start allowed, or None when any is busy."""
        return self._try_lease_many({host: owner}).get(host)

    def _try_lease_many(self, owners: dict[str, str]) -> dict[str, datetime]:
        """Lease every slot row of each of these hosts that is free, in one transaction (hosts in one
        order, each host's rows locked together: no deadlock); host -> the earliest start allowed."""
        out: dict[str, datetime] = {}
        with write_transaction(self._engine) as conn:
            conn.execute(insert_ignore(self._engine, HostSlot).on_conflict_do_nothing(
                index_elements=["host", "slot"]), [{"host": h, "slot": i} for h in sorted(owners)
                                                   for i in range(self._per_host)])
            for host in sorted(owners):
                rows = [r for r in conn.execute(_SLOTS, {"h": host}).all() if r.slot < self._per_host]
                now = real_now()  # once the rows are ours (see HostSlots._try_acquire)
                floor: datetime | None = now
                for r in rows:
                    if r.owner is None:
                        continue
                    if r.expires_at is not None and r.expires_at >= now and not holder_is_dead(r.owner):
                        floor = None
                        break
                    floor = now + self._delay  # taken over: whatever the holder started, it started before now
                if floor is None:
                    continue
                last = max((r.last_start_at for r in rows if r.last_start_at is not None), default=None)
                if last is not None:
                    floor = max(floor, last + self._delay)
                until = floor + timedelta(seconds=self._max_hold_s) + self._per_host * self._delay + self._lease
                conn.execute(_LEASE_ALL, {"h": host, "n": self._per_host, "o": owners[host], "until": until,
                                          "start": floor})
                out[host] = floor
        return out

    def _give_back(self, host: str, st: _Host) -> None:
        self._give_back_many([(host, st)])

    def _give_back_many(self, hosts: list[tuple[str, _Host]]) -> None:
        with write_transaction(self._engine) as conn:
            for host, st in sorted(hosts, key=lambda h: h[0]):
                conn.execute(_GIVE_BACK, {"h": host, "o": st.owner, "last": st.last_start})

    def prepare(self, hosts: Iterable[str]) -> None:
        """Lease, in one transaction, the free ones of these hosts that this process does not hold yet
        (a batch is about to fetch from them); the others are leased by their first request as usual."""
        todo: dict[str, str] = {}
        states: dict[str, _Host] = {}
        for host in set(hosts):
            st, _ = self._host(host)
            with st.cond:
                if st.held or st.busy:
                    continue
                st.busy = True
            states[host] = st
            todo[host] = f"{self._owner}:{random.getrandbits(32):08x}"
        if not todo:
            return
        taken: dict[str, datetime] = {}
        try:
            taken = self._try_lease_many(todo)
        finally:
            for host, st in states.items():
                with st.cond:
                    if host in taken:
                        st.held, st.owner, st.since, st.floor = True, todo[host], time.monotonic(), taken[host]
                        st.next_start, st.idle_since = None, time.monotonic()
                    st.busy = False
                    st.cond.notify_all()

    # --- the process side ----------------------------------------------------------------------

    def _host(self, host: str) -> tuple[_Host, threading.BoundedSemaphore]:
        with self._lock:
            if host not in self._hosts:
                self._hosts[host] = _Host()
                self._slots[host] = threading.BoundedSemaphore(self._per_host)
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="ingest-host-leases", daemon=True)
                self._reaper.start()
            return self._hosts[host], self._slots[host]

    def _enter(self, host: str, st: _Host) -> datetime:
        """Make sure this process holds the host, and reserve a start; returns the reserved start."""
        with st.cond:
            while True:
                if st.held and not st.draining and time.monotonic() - st.since >= self._max_hold_s:
                    st.draining = True
                if st.held and not st.draining:
                    break
                if st.busy or (st.held and st.users):  # someone else is at it, or the host is draining
                    st.cond.wait(0.5)
                    continue
                st.busy = True
                st.cond.release()
                try:
                    if st.held:  # drained: give it back, and give a waiting process its chance to take it
                        self._give_back(host, st)
                        st.held = st.draining = False
                        self._sleep(random.uniform(WAIT_STEP_S, 2 * WAIT_STEP_S))
                    owner = f"{self._owner}:{random.getrandbits(32):08x}"
                    while (floor := self._try_lease(host, owner)) is None:
                        self._sleep(random.uniform(WAIT_STEP_S / 2, WAIT_STEP_S))
                    st.held, st.owner, st.since, st.floor = True, owner, time.monotonic(), floor
                    st.next_start = None
                finally:
                    st.cond.acquire()
                    st.busy = False
                    st.cond.notify_all()
            now = real_now()
            start = max(now, st.floor or now, st.next_start or now)
            st.next_start = start + self._delay
            st.last_start = max(st.last_start or start, start)
            st.users += 1
            return start

    def _leave(self, st: _Host) -> None:
        with st.cond:
            st.users -= 1
            # the request started before now: recording now is never earlier than its real start
            st.last_start = max(st.last_start or real_now(), real_now())
            st.idle_since = time.monotonic()
            st.cond.notify_all()

    @contextlib.contextmanager
    def slot(self, host: str) -> Iterator[datetime]:
        """Hold one of the host's ``per_host`` request slots of this process, from the reserved start
        time (yielded) on; the host itself is leased for this process as long as it is in use."""
        st, sem = self._host(host)
        with sem:
            start = self._enter(host, st)
            try:
                wait = (start - real_now()).total_seconds()
                if wait > 0:
                    self._sleep(wait)
                yield start
            finally:
                self._leave(st)

    def _release_idle(self, *, everything: bool = False) -> None:
        """Give back, in one transaction, every host unused for ``hold_s`` (or all of them)."""
        with self._lock:
            hosts = list(self._hosts.items())
        idle: list[tuple[str, _Host]] = []
        for host, st in hosts:
            with st.cond:
                if st.held and not st.busy and st.users == 0 and (
                        everything or time.monotonic() - st.idle_since >= self._hold_s or st.draining):
                    st.busy = True
                    idle.append((host, st))
        if not idle:
            return
        done = False
        try:
            self._give_back_many(idle)
            done = True
        finally:
            for _, st in idle:
                with st.cond:
                    if done:
                        st.held = st.draining = False
                    st.busy = False
                    st.cond.notify_all()

    def _reap(self) -> None:
        while not self._stop.wait(min(0.25, self._hold_s / 2)):
            with contextlib.suppress(Exception):  # a failed give-back is retried; expiry covers a dead archive
                self._release_idle()

    def close(self) -> None:
        """Give back every host (the run is over: no request of it is in flight)."""
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(5)
        self._release_idle(everything=True)
