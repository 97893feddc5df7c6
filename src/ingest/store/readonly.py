"""A read-only engine on an archive, for ``ingest web``: the database itself refuses every write.

SQLite: the file opened with ``mode=ro`` (an URI), and ``PRAGMA query_only``: no statement can write,
nor create the file. PostgreSQL: each connection's session is ``default_transaction_read_only``, so
every transaction it opens is ``READ ONLY`` (a write fails with ``cannot execute … in a read-only
transaction``). The schema is checked with one SELECT and never created or migrated.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ingest.errors import DatabaseError, SchemaMismatchError
from ingest.store.db import SQLITE_BUSY_TIMEOUT_MS, current_revision, normalize_url, redacted
from ingest.store.head import SCHEMA_HEAD


def open_readonly(url: str) -> Engine:
    """An engine on an existing archive at this ingest's schema, through which nothing can be written."""
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"not a database URL: {url!r} (e.g. sqlite:///data/archive.db)") from None
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite(parsed.database or "")
    elif parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_pre_ping=True)
        event.listen(engine, "connect", _postgres_read_only)
    else:
        raise DatabaseError(f"unsupported database {redacted(url)}: use SQLite or PostgreSQL")
    revision = current_revision(engine)
    if revision != SCHEMA_HEAD:
        engine.dispose()
        raise SchemaMismatchError(
            f"database {redacted(url)} is at schema {revision or '(none)'}, this ingest reads {SCHEMA_HEAD}: "
            "run `ingest db upgrade` (after a backup)" if revision else
            f"database {redacted(url)} is not an ingest archive (no schema version)")
    return engine


def _sqlite(database: str) -> Engine:
    if not database or database == ":memory:" or database.startswith("file:"):
        raise DatabaseError("a read-only SQLite archive needs a file path (sqlite:///path/to/archive.db)")
    path = Path(database).expanduser().resolve()
    if not path.is_file():
        raise DatabaseError(f"no archive at {path}")
    uri = f"file:{quote(str(path))}?mode=ro"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        conn.isolation_level = None  # transactions as SQLAlchemy asks for them (below)
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        return conn

    engine = create_engine("sqlite://", creator=connect)
    engine.path = path  # type: ignore[attr-defined]  # the file behind the creator (its search index's place)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")  # deferred: a reader never asks for the write lock

    return engine


def _postgres_read_only(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cursor.close()
    dbapi_conn.commit()
