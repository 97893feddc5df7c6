"""The read commands' path to a PostgreSQL archive, on psycopg2 alone (``sqlitereads.py`` for SQLite).

Why not SQLAlchemy here: importing it with its PostgreSQL dialect is ~0.25 s, most of a read command's
start (measured at 100,000 articles: ``ingest search`` took 0.72 s through SQLAlchemy). Why psycopg2
and not psycopg (3), which SQLAlchemy writes through: importing psycopg is 90-150 ms on this machine
(its error classes, asyncio, ``importlib.metadata`` for its binary's version, ctypes), psycopg2 25 ms,
and that difference was what kept ``ingest sources`` and ``stats`` on PostgreSQL over 0.2 s. The read
queries are plain SQL with ``:name`` parameters already, so what SQLAlchemy did for them is done here:

- binding: ``:name`` becomes the driver's ``%(name)s`` (found as SQLAlchemy's ``text()`` finds them, so
  ``::`` casts stay casts), literal ``%`` is doubled, and an ``IN :name`` list becomes ``= ANY(…)``
  (``NOT IN`` becomes ``<> ALL(…)``), which is right for an empty list too; aware datetimes are bound
  as naive UTC, as ``types.UTCDateTime`` binds them;
- typing: the UTC columns (``columns.py``, ``timestamp without time zone`` holding UTC) come back
  aware, JSON columns decoded (psycopg2 decodes ``json`` itself; text is decoded here), and ``bytea``
  comes back as ``bytes`` (psycopg2's default is a memoryview), so both paths return equal values (a test
  compares them);
- the schema check: one SELECT of the version row; anything other than this ingest's head, and any
  connection problem, goes through ``db.open_archive`` for its full diagnosis.

Every transaction is ``READ ONLY``: a read command can never write. Nothing here is used for writing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

from ingest.store.columns import RowMaker
from ingest.store.dburls import hide_password, normalize_url

# SQLAlchemy's own pattern for text() binds: a colon not after another colon, a word or a backslash
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
_URL = re.compile(r"^postgres(?:ql)?(?:\+psycopg2?)?://")


class _Dialect:
    name = "postgresql"


class PgURL:
    """What ``searchengine.index_dir`` asks of an engine's URL, as SQLAlchemy's ``URL`` answers it."""

    drivername = "postgresql+psycopg"

    def __init__(self, url: str, database: str | None, hidden: str) -> None:
        self._url, self.database, self._hidden = url, database, hidden

    def render_as_string(self, hide_password: bool = True) -> str:
        return self._hidden if hide_password else self._url

    def __str__(self) -> str:
        return self._hidden


class PgConnection:
    """One read-only psycopg2 connection, answering ``rows()`` like ``reads.rows`` does on SQLAlchemy."""

    dialect = _Dialect()
    direct = True  # reads.rows: not SQLAlchemy

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._rows = RowMaker(_utc)
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}

    def rows(self, sql: str, params: Mapping[str, Any] | None = None, *,
             expanding: Sequence[str] = ()) -> list[Any]:
        key = (sql, tuple(expanding))
        converted = self._sql.get(key)
        if converted is None:
            converted = self._sql[key] = _convert(sql, expanding)
        bound = {name: (list(map(_bind, value)) if name in expanding else _bind(value))
                 for name, value in (params or {}).items()}
        with self._conn.cursor() as cursor:
            cursor.execute(converted, bound)
            if cursor.description is None:
                return []
            columns = tuple(d.name for d in cursor.description)
            fetched = cursor.fetchall()
        return self._rows.rows(columns, fetched)

    def close(self) -> None:
        self._conn.close()


class PgArchive:
    """What the read commands need of an engine: ``dialect.name``, ``url``, ``connect()``, ``dispose()``,
    and the errors its statements raise (as SQLAlchemy's engine raises OperationalError and
    ProgrammingError for them)."""

    dialect = _Dialect()

    def __init__(self, url: str, conninfo: str, database: str | None, hidden: str) -> None:
        import psycopg2

        self.url = PgURL(url, database, hidden)
        self._conninfo = conninfo
        self.read_errors: tuple[type[BaseException], ...] = (psycopg2.Error,)
        self.syntax_errors: tuple[type[BaseException], ...] = (psycopg2.OperationalError, psycopg2.ProgrammingError)

    @contextmanager
    def connect(self) -> Iterator[PgConnection]:
        conn = PgConnection(_connect(self._conninfo))
        try:
            yield conn
        finally:
            conn.close()

    def dispose(self) -> None:
        """Nothing is pooled: each ``connect()`` closes its connection."""


def open_pg(url: str, schema_head: str) -> PgArchive | None:
    """A read-only archive on psycopg2 when ``url`` is a PostgreSQL archive at ``schema_head``; None for
    anything else (psycopg2 missing, a URL it cannot take, no answer, another schema), so the caller
    takes the SQLAlchemy path and its messages."""
    if not _URL.match(url):
        return None
    try:
        import psycopg2
        import psycopg2.extensions
    except ImportError:
        return None
    try:
        parsed = psycopg2.extensions.parse_dsn(_URL.sub("postgresql://", url, count=1))
        # READ ONLY for every transaction the session opens (the database refuses any write), after
        # whatever options the URL sets (a search_path, say)
        options = f"{parsed.get('options') or ''} -c default_transaction_read_only=on".strip()
        conninfo = psycopg2.extensions.make_dsn(**{**parsed, "options": options})
        conn = _connect(conninfo)
    except (psycopg2.Error, ValueError):
        return None
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT version_num FROM alembic_version")
            version = cursor.fetchone()
    except psycopg2.Error:
        return None
    finally:
        conn.close()
    if version is None or version[0] != schema_head:
        return None
    database = parsed.get("dbname")
    normal = normalize_url(url)
    return PgArchive(normal, conninfo, str(database) if database else None, hide_password(normal))


def _connect(conninfo: str) -> Any:
    import psycopg2
    import psycopg2.extensions as ext

    conn = psycopg2.connect(conninfo)
    # bytea as bytes, as psycopg returns it on the SQLAlchemy path (psycopg2's own is a memoryview)
    ext.register_type(ext.new_type(psycopg2.BINARY.values, "BYTEA_BYTES", _bytes), conn)
    # Every `timestamp without time zone` of the archive holds UTC (types.UTCDateTime): parsed from the
    # server's text with its offset, 0.2 µs, where psycopg2's naive value and .replace(tzinfo=UTC) took
    # ~1.5 µs (three a record in an export); JSON by orjson, not the json module
    ext.register_type(ext.new_type((_TIMESTAMP,), "TIMESTAMP_UTC", _timestamp), conn)
    ext.register_type(ext.new_type(_JSON_OIDS, "JSON_ORJSON", _json), conn)
    return conn


_TIMESTAMP = 1114  # pg_type oids: timestamp, json, jsonb
_JSON_OIDS = (114, 3802)


def _bytes(value: str | None, cursor: Any) -> bytes | None:
    import psycopg2

    return None if value is None else bytes(psycopg2.BINARY(value, cursor))


def _timestamp(value: str | None, cursor: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # infinity, or a year beyond 9999 (BC): what psycopg2 itself makes of it
        import psycopg2.extensions as ext

        return ext.PYDATETIME(value, cursor)  # type: ignore[no-any-return]


def _json(value: str | None, cursor: Any) -> Any:
    return None if value is None else orjson.loads(value)


def _convert(sql: str, expanding: Sequence[str]) -> str:
    sql = sql.replace("%", "%%")
    for name in expanding:
        sql = re.sub(rf"\bNOT\s+IN\s+:{name}\b", f"<> ALL(:{name})", sql, flags=re.IGNORECASE)
        sql = re.sub(rf"\bIN\s+:{name}\b", f"= ANY(:{name})", sql, flags=re.IGNORECASE)
    return _BIND.sub(r"%(\1)s", sql)


def _bind(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value
