"""Retrying a write transaction that the database aborted to break a deadlock.

Concurrent runs insert overlapping keys (blobs, URLs, text hashes) in different orders; PostgreSQL
detects the resulting lock cycle and aborts one transaction (SQLSTATE 40P01; 40001 for serialisation
failures). The aborted transaction left nothing behind, so running it again is correct, and the
unique keys make the retry see the other run's rows as already there.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import OperationalError

T = TypeVar("T")
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 6


def is_retryable(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def retry_transaction(fn: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except OperationalError as exc:
            if not is_retryable(exc) or attempt == attempts:
                raise
            time.sleep(random.uniform(0, 0.05 * 2 ** attempt))  # let the winner commit first
    raise AssertionError("unreachable")
