"""The read commands' stdlib ``sqlite3`` path returns exactly what the SQLAlchemy path returns.

Every read of ``store/query.py`` (and search, with and without a query, filters and ``--collapse``) runs
twice on the same archive, once per path, and the results must be equal, types included (aware UTC
datetimes, decoded JSON). A CLI read command on SQLite must not import SQLAlchemy at all.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from readpaths import assert_no_sqlalchemy, compare_paths

from ingest.store.head import SCHEMA_HEAD
from ingest.store.sqlitereads import LiteArchive, open_lite, sqlite_path

pytestmark = pytest.mark.usefixtures("demo_archive")


def _both(url: str) -> tuple[Any, LiteArchive]:
    from ingest.store.db import open_archive

    lite = open_lite(url, SCHEMA_HEAD)
    assert lite is not None, "an archive at this schema takes the stdlib path"
    return open_archive(url, create_if_empty=False), lite


def test_every_query_reads_the_same_on_both_paths(demo_archive: str) -> None:
    engine, lite = _both(demo_archive)
    compare_paths(engine, lite)
    engine.dispose()


def test_typed_values_and_expanding_lists(demo_archive: str) -> None:
    from ingest.store.reads import rows

    _, lite = _both(demo_archive)
    with lite.connect() as conn:
        got = rows(conn, "SELECT id, first_seen_at, authors FROM articles WHERE id IN :ids ORDER BY id",
                   {"ids": [1, 2]}, expanding=("ids",))
        assert [r.id for r in got] == [1, 2]
        assert got[0].first_seen_at.tzinfo is UTC
        assert isinstance(got[0].authors, list)
        assert rows(conn, "SELECT id FROM articles WHERE id IN :ids", {"ids": []}, expanding=("ids",)) == []
        later = rows(conn, "SELECT COUNT(*) AS n FROM articles WHERE first_seen_at >= :t",
                     {"t": datetime(2999, 1, 1, tzinfo=UTC)})
        assert later[0].n == 0


def test_read_only_and_never_creates(tmp_path: Path, demo_archive: str) -> None:
    _, lite = _both(demo_archive)
    with lite.connect() as conn, pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.rows("DELETE FROM articles")
    missing = tmp_path / "missing.db"
    assert open_lite(f"sqlite:///{missing}", SCHEMA_HEAD) is None
    assert not missing.exists()


def test_other_schemas_and_urls_take_the_sqlalchemy_path(tmp_path: Path, demo_archive: str) -> None:
    old = tmp_path / "old.db"
    old.write_bytes(Path(sqlite_path(demo_archive) or "").read_bytes())
    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    assert open_lite(f"sqlite:///{old}", SCHEMA_HEAD) is None  # its message comes from open_archive
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert open_lite(f"sqlite:///{empty}", SCHEMA_HEAD) is None
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("sqlite:///file:x.db?mode=ro&uri=true") is None
    assert sqlite_path("postgresql://u@h/db") is None


@pytest.mark.parametrize("argv", [["search", "Korea"], ["show", "1", "--no-text"], ["stats"], ["runs"],
                                  ["sources"], ["export", "--format", "jsonl"]])
def test_read_commands_do_not_import_sqlalchemy(demo_archive: str, argv: list[str]) -> None:
    assert_no_sqlalchemy(argv, demo_archive)
