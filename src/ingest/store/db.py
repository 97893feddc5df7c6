"""Engine, sessions and schema management for the archive.

SQLite: WAL (readers never block the writer), foreign keys on, a long busy timeout, and every write
transaction opened with ``BEGIN IMMEDIATE``: a deferred transaction that later needs the write lock gets
SQLITE_BUSY at once, without waiting, which is how "database is locked" reaches users of other tools.

Schema: Alembic migrations ship inside the package. A brand-new, empty database is created at the head
revision (that is creation, not migration); an existing database at another revision is never migrated
silently: :func:`check_schema` says what to run (``ingest db upgrade``), or that the code is older.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.exc import DatabaseError as SADatabaseError

from ingest.errors import DatabaseError, SchemaMismatchError
from ingest.store.dburls import normalize_url
from ingest.store.head import SCHEMA_HEAD

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from sqlmodel import Session  # imported when a session is opened: SQLModel is ~0.1 s of a start

SQLITE_BUSY_TIMEOUT_MS = 60_000


def redacted(url: str) -> str:
    """The URL with its password hidden, for logs and run records."""
    return _display(normalize_url(url))


def _display(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def open_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for an archive URL (without touching the schema)."""
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"not a database URL: {url!r} (e.g. sqlite:///data/archive.db)") from None
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            try:
                Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # an unusable path is the user's to fix: one line, exit 2
                raise DatabaseError(f"cannot open database {_display(url)}: cannot create its directory: "
                                    f"{exc.strerror or exc}") from None
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, ModuleNotFoundError, ImportError) as exc:
        raise DatabaseError(f"cannot use database {_display(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _wal(cur: Any) -> None:
    """WAL mode, waiting for the lock it needs. Switching a new file to WAL takes an exclusive lock
    that SQLite does not wait for (no busy handler): a process opening a brand-new archive while
    another creates its schema got "database is locked" at once (seen with four processes racing on a
    loaded machine). It waits here as long as a busy write lock would be waited for."""
    import sqlite3

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0] not in ("memory", "wal"):
                cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so we can say BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        _wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    from sqlmodel import Session

    """A session for one write transaction: committed on success, rolled back on error."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with Session(bind=conn) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A Core connection in one write transaction, as :func:`write_session` but without an ORM
    session: for small transactions run per request, where setting up a session cost more CPU than
    the SQL itself."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    from sqlmodel import Session

    with Session(engine) as session:
        yield session


def run_core(s: Session | Connection, statement: Any, params: Any = None) -> Any:
    """Execute as plain Core on a session's connection (same transaction and savepoints, without the
    ORM's per-statement bulk-persistence machinery: it cost more CPU than SQLite's own work), or on a
    plain connection (the read commands, which open no session)."""
    conn = s if isinstance(s, Connection) else s.connection()
    return conn.execute(statement, params)


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A plain connection for the read queries (``store/query.py``): no ORM session, no SQLModel."""
    with engine.connect() as conn:
        yield conn


def insert_ignore(engine_or_dialect: Any, table: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the dialect in use."""
    name = getattr(getattr(engine_or_dialect, "dialect", engine_or_dialect), "name", engine_or_dialect)
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise DatabaseError(f"unsupported database dialect {name!r}: use SQLite or PostgreSQL")


# --- schema -------------------------------------------------------------------------------------

def _alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(files("ingest.store") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest migration, as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config(None))  # type: ignore[arg-type]
    head = script.get_current_head()
    assert head is not None
    return head


def _version_row(conn: Connection) -> str | None:
    """The archive's schema revision (Alembic's ``alembic_version`` row), read without Alembic."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return _version_row(conn)
    except (OperationalError, SADatabaseError) as exc:
        raise DatabaseError(f"cannot open database {_display(str(engine.url))}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# Any fixed number: the PostgreSQL advisory lock that serialises schema changes between processes.
SCHEMA_LOCK_KEY = 7_324_101


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[Any]:
    """A connection holding the archive's schema lock, in a transaction committed on success.

    Two processes opening a new archive at once (a poll and a backfill started together) must not both
    create it, nor may one see the other's half-made schema: whoever gets the lock creates or migrates,
    the other then finds it done. SQLite: the write lock of BEGIN IMMEDIATE; PostgreSQL: a
    transaction-scoped advisory lock (its DDL is transactional too)."""
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
                yield conn
    except (OperationalError, SADatabaseError) as exc:
        raise DatabaseError(f"cannot open database {_display(str(engine.url))}: {_first_line(exc)}") from None


def _migrate(conn: Any, engine: Engine, revision: str) -> None:
    from alembic import command

    cfg = _alembic_config(engine)
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def _known_revisions(engine: Engine) -> set[str]:
    from alembic.script import ScriptDirectory

    return {rev.revision for rev in ScriptDirectory.from_config(_alembic_config(engine)).walk_revisions()}


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate explicitly (``ingest db upgrade``); returns (from, to) revisions."""
    with _schema_lock(engine) as conn:
        before = _version_row(conn)
        if before is not None and before not in _known_revisions(engine):
            raise SchemaMismatchError(_newer_schema(before))  # never "downgrade" by guessing
        _migrate(conn, engine, revision)
    return before, current_revision(engine) or ""


def check_schema(engine: Engine, *, create_if_empty: bool = True) -> None:
    """Make sure the database is at the schema this code expects, or say what to do."""
    if current_revision(engine) == SCHEMA_HEAD:
        return  # the common case: one SELECT, no lock, no Alembic
    head = head_revision()
    with _schema_lock(engine) as conn:
        current = _version_row(conn)  # again, under the lock
        if current == head:
            return
        if current is None:
            if set(inspect(conn).get_table_names()) - {"alembic_version"}:
                raise SchemaMismatchError(
                    f"database {_display(str(engine.url))} has tables but no ingest schema version; "
                    "point --db at an empty database or an ingest archive")
            if not create_if_empty:
                raise SchemaMismatchError(f"database {_display(str(engine.url))} is empty: run `ingest db upgrade`")
            _migrate(conn, engine, "head")  # creating a new archive is not migrating an existing one
            return
    if current in _known_revisions(engine):
        raise SchemaMismatchError(
            f"database schema is at revision {current}, this ingest expects {head}: "
            "back up the database, then run `ingest db upgrade`")
    raise SchemaMismatchError(_newer_schema(current))


def _newer_schema(current: str) -> str:
    return (f"database schema is at revision {current}, which this ingest does not know "
            f"(it expects {head_revision()}): the database was migrated by a newer ingest; upgrade ingest")


def open_archive(url: str, *, create_if_empty: bool = True) -> Engine:
    """Open an archive ready for use: engine plus schema check."""
    engine = open_engine(url)
    check_schema(engine, create_if_empty=create_if_empty)
    return engine
