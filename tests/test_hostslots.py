"""Per-host limits across processes: two independent HostSlots (own engine, own owner id, as two
worker processes would have) share one host through the archive database."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select, update

from ingest.store.db import open_archive, open_engine, read_session, write_session
from ingest.store.hostslots import HostSlots
from ingest.store.models import HostSlot, utcnow


def test_concurrency_and_spacing_hold_across_independent_users(database_url: str) -> None:
    open_archive(database_url).dispose()
    delay = 0.05
    users = [HostSlots(open_engine(database_url), f"proc-{i}", per_host=1, delay_s=delay) for i in range(2)]
    intervals: list[tuple[float, float, float]] = []
    lock = threading.Lock()

    def request(user: HostSlots) -> None:
        with user.slot("news.example") as reserved:
            start = time.time()
            time.sleep(0.01)
            with lock:
                intervals.append((start, time.time(), reserved.timestamp()))

    threads = [threading.Thread(target=request, args=(users[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    intervals.sort()
    assert len(intervals) == 8
    for (_, e1, r1), (s2, _, r2) in zip(intervals, intervals[1:], strict=False):
        assert s2 >= e1  # one at a time on this host, whichever process asks
        assert r2 - r1 >= delay - 1e-6  # reserved starts spaced by the delay …
    assert all(start >= reserved for start, _, reserved in intervals)  # … and never started early
    with read_session(open_engine(database_url)) as s:
        assert s.execute(select(HostSlot.host, HostSlot.slot, HostSlot.owner)).all() == [("news.example", 0, None)]


def test_a_dead_holders_slot_is_taken_when_its_lease_runs_out(database_url: str) -> None:
    engine = open_archive(database_url)
    a = HostSlots(engine, "dead", per_host=1, delay_s=0)
    b = HostSlots(engine, "alive", per_host=1, delay_s=0, sleep=lambda _s: (_ for _ in ()).throw(
        AssertionError("must not wait: the slot is free")))
    a._ensure("h.example")
    with write_session(engine) as s:
        s.execute(update(HostSlot).values(owner="dead:1", expires_at=utcnow() - timedelta(seconds=1)))
    with b.slot("h.example"), read_session(engine) as s:
        assert s.execute(select(HostSlot.owner)).scalar_one().startswith("alive:")


def test_a_reservation_made_after_waiting_for_the_lock_is_not_in_the_past(database_url: str) -> None:
    """Found by the soak: the start time was read before the host's rows were locked, so a request that
    waited for the lock (other writers of the archive) reserved a start already past, and the next
    request, spaced from that, started less than the delay after this one really did."""
    from ingest.store.db import write_transaction
    from ingest.store.hostslots import _SLOTS

    open_archive(database_url).dispose()
    user = HostSlots(open_engine(database_url), "waiter", per_host=2, delay_s=0.0)
    user._ensure("locked.example")
    holder = open_engine(database_url)
    locked, released = threading.Event(), []

    def hold() -> None:
        with write_transaction(holder) as conn:
            conn.execute(_SLOTS, {"h": "locked.example"}).all()
            locked.set()
            time.sleep(0.3)
            released.append(utcnow())

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait(10)
    with user.slot("locked.example") as reserved:
        pass
    thread.join(10)
    assert reserved >= released[0]
