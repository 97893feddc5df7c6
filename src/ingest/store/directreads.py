"""The read commands' archive without SQLAlchemy: ``sqlite3`` for a SQLite file, psycopg for
PostgreSQL, read-only, when the archive is at this ingest's schema; None otherwise (the caller then
takes SQLAlchemy's engine and its messages). ``INGEST_DIRECT_READS=0`` turns both off."""

from __future__ import annotations

import os
from typing import Any

from ingest.store.dburls import normalize_url
from ingest.store.head import SCHEMA_HEAD


def open_direct(url: str) -> Any | None:
    if os.environ.get("INGEST_DIRECT_READS", "1") == "0":
        return None
    url = normalize_url(url)
    if url.startswith("sqlite"):
        from ingest.store.sqlitereads import open_lite

        return open_lite(url, SCHEMA_HEAD)
    if url.startswith("postgres"):
        from ingest.store.pgreads import open_pg

        return open_pg(url, SCHEMA_HEAD)
    return None
