"""One stored copy of the current text (store/textcopies.py, migration 0014), on both engines: after a
poll no extraction or version stores a copy of its article's text; every write of an article's text
keeps the history exact (the superseded text is kept, a revert shares again); the migration converts
an archive both ways without changing what any reader returns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from ingest.store import revisions
from ingest.store.db import _alembic_config, head_revision, open_archive, read_session, upgrade


def poll_demo(url: str, site: Any) -> Any:
    from readpaths import poll_demo as poll

    poll(url, site)
    return open_archive(url)


def stored(conn: Any, table: str, article_id: int) -> list[str | None]:
    """The texts a table stores for an article (None: the article's current text)."""
    return [r[0] for r in conn.execute(text(f"SELECT text FROM {table} WHERE article_id = :a ORDER BY id"),
                                       {"a": article_id})]


def history(engine: Any) -> dict[int, list[tuple[int, str]]]:
    with read_session(engine) as s:
        ids = [r[0] for r in s.execute(text("SELECT id FROM articles ORDER BY id"))]
        return {i: [(v["version"], v["text"]) for v in revisions.versions(s, i)] for i in ids}


def test_a_poll_stores_each_text_once(database_url: str, demo_site_running: Any) -> None:
    engine = poll_demo(database_url, demo_site_running)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM articles")).scalar_one()
        assert n > 10, "the demo poll archived articles"
        for table in ("extractions", "article_versions"):
            copies = conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE text IS NOT NULL")).scalar_one()
            rows = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            assert rows >= n and copies == 0, (table, rows, copies)
        current = dict(conn.execute(text("SELECT id, text FROM articles")).all())
    for article_id, versions in history(engine).items():
        assert versions == [(1, current[article_id])]
    engine.dispose()


def test_every_write_of_a_text_keeps_the_history_exact(database_url: str, demo_site_running: Any) -> None:
    engine = poll_demo(database_url, demo_site_running)
    with engine.begin() as conn:
        aid, original = conn.execute(text("SELECT id, text FROM articles ORDER BY id LIMIT 1")).one()
        version = dict(conn.execute(text("SELECT extraction_id, fetched_at FROM article_versions "
                                         "WHERE article_id = :a"), {"a": aid}).one()._mapping)
        # a new text (any writer: plain SQL here), then its version as the write paths record it
        conn.execute(text("UPDATE articles SET text = 'the revised text' WHERE id = :a"), {"a": aid})
        assert stored(conn, "article_versions", aid) == [original]
        assert stored(conn, "extractions", aid) == [original]
        conn.execute(text("INSERT INTO article_versions (article_id, version, title, text, content_sha256, "
                          "fetched_at, extraction_id) VALUES (:a, 2, 't', 'the revised text', 'x', :f, :x)"),
                     {"a": aid, "f": version["fetched_at"], "x": version["extraction_id"]})
        assert stored(conn, "article_versions", aid) == [original, None]
        # a revert to the first text: version 1 shares it again, version 2 keeps its own
        conn.execute(text("UPDATE articles SET text = :t WHERE id = :a"), {"t": original, "a": aid})
        assert stored(conn, "article_versions", aid) == [None, "the revised text"]
        assert stored(conn, "extractions", aid) == [None]
        # a title-only update changes nothing stored
        conn.execute(text("UPDATE articles SET title = 'another headline' WHERE id = :a"), {"a": aid})
        assert stored(conn, "article_versions", aid) == [None, "the revised text"]
    assert history(engine)[aid] == [(1, original), (2, "the revised text")]
    engine.dispose()


def test_the_migration_converts_an_archive_both_ways(database_url: str, demo_site_running: Any) -> None:
    from alembic import command

    engine = poll_demo(database_url, demo_site_running)
    with engine.begin() as conn:  # one article with two versions, so both kinds of row are there
        aid = conn.execute(text("SELECT MIN(id) FROM articles")).scalar_one()
        conn.execute(text("UPDATE articles SET text = 'second text' WHERE id = :a"), {"a": aid})
        conn.execute(text("INSERT INTO article_versions (article_id, version, title, text, content_sha256, "
                          "fetched_at) SELECT article_id, 2, title, 'second text', 'x', fetched_at "
                          "FROM article_versions WHERE article_id = :a"), {"a": aid})
    before = history(engine)
    with engine.begin() as conn:
        cfg = _alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0013")
        for table in ("extractions", "article_versions"):
            assert conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE text IS NULL")).scalar_one() == 0
    assert history(engine) == before
    assert upgrade(engine) == ("0013", head_revision())
    with engine.connect() as conn:
        assert stored(conn, "article_versions", aid)[1:] == [None]
        assert conn.execute(text("SELECT COUNT(*) FROM article_versions WHERE text IS NOT NULL")).scalar_one() == 1
    assert history(engine) == before
    engine.dispose()
