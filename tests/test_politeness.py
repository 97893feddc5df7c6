"""Request starts on one host stay ``per_host_delay_s`` apart even when a thread starts late (a
loaded machine wakes a thread tens of ms after its planned start; the next thread, on time, must not
start right behind it)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from ingest.config import FetchSettings
from ingest.fetch.politeness import Politeness

DELAY = 0.2
LATE = 0.15  # the first request is held this long between its reservation and its start


def test_a_late_start_pushes_the_next_one_back() -> None:
    first = threading.Event()

    @contextlib.contextmanager
    def slow_first(host: str) -> Iterator[None]:
        if not first.is_set():
            first.set()
            time.sleep(LATE)  # as if the OS woke this thread late
        yield

    politeness = Politeness(FetchSettings(per_host_concurrency=2, per_host_delay_s=DELAY), time.sleep, slow_first)
    starts: list[float] = []
    lock = threading.Lock()

    def request() -> None:
        with politeness.slot("example.org") as start, lock:
            starts.append(start)  # the start it recorded: no scheduling noise in what is compared

    a = threading.Thread(target=request)
    a.start()
    time.sleep(0.02)  # a reserves first
    b = threading.Thread(target=request)
    b.start()
    a.join()
    b.join()
    assert len(starts) == 2
    # b's planned start was 0.2 s after a's plan; a really started 0.15 s late, so b waits for 0.2 s
    # after a's real start (a plan-only spacing would have been ~0.05 s)
    assert sorted(starts)[1] - sorted(starts)[0] >= DELAY
