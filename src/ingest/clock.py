"""What time it is, as one object passed down from the run: never ``datetime.now()`` deep in the code.

Every decision that depends on the calendar (which sources are due, back-off and retry times, revision
re-checks, lease expiry, title-dedup windows, the times written on rows) takes its "now" from the run's
clock. :class:`SystemClock` is the wall clock; :class:`ManualClock` moves only when told, so tests and
the soak simulation (``tests/soakworld.py``) drive weeks of operation in minutes.

What a clock does *not* govern: real waiting. Per-host request spacing, HTTP timeouts and back-off
sleeps within one fetch are promises about real seconds to real servers (``time.monotonic``); a
simulated clock must not compress them.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that stands still until it is set or advanced (thread-safe)."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        when = _aware(when)
        with self._lock:
            if when < self._now:
                raise ValueError(f"a clock does not run backwards: {when} < {self._now}")
            self._now = when

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("clock times must be timezone-aware")
    return when.astimezone(UTC)
