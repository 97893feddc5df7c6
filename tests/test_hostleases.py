"""Per-host limits across processes, leased per batch of requests: two independent HostLeases (own engine,
own owner id, as two worker processes would have), or a HostLeases next to a per-request HostSlots, share
one host through the archive database; a host is leased once for many requests; a killed holder's host
is taken over at once on the same machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta

from sqlalchemy import select

from ingest.store import leases
from ingest.store.db import open_archive, open_engine, read_session
from ingest.store.hostleases import HostLeases
from ingest.store.hostslots import HostSlots
from ingest.store.models import HostSlot, utcnow


def _never_wait(_s: float) -> None:
    raise AssertionError("waited for a host that a dead process held")


def _run_requests(users: list, n: int, delay: float) -> list[tuple[float, float, float]]:
    intervals: list[tuple[float, float, float]] = []
    lock = threading.Lock()

    def request(user: object) -> None:
        with user.slot("news.example") as reserved:  # type: ignore[attr-defined]
            start = time.time()
            time.sleep(0.01)
            with lock:
                intervals.append((start, time.time(), reserved.timestamp()))

    threads = [threading.Thread(target=request, args=(users[i % len(users)],)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(intervals) == n
    return sorted(intervals)


def test_concurrency_and_spacing_hold_across_independent_leases(database_url: str) -> None:
    open_archive(database_url).dispose()
    delay = 0.05
    # a short max hold: the two users hand the host to each other while both keep asking
    users = [HostLeases(open_engine(database_url), f"proc-{i}", per_host=1, delay_s=delay, max_hold_s=0.15,
                        hold_s=0.05) for i in range(2)]
    a = HostSlots(open_engine(database_url), "per-request", per_host=1, delay_s=delay)  # and the old way
    try:
        intervals = _run_requests([*users, a], 12, delay)
    finally:
        for u in users:
            u.close()
    for (_, e1, r1), (s2, _, r2) in zip(intervals, intervals[1:], strict=False):
        assert s2 >= e1  # one at a time on this host, whichever process asks
        assert r2 - r1 >= delay - 1e-3  # reserved starts spaced by the delay …
    assert all(start >= reserved - 1e-3 for start, _, reserved in intervals)  # … and never started early
    with read_session(open_engine(database_url)) as s:
        assert s.execute(select(HostSlot.host, HostSlot.slot, HostSlot.owner)).all() == [("news.example", 0, None)]


def test_a_host_is_leased_once_for_a_batch_of_requests(database_url: str) -> None:
    engine = open_archive(database_url)
    user = HostLeases(engine, leases.new_owner("fetch"), per_host=2, delay_s=0, hold_s=60)
    owners = set()
    for _ in range(10):
        with user.slot("batch.example"), read_session(engine) as s:
            owners |= set(s.execute(select(HostSlot.owner)).scalars())
    assert len(owners) == 1 and None not in owners  # both rows, one lease, for all ten requests
    last = utcnow()
    user.close()
    with read_session(engine) as s:
        rows = s.execute(select(HostSlot.owner, HostSlot.last_start_at)).all()
    assert [o for o, _ in rows] == [None, None]
    assert all(at is not None and at <= last for _, at in rows)  # the last start, for the next holder


def test_prepare_leases_a_batch_of_hosts_in_one_go_and_skips_busy_ones(database_url: str) -> None:
    engine = open_archive(database_url)
    other = HostSlots(open_engine(database_url), "other-process", per_host=1, delay_s=0)
    user = HostLeases(engine, leases.new_owner("fetch"), per_host=1, delay_s=0, hold_s=60)
    with other.slot("busy.example"):
        user.prepare(["a.example", "b.example", "busy.example"])
        with read_session(engine) as s:
            held = dict(s.execute(select(HostSlot.host, HostSlot.owner)).all())
    assert held["a.example"] and held["b.example"] and held["a.example"] != held["b.example"]
    assert held["busy.example"].startswith("other-process")
    with user.slot("busy.example"):  # leased by its request, once the other process let go
        pass
    user.close()
    with read_session(engine) as s:
        assert set(s.execute(select(HostSlot.owner)).scalars()) == {None}


def test_a_killed_holders_host_is_taken_over_at_once(database_url: str) -> None:
    engine = open_archive(database_url)
    code = textwrap.dedent(f"""
        import os, signal
        from datetime import timedelta
        from ingest.store import leases
        from ingest.store.db import open_engine
        from ingest.store.hostleases import HostLeases
        slots = HostLeases(open_engine({database_url!r}), leases.new_owner("fetch"), per_host=2, delay_s=0,
                           lease=timedelta(hours=1))
        a = slots.slot("news.example")
        a.__enter__()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with read_session(engine) as s:
        assert all(o is not None for o in s.execute(select(HostSlot.owner)).scalars())
    user = HostLeases(engine, leases.new_owner("fetch"), per_host=2, delay_s=0, sleep=_never_wait)
    with user.slot("news.example"), user.slot("news.example"), read_session(engine) as s:
        assert {o.split(":")[2].split("@")[0] for o in s.execute(select(HostSlot.owner)).scalars()} == {
            str(os.getpid())}
    user.close()
    with read_session(engine) as s:
        assert list(s.execute(select(HostSlot.owner)).scalars()) == [None, None]


def test_a_live_holder_keeps_its_host(database_url: str) -> None:
    engine = open_archive(database_url)
    holder = HostLeases(engine, leases.new_owner("fetch"), per_host=1, delay_s=0, hold_s=60,
                        lease=timedelta(hours=1))
    waits: list[float] = []
    other = HostLeases(open_engine(database_url), leases.new_owner("fetch"), per_host=1, delay_s=0,
                       sleep=lambda s: (waits.append(s), time.sleep(s)))
    with holder.slot("kept.example"):
        pass
    done = threading.Event()

    def take() -> None:
        with other.slot("kept.example"):
            done.set()

    thread = threading.Thread(target=take)
    thread.start()
    assert not done.wait(0.5)  # held (idle, within hold_s): the other process waits
    holder.close()  # given back: now it gets it
    assert done.wait(30)
    thread.join(10)
    other.close()
    assert waits
