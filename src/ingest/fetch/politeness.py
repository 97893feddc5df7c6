"""Politeness shared by every thread of one fetcher: per-host concurrency, spacing between request
starts on one host, and a cap on requests in flight overall."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from ingest.config import FetchSettings

ON_TIME_S = 0.002  # a start this close to its planned time counts as on time


class Politeness:
    """Per-host concurrency and start spacing, and a global in-flight cap, across threads."""

    def __init__(self, settings: FetchSettings, sleep: Callable[[float], None],
                 shared: Callable[[str], contextlib.AbstractContextManager[object]] | None = None) -> None:
        # shared: the cross-process limit (store/hostslots.py), taken inside the in-process one
        self._shared = shared
        self._per_host = settings.per_host_concurrency
        self._delay = settings.per_host_delay_s
        self._sleep = sleep
        self._lock = threading.Lock()
        self._hosts: dict[str, threading.Semaphore] = {}
        self._next_start: dict[str, float] = {}
        self._last_start: dict[str, float] = {}
        self._start_locks: dict[str, threading.Lock] = {}
        self._total = threading.BoundedSemaphore(settings.max_connections)

    @contextlib.contextmanager
    def slot(self, host: str) -> Iterator[float]:
        """Hold a request slot of ``host``; yields the request's start (``time.monotonic()``)."""
        with self._lock:
            sem = self._hosts.setdefault(host, threading.BoundedSemaphore(self._per_host))
        # Always host first, then global: one order, so no deadlock; and a thread waiting for a
        # busy host does not sit on a global slot.
        with sem, self._total:
            with self._lock:  # reserve a start time: consecutive starts at least `delay` apart
                now = time.monotonic()
                start = max(now, self._next_start.get(host, now))
                self._next_start[host] = start + self._delay
                start_lock = self._start_locks.setdefault(host, threading.Lock())
            if start > now:
                self._sleep(start - now)
            with self._shared(host) if self._shared else contextlib.nullcontext():
                # The reservation is a plan; a thread the OS wakes late (a loaded machine: 30 ms was
                # seen) would start just before the next one, which woke on time. So the actual starts
                # are spaced too: each waits for `delay` after the last real start on its host.
                # (Times are the later of the clock and the planned start: an injected sleep that
                # returns at once, in tests, counts as having slept.)
                with start_lock:
                    last = self._last_start.get(host)
                    now = time.monotonic()
                    now = start if now - start < ON_TIME_S else now
                    if last is not None and now < last + self._delay:
                        self._sleep(last + self._delay - now)
                        now = max(time.monotonic(), last + self._delay)
                    self._last_start[host] = now
                yield now
