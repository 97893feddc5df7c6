"""Stopping a process cleanly: one place a signal handler tells, every running poll listens.

A SIGTERM lands in the main thread, but the work may run elsewhere (a Prefect flow engine runs flows in
threads of its own, polls run sources in threads). So stopping is cooperative as well as an exception:
:func:`request_stop` sets the ``stopping`` event of every live :class:`~ingest.pipeline.stages.PollContext`
(each registers itself), and those stop sending requests, store what they fetched, and end their run as
``interrupted``; the handler then raises in the main thread, so the command exits and its exit
handlers stop what it started.
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import TypeVar

_lock = threading.Lock()
_events: weakref.WeakSet[threading.Event] = weakref.WeakSet()
_requested = threading.Event()


def register(event: threading.Event) -> None:
    """``event`` is set when the process is asked to stop (at once, if it already was)."""
    with _lock:
        _events.add(event)
        if _requested.is_set():
            event.set()


def request_stop() -> None:
    with _lock:
        _requested.set()
        for event in list(_events):
            event.set()


def requested() -> bool:
    return _requested.is_set()


F = TypeVar("F")
TICK_S = 1.0


def as_completed(futures: Iterable[F], tick: float = TICK_S) -> Iterator[F]:
    """The futures as they complete, like ``concurrent.futures.as_completed``, for any future with
    ``add_done_callback(fn)`` (concurrent and Prefect futures alike), waking every ``tick`` seconds.

    Why: Python runs a signal handler in the main thread only, when that thread runs. The kernel may
    deliver SIGTERM to any thread of the process; a main thread blocked in an untimed wait is then not
    woken, and the handler (ours, or Prefect's) would run only once the work is done."""
    pending = list(futures)
    done: queue.SimpleQueue[F] = queue.SimpleQueue()
    for future in pending:
        future.add_done_callback(done.put)  # type: ignore[attr-defined]
    for _ in range(len(pending)):
        while True:
            try:
                yield done.get(timeout=tick)
                break
            except queue.Empty:
                continue
