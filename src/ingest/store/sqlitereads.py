"""The read commands' path to a SQLite archive, on the standard library's ``sqlite3`` module.

Why not SQLAlchemy here: importing it is ~0.2 s, two thirds of a read command's whole start
(``ingest search`` would take 0.42 s where ``sqlite-utils search`` takes 0.20 s). The read queries
(``query.py``, ``search.py``) are plain SQL with ``:name`` parameters already, so the only things
SQLAlchemy did for them are done here:

- typing: the columns named in ``columns.py`` come back as the ORM returns them (JSON decoded, naive
  UTC text to aware datetimes), so both paths return equal values (a test compares them);
- binding: datetimes are bound in SQLAlchemy's SQLite storage format (``YYYY-MM-DD HH:MM:SS.ffffff``,
  compared as text), and ``IN :name`` lists are expanded;
- the schema check: one SELECT of the version row; anything other than this ingest's head goes through
  ``db.open_archive`` for its full diagnosis.

The connection is read-only (``mode=ro``): a read command can never write, nor create a file.
PostgreSQL archives keep the SQLAlchemy engine; nothing here is used for writing.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ingest.store.columns import RowMaker

# SQLAlchemy's default DATETIME storage format on SQLite: stored values compare correctly as text only
# when bound values use the same format.
_STORAGE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_SQLITE_URL = re.compile(r"^sqlite(?:\+pysqlite)?:///(?P<path>[^?]+)$")
BUSY_TIMEOUT_S = 60.0


class _Dialect:
    name = "sqlite"


class LiteConnection:
    """One read-only ``sqlite3`` connection, answering ``rows()`` like ``reads.rows`` does."""

    dialect = _Dialect()
    direct = True  # reads.rows: not SQLAlchemy

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._rows = RowMaker(_utc)

    def rows(self, sql: str, params: Mapping[str, Any] | None = None, *,
             expanding: Sequence[str] = ()) -> list[Any]:
        bound: dict[str, Any] = {}
        for name, value in (params or {}).items():
            if name in expanding:
                values = list(value)
                names = [f"{name}__{i}" for i in range(len(values))]
                # SQLite accepts an empty list: ``x IN ()`` is false, as SQLAlchemy's rendering is
                sql = re.sub(rf":{name}\b", "(" + ", ".join(":" + n for n in names) + ")", sql)
                bound.update({n: _bind(v) for n, v in zip(names, values, strict=True)})
            else:
                bound[name] = _bind(value)
        cursor = self._conn.execute(sql, bound)
        return self._rows.rows(tuple(d[0] for d in cursor.description or ()), cursor)

    def close(self) -> None:
        self._conn.close()


class LiteArchive:
    """What the read commands need of an engine: ``dialect.name``, ``url``, ``connect()``, ``dispose()``,
    and the errors its statements raise."""

    dialect = _Dialect()
    read_errors = (sqlite3.Error,)
    syntax_errors = (sqlite3.OperationalError,)

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        self.path = path

    @contextmanager
    def connect(self) -> Iterator[LiteConnection]:
        conn = LiteConnection(_connect(self.path))
        try:
            yield conn
        finally:
            conn.close()

    def dispose(self) -> None:
        """Nothing is pooled: each ``connect()`` closes its connection."""


def sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URL; None for anything else (memory, URI forms, options,
    other engines), which takes the SQLAlchemy path."""
    match = _SQLITE_URL.match(url)
    if match is None or match["path"] in (":memory:", "") or match["path"].startswith("file:"):
        return None
    return Path(match["path"]).expanduser()


def open_lite(url: str, schema_head: str) -> LiteArchive | None:
    """A read-only archive on ``sqlite3`` when ``url`` is an existing SQLite file at ``schema_head``;
    None when anything else is the case, so the caller takes the SQLAlchemy path and its messages."""
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    try:
        conn = _connect(path)
        try:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    if version is None or version[0] != schema_head:
        return None
    return LiteArchive(url, path)


def _connect(path: Path) -> sqlite3.Connection:
    # mode=ro: never creates the file, never writes; a WAL archive being written by a poll stays readable
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return conn


def _bind(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime(_STORAGE_FORMAT)
    return value


def _utc(value: Any) -> Any:
    if isinstance(value, str):
        try:  # parsed with its offset: 0.13 µs, where .replace(tzinfo=UTC) afterwards costs 0.85
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:  # a value that has an offset of its own (not written by ingest)
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value
