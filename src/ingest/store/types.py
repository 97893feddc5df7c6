"""Column types shared by the tables (``models.py``) and the plain-SQL reads (``query.py``), importable
without SQLModel (building the table classes costs ~0.1 s, too much for a read command's start)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, TypeDecorator

from ingest.store.columns import JSON_COLUMNS, UTC_COLUMNS


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC, returned timezone-aware: SQLite has no time zones, and PostgreSQL
    ``timestamp without time zone`` keeps both dialects identical."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# The typed columns of every table, by name: plain-SQL reads attach these types to their results, so
# they get what the ORM would return (the names live in columns.py, importable without SQLAlchemy).
COLUMN_TYPES: dict[str, Any] = {**{c: JSON for c in JSON_COLUMNS}, **{c: UTCDateTime() for c in UTC_COLUMNS}}
