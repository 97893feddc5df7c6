"""The read commands' psycopg2 path to PostgreSQL returns exactly what the SQLAlchemy path returns.

The same comparison as test_sqlite_reads.py (every read of ``store/query.py``, and search through the
search engine's index and the SQL index), on a demo archive polled into the real PostgreSQL; and a CLI
read command on PostgreSQL must not import SQLAlchemy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from readpaths import assert_no_sqlalchemy, compare_paths, poll_demo

from ingest.store.head import SCHEMA_HEAD
from ingest.store.pgreads import PgArchive, open_pg


@pytest.fixture(scope="module")
def pg_demo(postgres_module_url: str, demo_site_running: Any) -> str:
    """The demo site polled into PostgreSQL, once for the module: its tests only read."""
    postgres_url = postgres_module_url
    poll_demo(postgres_url, demo_site_running)
    return postgres_url


def test_every_query_reads_the_same_on_both_paths(pg_demo: str) -> None:
    from ingest.store.db import open_archive

    direct = open_pg(pg_demo, SCHEMA_HEAD)
    assert isinstance(direct, PgArchive), "an archive at this schema takes the psycopg2 path"
    engine = open_archive(pg_demo, create_if_empty=False)
    try:
        compare_paths(engine, direct)
        # both paths keep the search index in the same directory
        from ingest.store.searchengine import index_dir

        assert index_dir(direct) == index_dir(engine)
    finally:
        engine.dispose()


def test_typed_values_lists_and_read_only(pg_demo: str) -> None:
    import psycopg2.errors

    from ingest.store.reads import rows

    direct = open_pg(pg_demo, SCHEMA_HEAD)
    assert direct is not None
    with direct.connect() as conn:
        got = rows(conn, "SELECT id, first_seen_at, authors FROM articles WHERE id IN :ids ORDER BY id",
                   {"ids": [1, 2]}, expanding=("ids",))
        assert [r.id for r in got] == [1, 2]
        assert got[0].first_seen_at.tzinfo is UTC
        assert isinstance(got[0].authors, list)
        assert rows(conn, "SELECT id FROM articles WHERE id IN :ids", {"ids": []}, expanding=("ids",)) == []
        n = rows(conn, "SELECT COUNT(*) AS n FROM articles")[0].n
        assert rows(conn, "SELECT COUNT(*) AS n FROM articles WHERE id NOT IN :ids",
                    {"ids": []}, expanding=("ids",))[0].n == n
        # casts stay casts, a literal % stays a %
        assert rows(conn, "SELECT '50%'::text AS p, CAST(:x AS int) + 1 AS y", {"x": 1})[0] == ("50%", 2)
        later = rows(conn, "SELECT COUNT(*) AS n FROM articles WHERE first_seen_at >= :t",
                     {"t": datetime(2999, 1, 1, tzinfo=UTC)})
        assert later[0].n == 0
    with direct.connect() as conn, pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
        conn.rows("DELETE FROM articles")


def test_other_schemas_and_urls_take_the_sqlalchemy_path(pg_demo: str) -> None:
    assert open_pg(pg_demo, "0001") is None  # another schema: its message comes from open_archive
    assert open_pg("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", SCHEMA_HEAD) is None
    assert open_pg("sqlite:///x.db", SCHEMA_HEAD) is None


@pytest.mark.parametrize("argv", [["search", "Korea"], ["show", "1", "--no-text"], ["stats"], ["runs"],
                                  ["sources"], ["export", "--format", "jsonl"]])
def test_read_commands_do_not_import_sqlalchemy(pg_demo: str, argv: list[str]) -> None:
    assert_no_sqlalchemy(argv, pg_demo)
