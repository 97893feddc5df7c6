"""Column types shared by the tables (``models.py``) and the plain-SQL reads (``query.py``), importable
without SQLModel (building the table classes costs ~0.1 s, too much for a read command's start)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, TypeDecorator


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


# The typed columns of every table, by name (a name has one type wherever it appears): plain-SQL reads
# attach these to their results, so they get what the ORM would return.
JSON_COLUMNS = ("authors", "categories", "headers", "meta", "meta_refresh", "options", "parameters",
                "redirects", "summary")
UTC_COLUMNS = ("at", "changed_at", "expires_at", "last_start_at", "seen_at", "window_end", "window_start", "checked_at", "created_at", "failing_since", "fetched_at", "finished_at",
               "first_seen_at", "gone_since", "last_body_at", "last_new_item_at", "last_polled_at",
               "last_seen_at", "last_success_at", "lease_expires_at", "listed_updated_at", "next_attempt_at",
               "next_check_at", "next_poll_at", "published_at", "started_at", "updated_at",
               "validators_unreliable_since")
COLUMN_TYPES: dict[str, Any] = {**{c: JSON for c in JSON_COLUMNS}, **{c: UTCDateTime() for c in UTC_COLUMNS}}
