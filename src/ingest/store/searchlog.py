"""The change log the search engine's index follows (``search_changes``), and the reads that feed it.

Triggers on both engines append an article's id whenever what the index holds of it changes: its index
tokens (filled by ``searchindex.index_pending`` after every write of title, text or language), its
publication time, its tags, the sources that list it. The index (``store/searchengine.py``) applies the
changes after its watermark, idempotently, and moves the watermark on:

- SQLite: ``seq`` (AUTOINCREMENT). One writer at a time, so ``seq`` order is commit order: a reader that
  saw ``seq`` N has seen every change up to N.
- PostgreSQL: sequence values are not handed out in commit order, so each row also records its
  transaction id (``txid``); a reader takes the oldest transaction still running (the snapshot's
  ``xmin``) as its horizon and next time reads every change of a transaction at or after it. A change
  committed late is read late, never lost; a change may be read twice, which the upsert makes harmless.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from ingest.store.reads import rows

# the archive's identity: an index saved for another archive at the same address is rebuilt
ARCHIVE_DDL = "CREATE TABLE search_archive (uid VARCHAR(36) NOT NULL PRIMARY KEY)"
SQLITE_DDL = [
    "CREATE TABLE search_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, article_id INTEGER NOT NULL)",
    """CREATE TRIGGER search_log_ai AFTER INSERT ON articles WHEN new.search_text IS NOT NULL BEGIN
  INSERT INTO search_changes (article_id) VALUES (new.id);
END""",
    """CREATE TRIGGER search_log_au AFTER UPDATE OF search_text, published_at, first_seen_at ON articles
WHEN new.search_text IS NOT NULL BEGIN
  INSERT INTO search_changes (article_id) VALUES (new.id);
END""",
    """CREATE TRIGGER search_log_tag_ai AFTER INSERT ON article_tags BEGIN
  INSERT INTO search_changes (article_id) VALUES (new.article_id);
END""",
    """CREATE TRIGGER search_log_tag_ad AFTER DELETE ON article_tags BEGIN
  INSERT INTO search_changes (article_id) VALUES (old.article_id);
END""",
    """CREATE TRIGGER search_log_entry_ai AFTER INSERT ON entries WHEN new.article_id IS NOT NULL BEGIN
  INSERT INTO search_changes (article_id) VALUES (new.article_id);
END""",
    """CREATE TRIGGER search_log_entry_au AFTER UPDATE OF article_id ON entries
WHEN new.article_id IS NOT NULL AND new.article_id IS NOT old.article_id BEGIN
  INSERT INTO search_changes (article_id) VALUES (new.article_id);
END""",
]
SQLITE_DROP = [*(f"DROP TRIGGER IF EXISTS {t}" for t in (
    "search_log_ai", "search_log_au", "search_log_tag_ai", "search_log_tag_ad", "search_log_entry_ai",
    "search_log_entry_au")), "DROP TABLE IF EXISTS search_changes", "DROP TABLE IF EXISTS search_archive"]

POSTGRES_DDL = [
    "CREATE TABLE search_changes (seq BIGSERIAL PRIMARY KEY, article_id INTEGER NOT NULL, "
    "txid BIGINT NOT NULL DEFAULT txid_current())",
    "CREATE INDEX ix_search_changes_txid ON search_changes (txid)",
    """CREATE FUNCTION search_log_article() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.search_vector IS NOT NULL THEN
    INSERT INTO search_changes (article_id) VALUES (NEW.id);
  END IF;
  RETURN NULL;
END $$""",
    """CREATE FUNCTION search_log_of(article_id INTEGER) RETURNS void LANGUAGE sql AS $$
  INSERT INTO search_changes (article_id) VALUES (article_id)
$$""",
    """CREATE FUNCTION search_log_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM search_log_of(OLD.article_id);
  ELSIF NEW.article_id IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.article_id IS DISTINCT FROM OLD.article_id) THEN
    PERFORM search_log_of(NEW.article_id);
  END IF;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER search_log_ai AFTER INSERT ON articles FOR EACH ROW EXECUTE FUNCTION search_log_article()",
    "CREATE TRIGGER search_log_au AFTER UPDATE OF search_vector, published_at, first_seen_at ON articles "
    "FOR EACH ROW EXECUTE FUNCTION search_log_article()",
    "CREATE TRIGGER search_log_tags AFTER INSERT OR DELETE ON article_tags FOR EACH ROW "
    "EXECUTE FUNCTION search_log_row()",
    "CREATE TRIGGER search_log_entries AFTER INSERT OR UPDATE OF article_id ON entries FOR EACH ROW "
    "EXECUTE FUNCTION search_log_row()",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS search_log_entries ON entries",
    "DROP TRIGGER IF EXISTS search_log_tags ON article_tags",
    "DROP TRIGGER IF EXISTS search_log_au ON articles",
    "DROP TRIGGER IF EXISTS search_log_ai ON articles",
    "DROP FUNCTION IF EXISTS search_log_row()",
    "DROP FUNCTION IF EXISTS search_log_of(INTEGER)",
    "DROP FUNCTION IF EXISTS search_log_article()",
    "DROP TABLE IF EXISTS search_changes",
    "DROP TABLE IF EXISTS search_archive",
]

CHUNK = 2000

