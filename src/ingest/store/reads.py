"""One read statement, on whichever connection the caller holds: plain SQL with ``:name`` parameters,
rows with ``row.name`` access, typed like the ORM's (JSON decoded, UTC datetimes aware).

A SQLAlchemy connection or session (the pipeline, the Python API, PostgreSQL) attaches the column types
of ``types.py``; the read commands' stdlib SQLite connection (``sqlitereads.py``) converts the same
columns itself. SQLAlchemy is imported only on its own branch: a read command on SQLite never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ingest.store.sqlitereads import LiteConnection


def rows(s: Any, sql: str, params: Mapping[str, Any] | None = None, *, expanding: Sequence[str] = ()) -> list[Any]:
    """The rows of one statement; ``expanding`` names the parameters bound as ``IN :name`` lists."""
    if isinstance(s, LiteConnection):
        return s.rows(sql, params, expanding=expanding)
    from sqlalchemy import bindparam, text

    from ingest.store.types import COLUMN_TYPES

    stmt = text(sql).columns(**COLUMN_TYPES)
    if expanding:
        stmt = stmt.bindparams(*(bindparam(name, expanding=True) for name in expanding))
    return s.execute(stmt, dict(params or {})).all()  # (.all(): one fetchall, not a fetchone per row)
