"""Validation of cron expressions with croniter, the parser Prefect's Cron schedules use.

Prefect vendors croniter (``prefect._vendor.croniter``), but importing anything under ``prefect``
costs ~2 s, and the configuration is validated by every command; the croniter package gives the same
semantics: five fields (or six, with seconds), names, ``@hourly``/``@daily`` …, ``L`` and ``#``. An
expression that can never fire (``0 0 30 2 *``) is refused too, where Prefect would accept it and
never run.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter


def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a valid cron expression, or None when it is."""
    if not isinstance(expr, str) or not expr.strip():
        return "a cron expression is needed (e.g. '*/15 * * * *')"
    if not croniter.is_valid(expr):
        fields = expr.split()
        if not expr.startswith("@") and len(fields) not in (5, 6):
            return f"a cron expression has 5 fields (minute hour day month weekday), got {len(fields)} in {expr!r}"
        return f"bad {_bad_field(fields)} in {expr!r}"
    try:
        croniter(expr, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        return f"{expr!r} never fires (no such date)"
    return None


_FIELDS = ("minute", "hour", "day of month", "month", "day of week", "second")


def _bad_field(fields: list[str]) -> str:
    """Which field croniter refuses: each is tried alone, the others ``*`` (croniter names none)."""
    for i, text in enumerate(fields[:6]):
        alone = ["*"] * len(fields)
        alone[i] = text
        if not croniter.is_valid(" ".join(alone)):
            return f"{_FIELDS[i]} field {text!r}"
    return "combination of fields"


def timezone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r} (use an IANA name such as 'UTC' or 'Europe/Kyiv')"
    return None
