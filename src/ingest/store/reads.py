"""One read statement, on whichever connection the caller holds: plain SQL with ``:name`` parameters,
rows with ``row.name`` access, typed like the ORM's (JSON decoded, UTC datetimes aware).

A SQLAlchemy connection or session (the pipeline, the Python API) attaches the column types of
``types.py``; the read commands' direct connections, stdlib ``sqlite3`` (``sqlitereads.py``) and
psycopg (``pgreads.py``), convert the same columns themselves. SQLAlchemy is imported only on its own
branch: a read command never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def rows(s: Any, sql: str, params: Mapping[str, Any] | None = None, *, expanding: Sequence[str] = ()) -> list[Any]:
    """The rows of one statement; ``expanding`` names the parameters bound as ``IN :name`` lists."""
    if getattr(s, "direct", False) is True:  # sqlitereads.LiteConnection, pgreads.PgConnection
        return s.rows(sql, params, expanding=expanding)
    from sqlalchemy import bindparam, text

    from ingest.store.types import COLUMN_TYPES

    stmt = text(sql).columns(**COLUMN_TYPES)
    if expanding:
        stmt = stmt.bindparams(*(bindparam(name, expanding=True) for name in expanding))
    return s.execute(stmt, dict(params or {})).all()  # (.all(): one fetchall, not a fetchone per row)
