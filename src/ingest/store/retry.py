"""Re-run a write transaction that lost a race with another run.

Concurrent runs write the same unique keys (blobs, articles, text hashes, URL aliases) in whatever order
their pages arrive. On PostgreSQL two transactions that each wait for a key the other inserted first are
a deadlock: the server aborts one of them (40P01). On SQLite a writer that waited past the busy timeout
gets "database is locked". Both mean "your transaction was rolled back, nothing of it is stored": every
write is ``INSERT … ON CONFLICT DO NOTHING`` against unique keys, so running the transaction again is
safe, and it then finds the other run's committed rows. Anything else propagates unchanged.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

T = TypeVar("T")

ATTEMPTS = 5
RETRY_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def is_lost_race(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in RETRY_SQLSTATES:
        return True
    return "database is locked" in str(orig)


def retry_lost_races(fn: Callable[[], T], *, attempts: int = ATTEMPTS,
                     sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()`` (one whole write transaction), again after a short jittered pause if it lost a race."""
    for n in range(1, attempts + 1):
        try:
            return fn()
        except DBAPIError as exc:
            if n == attempts or not is_lost_race(exc):
                raise
            sleep(random.uniform(0, 0.05 * 2 ** n))
    raise AssertionError("unreachable")
