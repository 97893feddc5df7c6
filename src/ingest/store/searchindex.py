"""Keeping the full-text index of articles: the analyser's tokens (ingest.analyse.searchtext), stored
the same way on both engines.

- SQLite: ``articles.search_title`` and ``articles.search_text`` hold the tokens, space-separated; the
  FTS5 table ``articles_fts`` indexes those two columns as external content, with the three sync
  triggers, named and shaped as sqlite-utils' ``enable_fts()`` makes them, so Datasette and sqlite-utils
  detect it and search it (``content=[articles]``). Its tokenizer splits at spaces only, in effect: the
  tokens are already letters, digits and marks, and already folded.
- PostgreSQL: ``articles.search_vector`` is a tsvector written from Python as a literal (title weight
  A, text weight B, explicit positions), so PostgreSQL's parser never re-tokenizes it; a GIN index.

Why the tokens are stored in columns on SQLite: an external-content FTS5 table must be given the old
values to delete a row's tokens, and SQLite cannot run the Python analyser in a trigger.

A trigger on both engines empties the index columns whenever ``title``, ``text`` or ``language``
change, whoever changes them, and :func:`index_pending` (called by every write path of the archive,
and by the migration) fills the empty ones: an article is never indexed with an old text.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from ingest.analyse.searchtext import index_fields
from ingest.store.db import run_core

log = logging.getLogger(__name__)
BATCH = 500
MAX_POSITIONS_PER_LEXEME = 256  # PostgreSQL keeps the first 256 positions of a lexeme
# tokens are already folded; ``categories`` keeps combining marks inside words (Indic vowel signs)
FTS5_TOKENIZE = "unicode61 remove_diacritics 2 categories 'L* N* Co M*'"

# the index columns, then (once they are filled: the FTS5 table is built from them by 'rebuild', and a
# 'delete' of a row it never held would be an error) the table, its triggers and the pending index
SQLITE_COLUMNS = [
    "ALTER TABLE articles ADD COLUMN search_title TEXT",
    "ALTER TABLE articles ADD COLUMN search_text TEXT",
]
SQLITE_INDEX = [
    "CREATE VIRTUAL TABLE [articles_fts] USING FTS5 ([search_title], [search_text], content=[articles], "
    f"tokenize=\"{FTS5_TOKENIZE}\")",
    """CREATE TRIGGER [articles_ai] AFTER INSERT ON [articles] BEGIN
  INSERT INTO [articles_fts] (rowid, [search_title], [search_text]) VALUES (new.rowid, new.[search_title], new.[search_text]);
END""",
    """CREATE TRIGGER [articles_ad] AFTER DELETE ON [articles] BEGIN
  INSERT INTO [articles_fts] ([articles_fts], rowid, [search_title], [search_text]) VALUES('delete', old.rowid, old.[search_title], old.[search_text]);
END""",
    """CREATE TRIGGER [articles_au] AFTER UPDATE OF [search_title], [search_text] ON [articles] BEGIN
  INSERT INTO [articles_fts] ([articles_fts], rowid, [search_title], [search_text]) VALUES('delete', old.rowid, old.[search_title], old.[search_text]);
  INSERT INTO [articles_fts] (rowid, [search_title], [search_text]) VALUES (new.rowid, new.[search_title], new.[search_text]);
END""",
    """CREATE TRIGGER [articles_search_stale] AFTER UPDATE OF [title], [text], [language] ON [articles]
WHEN old.[title] IS NOT new.[title] OR old.[text] IS NOT new.[text] OR old.[language] IS NOT new.[language] BEGIN
  UPDATE [articles] SET [search_title] = NULL, [search_text] = NULL WHERE rowid = new.rowid;
END""",
    "CREATE INDEX ix_articles_search_pending ON articles (id) WHERE search_text IS NULL",
    "INSERT INTO [articles_fts] ([articles_fts]) VALUES ('rebuild')",
]
SQLITE_DROP = [
    "DROP INDEX IF EXISTS ix_articles_search_pending",
    *(f"DROP TRIGGER IF EXISTS [{name}]" for name in ("articles_search_stale", "articles_au", "articles_ad",
                                                      "articles_ai")),
    "DROP TABLE IF EXISTS [articles_fts]",
]

POSTGRES_COLUMNS = ["ALTER TABLE articles ADD COLUMN search_vector tsvector"]
POSTGRES_INDEX = [
    "CREATE INDEX ix_articles_search_vector ON articles USING GIN (search_vector)",
    "CREATE INDEX ix_articles_search_pending ON articles (id) WHERE search_vector IS NULL",
    """CREATE FUNCTION articles_search_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_vector := NULL;
  RETURN NEW;
