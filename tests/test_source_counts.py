"""The per-source counts the triggers keep (store/sourcecounts.py) always equal a count of the tables.

On both engines: after a real poll of the demo site, then after the writes a poll never makes in one
go but an operator's SQL or a future code path might: several entries of one (source, article) pair
in one multi-row INSERT, a multi-row UPDATE that moves entries onto one article, status changes,
deletes, an article's language changed and an article deleted. And the migration counts an archive
that had entries before it (0012 -> 0013).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from ingest.store.db import open_archive, upgrade

COUNTED = """
SELECT source_id, 'status:' || status AS what, COUNT(*) AS n FROM entries GROUP BY source_id, status
UNION ALL
SELECT source_id, 'articles', COUNT(DISTINCT article_id) FROM entries WHERE article_id IS NOT NULL GROUP BY source_id
UNION ALL
SELECT source_id, 'language:' || COALESCE(language, ''), COUNT(*) FROM articles GROUP BY source_id, COALESCE(language, '')
"""


def kept(conn: Any) -> dict[tuple[int, str], int]:
    return {(r[0], r[1]): int(r[2]) for r in conn.execute(text("SELECT source_id, what, n FROM source_counts"))
            if int(r[2]) != 0}


def counted(conn: Any) -> dict[tuple[int, str], int]:
    return {(r[0], r[1]): int(r[2]) for r in conn.execute(text(COUNTED)) if int(r[2]) != 0}


def poll_demo(url: str, site: Any) -> Any:
    from readpaths import poll_demo as poll

    poll(url, site)
    return open_archive(url)


def test_counts_follow_every_kind_of_write(database_url: str, demo_site_running: Any) -> None:
    engine = poll_demo(database_url, demo_site_running)
    with engine.begin() as conn:
        assert kept(conn) == counted(conn)
        assert any(w == "articles" and n > 1 for (_, w), n in kept(conn).items()), "the poll archived articles"
        src, other = (r[0] for r in conn.execute(text("SELECT id FROM sources ORDER BY id LIMIT 2")))
        a1, a2, a3 = (r[0] for r in conn.execute(text("SELECT id FROM articles ORDER BY id LIMIT 3")))
        now = "2030-01-01 00:00:00"
        # three new entries of one pair, and one of another source, in one multi-row INSERT
        conn.execute(text(
            "INSERT INTO entries (source_id, entry_key, feed_url, authors, categories, first_seen_at, last_seen_at, "
            "status, article_id, attempts) VALUES "
            f"(:s, 'k1', 'f', '[]', '[]', '{now}', '{now}', 'archived', :a, 0), "
            f"(:s, 'k2', 'f', '[]', '[]', '{now}', '{now}', 'archived', :a, 0), "
            f"(:s, 'k3', 'f', '[]', '[]', '{now}', '{now}', 'pending', NULL, 0), "
            f"(:o, 'k4', 'f', '[]', '[]', '{now}', '{now}', 'failed', NULL, 0)"), {"s": src, "o": other, "a": a1})
        assert kept(conn) == counted(conn)
        # a multi-row UPDATE moving entries of both sources onto one article, and a status change
        conn.execute(text("UPDATE entries SET article_id = :a, status = 'duplicate' WHERE entry_key IN ('k2', 'k3', 'k4')"),
                     {"a": a2})
        assert kept(conn) == counted(conn)
        conn.execute(text("UPDATE entries SET status = 'failed', article_id = NULL WHERE entry_key = 'k1'"))
        assert kept(conn) == counted(conn)
        # an update that changes nothing counted
        conn.execute(text(f"UPDATE entries SET last_seen_at = '{now}'"))
        assert kept(conn) == counted(conn)
        # an entry moved to another source
        conn.execute(text("UPDATE entries SET source_id = :o WHERE entry_key = 'k2'"), {"o": other})
        assert kept(conn) == counted(conn)
        # deletes, one row and many
        conn.execute(text("DELETE FROM entries WHERE entry_key = 'k3'"))
        assert kept(conn) == counted(conn)
        conn.execute(text("DELETE FROM entries WHERE entry_key IN ('k1', 'k2', 'k4')"))
        assert kept(conn) == counted(conn)
        # an article written, its language changed twice, then deleted
        conn.execute(text(
            "INSERT INTO articles (canonical_url, url, source_id, text, authors, content_sha256, text_chars, "
            f"first_seen_at, fetched_at, updated_at, language) VALUES ('https://x.test/a', 'https://x.test/a', :o, "
            f"'t', '[]', 'h', 1, '{now}', '{now}', '{now}', 'xx')"), {"o": other})
        assert kept(conn) == counted(conn)
        conn.execute(text("UPDATE articles SET language = 'yy' WHERE canonical_url = 'https://x.test/a'"))
        assert kept(conn) == counted(conn)
        conn.execute(text("UPDATE articles SET language = NULL, source_id = :s WHERE canonical_url = 'https://x.test/a'"),
                     {"s": src})
        assert kept(conn) == counted(conn)
        conn.execute(text("DELETE FROM articles WHERE canonical_url = 'https://x.test/a'"))
        assert kept(conn) == counted(conn)
        assert a3
    engine.dispose()


def test_the_migration_counts_an_archive_that_has_entries(database_url: str, demo_site_running: Any) -> None:
    engine = poll_demo(database_url, demo_site_running)
    with engine.begin() as conn:
        before = counted(conn)
    # the archive as 0012 left it: no counts, no triggers (then an entry changes)
    from ingest.store import sourcecounts

    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        for statement in sourcecounts.POSTGRES_DROP if postgres else sourcecounts.SQLITE_DROP:
            conn.execute(text(statement))
        conn.execute(text("UPDATE alembic_version SET version_num = '0012'"))
        conn.execute(text("UPDATE entries SET status = 'pending' WHERE id = (SELECT MIN(id) FROM entries)"))
        changed = counted(conn)
    assert changed != before
    assert upgrade(engine, "0013")[1] == "0013"  # this migration, on the archive as it was before it
    with engine.begin() as conn:
        assert kept(conn) == changed
    engine.dispose()


@pytest.mark.parametrize("now", ["2030-01-01"])
def test_sources_and_stats_read_the_counts(database_url: str, demo_site_running: Any, now: str) -> None:
    from datetime import UTC, datetime

    from ingest.store import query

    engine = poll_demo(database_url, demo_site_running)
    with engine.connect() as s:
        status = query.sources_status(s, now=datetime.fromisoformat(now).replace(tzinfo=UTC))
        stats = query.stats(s)
        per_source = {r[0]: r[1] for r in s.execute(text(
            "SELECT s.name, COUNT(DISTINCT e.article_id) FROM sources s JOIN entries e ON e.source_id = s.id "
            "GROUP BY s.name"))}
        by_status = dict(s.execute(text("SELECT status, COUNT(*) FROM entries GROUP BY status")).all())
        articles = s.execute(text("SELECT COUNT(*) FROM articles")).scalar()
    assert {r["source"]: r["articles"] for r in status} == per_source
    assert stats["entries_by_status"] == by_status
    assert stats["articles"] == articles and sum(stats["languages"].values()) == articles
    engine.dispose()
