"""The names of the typed columns of every table (a name has one type wherever it appears).

Plain-SQL reads convert these: JSON text to values, naive UTC timestamps to aware datetimes. Kept apart
from ``types.py`` so the stdlib ``sqlite3`` read path (``sqlitereads.py``) needs no SQLAlchemy import.
Add a new JSON or timestamp column here.
"""

from __future__ import annotations

JSON_COLUMNS = ("authors", "categories", "headers", "meta", "meta_refresh", "options", "organisations",
                "parameters", "redirects", "rolling", "summary", "verdict")
UTC_COLUMNS = ("at", "captured_at", "changed_at", "checked_at", "created_at", "drifting_since", "expires_at",
               "failing_since", "fetched_at", "finished_at", "first_seen_at", "gone_since", "last_body_at", "last_new_item_at", "last_polled_at",
               "last_seen_at", "last_start_at", "last_success_at", "lease_expires_at", "listed_updated_at", "modified_at",
               "next_attempt_at",
               "next_check_at", "next_poll_at", "published_at", "seen_at", "started_at", "updated_at",
               "validators_unreliable_since", "window_end", "window_start")