END $$""",
    """CREATE TRIGGER articles_search_stale BEFORE UPDATE OF title, text, language ON articles FOR EACH ROW
WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.text IS DISTINCT FROM NEW.text
      OR OLD.language IS DISTINCT FROM NEW.language)
EXECUTE FUNCTION articles_search_stale()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS articles_search_stale ON articles",
    "DROP FUNCTION IF EXISTS articles_search_stale()",
    "DROP INDEX IF EXISTS ix_articles_search_pending",
    "DROP INDEX IF EXISTS ix_articles_search_vector",
    "ALTER TABLE articles DROP COLUMN IF EXISTS search_vector",
]


def tsvector_literal(title_tokens: Sequence[str], text_tokens: Sequence[str]) -> str:
    """The tsvector of an article, as PostgreSQL's input syntax: ``'lexeme':1A,7A 'other':3B``.
    Positions are those of the tokens in the SQLite columns (the text after the title and a gap, so a
    phrase never spans the two, as it cannot across FTS5 columns)."""
    positions: dict[str, list[str]] = defaultdict(list)
    for weight, tokens, offset in (("A", title_tokens, 1), ("B", text_tokens, len(title_tokens) + 2)):
        for i, tok in enumerate(tokens):
            at = positions[tok]
            if len(at) < MAX_POSITIONS_PER_LEXEME:
                at.append(f"{offset + i}{weight}")
    return " ".join("'" + tok.replace("\\", "\\\\").replace("'", "''") + "':" + ",".join(at)
                    for tok, at in positions.items())


def _run(conn: Any, sql: str, params: Any = None) -> Any:
    return run_core(conn, text(sql), params or {})


def _dialect(conn: Any) -> str:
    return str((conn.get_bind() if hasattr(conn, "get_bind") else conn).dialect.name)


def index_pending(conn: Any, *, limit: int | None = None) -> int:
    """Index the articles whose index columns are empty (new, changed, or marked by a migration), in
    batches; returns how many. ``conn``: a Session or a Connection, inside the caller's transaction."""
    dialect = _dialect(conn)
    pending = "search_text IS NULL" if dialect == "sqlite" else "search_vector IS NULL"
    done = 0
    last = 0
    while limit is None or done < limit:
        n = BATCH if limit is None else min(BATCH, limit - done)
        rows = _run(conn, f"SELECT id, title, text, language FROM articles WHERE {pending} AND id > :last "
                          "ORDER BY id LIMIT :n", {"last": last, "n": n}).all()
        if not rows:
            break
        values = []
        for r in rows:
            title, body = index_fields(r.title, r.text, r.language)
            if dialect == "sqlite":
                values.append({"id": r.id, "t": " ".join(title), "x": " ".join(body)})
            else:
                values.append({"id": r.id, "v": tsvector_literal(title, body)})
        if dialect == "sqlite":
            _run(conn, "UPDATE articles SET search_title = :t, search_text = :x WHERE id = :id", values)
        else:
            _run(conn, "UPDATE articles SET search_vector = CAST(:v AS tsvector) WHERE id = :id", values)
        done += len(rows)
        last = rows[-1].id
    return done


def mark_all_pending(conn: Any) -> None:
    """Every article to be indexed again (a new analyser version, see ANALYSER_VERSION)."""
    if _dialect(conn) == "sqlite":
        _run(conn, "UPDATE articles SET search_title = NULL, search_text = NULL")
    else:
        _run(conn, "UPDATE articles SET search_vector = NULL")


def index_in_batch(s: Any) -> None:
    """:func:`index_pending` inside a write path's transaction, under a savepoint: should indexing fail,
    the batch is stored all the same and its articles stay pending for the next batch (logged)."""
    try:
        with s.begin_nested():
            index_pending(s)
    except Exception:  # noqa: BLE001 - never lose a batch of pages to the search index
        log.warning("full-text indexing failed; the articles stay pending for the next batch", exc_info=True)
