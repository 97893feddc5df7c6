"""The names of the typed columns of every table (a name has one type wherever it appears).

Plain-SQL reads convert these: JSON text to values, naive UTC timestamps to aware datetimes. Kept apart
from ``types.py`` so the stdlib ``sqlite3`` read path (``sqlitereads.py``) needs no SQLAlchemy import.
Add a new JSON or timestamp column here.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

JSON_COLUMNS = ("authors", "categories", "headers", "meta", "meta_refresh", "options", "organisations",
                "parameters", "redirects", "rolling", "summary", "verdict")
UTC_COLUMNS = ("at", "captured_at", "changed_at", "checked_at", "created_at", "drifting_since", "expires_at",
               "failing_since", "fetched_at", "finished_at", "first_seen_at", "gone_since", "last_body_at", "last_new_item_at", "last_polled_at",
               "last_seen_at", "last_start_at", "last_success_at", "lease_expires_at", "listed_updated_at", "modified_at",
               "next_attempt_at",
               "next_check_at", "next_poll_at", "published_at", "seen_at", "started_at", "updated_at",
               "validators_unreliable_since", "window_end", "window_start")


_JSON = frozenset(JSON_COLUMNS)
_UTC = frozenset(UTC_COLUMNS)


def decode_json(value: Any) -> Any:
    """A JSON column's value: drivers hand back text (SQLite) or the value already (psycopg's json)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


class RowMaker:
    """Rows with ``row.name`` access from a driver's plain tuples, the typed columns converted: what the
    direct read paths (``sqlitereads.py``, ``pgreads.py``) return. JSON columns are decoded here;
    ``utc`` turns the driver's value of a UTC column into an aware datetime."""

    def __init__(self, utc: Callable[[Any], Any]) -> None:
        self._utc = utc
        self._makers: dict[tuple[str, ...], Callable[[Sequence[Any]], Any]] = {}

    def _convert(self, column: str) -> Callable[[Any], Any] | None:
        if column in _JSON:
            return decode_json
        if column in _UTC:
            return self._utc
        return None

    def rows(self, columns: tuple[str, ...], fetched: Iterable[Sequence[Any]]) -> list[Any]:
        make = self._makers.get(columns)
        if make is None:
            make = self._makers[columns] = self._maker(columns)
        return [make(r) for r in fetched]

    def _maker(self, columns: tuple[str, ...]) -> Callable[[Sequence[Any]], Any]:
        """One function per column list that builds a row from a driver's tuple, converting only the
        typed columns. Generated source, as ``namedtuple`` builds its own: a generic loop over the typed
        columns of each row was a third of an export's CPU (~15 µs an article)."""
        row_type = namedtuple("Row", columns, rename=True)  # type: ignore[misc]
        converters = [self._convert(c) for c in columns]
        if not any(converters):
            return lambda r: row_type(*r)
        scope: dict[str, Any] = {"Row": row_type}
        args = []
        for i, f in enumerate(converters):
            if f is None:
                args.append(f"r[{i}]")
            else:
                scope[f"f{i}"] = f
                args.append(f"(None if r[{i}] is None else f{i}(r[{i}]))")
        return eval(f"lambda r: Row({', '.join(args)})", scope)  # noqa: S307 - source built above from indexes only
