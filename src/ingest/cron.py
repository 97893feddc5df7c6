"""Validation of five-field cron expressions, as Prefect's Cron schedules accept them.

The configuration is validated without importing Prefect (that costs ~2 s per command), so this is
a small checker of the standard syntax: ``*``, numbers, ranges, steps, lists, and month/day names.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names mapped to numbers)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {d: i for i, d in enumerate(_DAYS)}),
)
_PART_RE = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/([0-9]+))?$")


def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a valid cron expression, or None when it is."""
    fields = expr.split()
    if len(fields) != 5:
        return f"a cron expression has 5 fields (minute hour day month weekday), got {len(fields)} in {expr!r}"
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        for part in text.lower().split(","):
            m = _PART_RE.match(part)
            if not m:
                return f"bad {name} field {text!r} in {expr!r}"
            base, step = m.groups()
            if step is not None and int(step) == 0:
                return f"step 0 in {name} field {text!r} of {expr!r}"
            if base == "*":
                continue
            for value in base.split("-"):
                number = names.get(value, int(value) if value.isdigit() else None)
                if number is None or not low <= number <= high:
                    return f"{name} {value!r} out of range {low}-{high} in {expr!r}"
    return None


def timezone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r} (use an IANA name such as 'UTC' or 'Europe/Kyiv')"
    return None