# The log is trimmed to its newest KEEP changes (store/searchtrim.py, at the end of every run): without
# it, it grows with every write for the archive's whole life. ``search_log_state.horizon`` records how
# far it was trimmed; an index whose watermark is behind it may have missed changes and is rebuilt
# (applying more than KEEP changes would cost about as much as a rebuild anyway).
KEEP = 1_000_000
STATE_DDL = ["CREATE TABLE search_log_state (id INTEGER NOT NULL PRIMARY KEY, horizon BIGINT NOT NULL DEFAULT 0)",
             "INSERT INTO search_log_state (id, horizon) VALUES (1, 0)"]
STATE_DROP = ["DROP TABLE IF EXISTS search_log_state"]


def trimmed_past(conn: Any, mark: int) -> bool:
    """True when changes after ``mark`` (a :func:`position`) may have been trimmed from the log: SQLite,
    every ``seq`` up to the horizon; PostgreSQL, every transaction id below it."""
    found = rows(conn, "SELECT horizon FROM search_log_state WHERE id = 1")
    return bool(found) and mark < int(found[0].horizon)


def dialect_of(conn: Any) -> str:
    return str(conn.dialect.name)


def position(conn: Any) -> int:
    """Where the log is now: every change at or before it is committed and visible to ``conn``'s
    snapshot (SQLite: the last ``seq``; PostgreSQL: the snapshot's ``xmin``)."""
    if dialect_of(conn) == "postgresql":
        return int(rows(conn, "SELECT txid_snapshot_xmin(txid_current_snapshot()) AS x")[0].x)
    return int(rows(conn, "SELECT COALESCE(MAX(seq), 0) AS x FROM search_changes")[0].x)


def changed_since(conn: Any, mark: int) -> list[int]:
    """Ids of the articles changed after ``mark`` (a :func:`position`), oldest change first."""
    if dialect_of(conn) == "postgresql":
        sql = "SELECT article_id, MAX(seq) AS s FROM search_changes WHERE txid >= :m GROUP BY article_id ORDER BY s"
    else:
        sql = "SELECT article_id, MAX(seq) AS s FROM search_changes WHERE seq > :m GROUP BY article_id ORDER BY s"
    return [int(r.article_id) for r in rows(conn, sql, {"m": mark})]


def article_count(conn: Any) -> int:
    return int(rows(conn, "SELECT COUNT(*) AS n FROM articles")[0].n)


def all_ids(conn: Any, after: int = 0, limit: int = CHUNK) -> list[int]:
    return [int(r.id) for r in rows(conn, "SELECT id FROM articles WHERE id > :a ORDER BY id LIMIT :n",
                                    {"a": after, "n": limit})]


def documents(conn: Any, ids: Sequence[int]) -> Iterator[dict[str, Any]]:
    """What the index holds of each of ``ids`` that exists: tokens (None: not analysed yet), language,
    its newest-first time, tags and the ids of the sources that list it."""
    if not ids:
        return
    postgres = dialect_of(conn) == "postgresql"
    tokens = "search_vector::text AS vec" if postgres else "search_title AS title_tokens, search_text AS text_tokens"
    tags: dict[int, list[str]] = {}
    sources: dict[int, set[int]] = {}
    for r in rows(conn, "SELECT DISTINCT article_id, tag FROM article_tags WHERE article_id IN :ids",
                  {"ids": list(ids)}, expanding=("ids",)):
        tags.setdefault(int(r.article_id), []).append(r.tag)
    for r in rows(conn, "SELECT DISTINCT article_id, source_id FROM entries WHERE article_id IN :ids",
                  {"ids": list(ids)}, expanding=("ids",)):
        sources.setdefault(int(r.article_id), set()).add(int(r.source_id))
    for r in rows(conn, f"SELECT id, title, text, language, published_at, first_seen_at, {tokens} "
                        "FROM articles WHERE id IN :ids", {"ids": list(ids)}, expanding=("ids",)):
        when: datetime | None = r.published_at or r.first_seen_at
        if postgres:
            title, text = (None, None) if r.vec is None else _from_tsvector(r.vec)
        else:
            title, text = (None, None) if r.text_tokens is None else (r.title_tokens.split(), r.text_tokens.split())
        yield {"id": int(r.id), "title_tokens": title, "text_tokens": text, "title": r.title, "text": r.text,
               "language": r.language, "newest": when, "tags": tags.get(int(r.id), []),
               "sources": sorted(sources.get(int(r.id), set()))}


_LEXEME = re.compile(r"'((?:[^'\\]|''|\\.)*)':([0-9A-D,]+)")
_UNESCAPE = re.compile(r"''|\\(.)")


def _from_tsvector(value: str) -> tuple[list[str], list[str]]:
    """The token streams back from a tsvector written by ``searchindex.tsvector_literal``: each lexeme at
    its positions, title (weight A) then text (weight B), in position order."""
    at: list[tuple[int, str]] = []
    title_end = 0
    for m in _LEXEME.finditer(value):
        lexeme = m.group(1)
        if "'" in lexeme or "\\" in lexeme:
            lexeme = _UNESCAPE.sub(lambda u: u.group(1) or "'", lexeme)
        for p in m.group(2).split(","):
            if p[-1] == "A":
                n = int(p[:-1])
                title_end = max(title_end, n)
            else:
                n = int(p.rstrip("BCD"))
            at.append((n, lexeme))
    at.sort()
    return [tok for n, tok in at if n <= title_end], [tok for n, tok in at if n > title_end]
