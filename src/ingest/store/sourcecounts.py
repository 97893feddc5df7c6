"""Counts per source kept by the database itself (``source_counts``), for ``ingest sources`` and
``ingest stats`` at any archive size.

Counting at read time scans every entry and every article (``COUNT(DISTINCT article_id) … GROUP BY
source_id`` over a million entries is a few hundred milliseconds on either engine, and grows with the
archive). Triggers on ``entries`` and ``articles`` keep one row per source and counted thing instead,
written in the same transaction as the row they count, so a count is never ahead of or behind what is
committed:

- ``articles``: the distinct articles the source's entries point to;
- ``status:<status>``: its entries by status (pending, archived, duplicate, failed);
- ``language:<code>``: the articles it first listed, by language (``language:`` for none).

An entry that joins or leaves a (source, article) pair looks for another entry of the same pair
through ``ix_entries_source_article``: row by row on SQLite (its row triggers run as each row is
written), per statement on PostgreSQL (below). There two transactions could both miss each other's
uncommitted entry of the same pair, so the triggers take a transaction-level advisory lock on each
source first: writers of one source take turns there (they already do: a source is polled under a
lease). A counter is updated in place (``ON CONFLICT … DO UPDATE``), one row per source and thing, so
writers of different sources never wait for each other.
"""

from __future__ import annotations

# ``what`` values; the readers in query.py group by these prefixes
ARTICLES = "articles"
STATUS = "status:"
LANGUAGE = "language:"

TABLE_DDL = ("CREATE TABLE source_counts (source_id INTEGER NOT NULL REFERENCES sources (id), "
             "what VARCHAR(64) NOT NULL, n BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (source_id, what))")

# the counts of an archive as it is (the migration; a test compares them with the triggers' counts)
RECOUNT = [
    "DELETE FROM source_counts",
    "INSERT INTO source_counts (source_id, what, n) SELECT source_id, 'status:' || status, COUNT(*) "
    "FROM entries GROUP BY source_id, status",
    "INSERT INTO source_counts (source_id, what, n) SELECT source_id, 'articles', COUNT(DISTINCT article_id) "
    "FROM entries WHERE article_id IS NOT NULL GROUP BY source_id",
    "INSERT INTO source_counts (source_id, what, n) SELECT source_id, 'language:' || COALESCE(language, ''), "
    "COUNT(*) FROM articles GROUP BY source_id, COALESCE(language, '')",
]

_BUMP = "ON CONFLICT (source_id, what) DO UPDATE SET n = source_counts.n + excluded.n"
_OTHER = ("EXISTS (SELECT 1 FROM entries e WHERE e.source_id = {row}.source_id AND e.article_id = {row}.article_id "
          "AND e.id <> {row}.id)")

SQLITE_DDL = [
    TABLE_DDL,
    f"""CREATE TRIGGER source_counts_entry_ai AFTER INSERT ON entries BEGIN
  INSERT INTO source_counts (source_id, what, n) VALUES (new.source_id, 'status:' || new.status, 1) {_BUMP};
  INSERT INTO source_counts (source_id, what, n) SELECT new.source_id, 'articles', 1
    WHERE new.article_id IS NOT NULL AND NOT {_OTHER.format(row="new")} {_BUMP};
END""",
    f"""CREATE TRIGGER source_counts_entry_au AFTER UPDATE OF status, article_id, source_id ON entries
WHEN new.status IS NOT old.status OR new.article_id IS NOT old.article_id OR new.source_id IS NOT old.source_id BEGIN
  UPDATE source_counts SET n = n - 1 WHERE source_id = old.source_id AND what = 'status:' || old.status
    AND (new.status IS NOT old.status OR new.source_id IS NOT old.source_id);
  INSERT INTO source_counts (source_id, what, n) SELECT new.source_id, 'status:' || new.status, 1
    WHERE new.status IS NOT old.status OR new.source_id IS NOT old.source_id {_BUMP};
  UPDATE source_counts SET n = n - 1 WHERE source_id = old.source_id AND what = 'articles'
    AND old.article_id IS NOT NULL AND (new.article_id IS NOT old.article_id OR new.source_id IS NOT old.source_id)
    AND NOT {_OTHER.format(row="old")};
  INSERT INTO source_counts (source_id, what, n) SELECT new.source_id, 'articles', 1
    WHERE new.article_id IS NOT NULL AND (new.article_id IS NOT old.article_id OR new.source_id IS NOT old.source_id)
    AND NOT {_OTHER.format(row="new")} {_BUMP};
END""",
    f"""CREATE TRIGGER source_counts_entry_ad AFTER DELETE ON entries BEGIN
  UPDATE source_counts SET n = n - 1 WHERE source_id = old.source_id AND what = 'status:' || old.status;
  UPDATE source_counts SET n = n - 1 WHERE source_id = old.source_id AND what = 'articles'
    AND old.article_id IS NOT NULL AND NOT {_OTHER.format(row="old")};
END""",
    f"""CREATE TRIGGER source_counts_article_ai AFTER INSERT ON articles BEGIN
  INSERT INTO source_counts (source_id, what, n) VALUES (new.source_id, 'language:' || COALESCE(new.language, ''), 1)
    {_BUMP};
END""",
    f"""CREATE TRIGGER source_counts_article_au AFTER UPDATE OF language, source_id ON articles
WHEN new.language IS NOT old.language OR new.source_id IS NOT old.source_id BEGIN
  UPDATE source_counts SET n = n - 1 WHERE source_id = old.source_id
    AND what = 'language:' || COALESCE(old.language, '');
  INSERT INTO source_counts (source_id, what, n) VALUES (new.source_id, 'language:' || COALESCE(new.language, ''), 1)
    {_BUMP};
END""",
    """CREATE TRIGGER source_counts_article_ad AFTER DELETE ON articles BEGIN
  UPDATE source_counts SET n = n - 1 WHERE source_id = old.source_id
    AND what = 'language:' || COALESCE(old.language, '');
END""",
]
SQLITE_DROP = [*(f"DROP TRIGGER IF EXISTS {t}" for t in (
    "source_counts_entry_ai", "source_counts_entry_au", "source_counts_entry_ad", "source_counts_article_ai",
    "source_counts_article_au", "source_counts_article_ad")), "DROP TABLE IF EXISTS source_counts"]

# PostgreSQL runs row-level AFTER triggers at the end of the statement, when every row of a multi-row
# INSERT or UPDATE is visible (SQLAlchemy sends batched INSERTs as one statement), so "another entry of
# the pair" cannot be asked row by row there; statement-level triggers with transition tables count
# each statement's pairs against what existed before it instead.
_PG_LOCK = ("PERFORM pg_advisory_xact_lock(7170, s) FROM (SELECT DISTINCT source_id AS s FROM ({rows}) t "
            "ORDER BY 1) x;")  # sorted: two writers of several sources never wait for each other in a circle
POSTGRES_DDL = [
    TABLE_DDL,
    f"""CREATE FUNCTION source_counts_entries_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {_PG_LOCK.format(rows="SELECT source_id FROM new_rows")}
  INSERT INTO source_counts (source_id, what, n)
    SELECT source_id, 'status:' || status, COUNT(*) FROM new_rows GROUP BY source_id, status {_BUMP};
  INSERT INTO source_counts (source_id, what, n)
    SELECT p.source_id, 'articles', COUNT(*) FROM (SELECT DISTINCT source_id, article_id FROM new_rows
                                                   WHERE article_id IS NOT NULL) p
    WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.source_id = p.source_id AND e.article_id = p.article_id
                      AND NOT EXISTS (SELECT 1 FROM new_rows x WHERE x.id = e.id))
    GROUP BY p.source_id {_BUMP};
  RETURN NULL;
END $$""",
    f"""CREATE FUNCTION source_counts_entries_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {_PG_LOCK.format(rows="SELECT source_id FROM old_rows")}
  INSERT INTO source_counts (source_id, what, n)
    SELECT source_id, 'status:' || status, -COUNT(*) FROM old_rows GROUP BY source_id, status {_BUMP};
  INSERT INTO source_counts (source_id, what, n)
    SELECT p.source_id, 'articles', -COUNT(*) FROM (SELECT DISTINCT source_id, article_id FROM old_rows
                                                    WHERE article_id IS NOT NULL) p
    WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.source_id = p.source_id AND e.article_id = p.article_id)
    GROUP BY p.source_id {_BUMP};
  RETURN NULL;
END $$""",
    f"""CREATE FUNCTION source_counts_entries_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
                 WHERE n.status IS DISTINCT FROM o.status OR n.article_id IS DISTINCT FROM o.article_id
                       OR n.source_id IS DISTINCT FROM o.source_id) THEN
    RETURN NULL;  -- the common update (times, counters): nothing counted changed
  END IF;
  {_PG_LOCK.format(rows="SELECT source_id FROM old_rows UNION SELECT source_id FROM new_rows")}
  INSERT INTO source_counts (source_id, what, n)
    SELECT source_id, what, SUM(d) FROM (
      SELECT o.source_id, 'status:' || o.status AS what, -1 AS d FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE n.status IS DISTINCT FROM o.status OR n.source_id IS DISTINCT FROM o.source_id
      UNION ALL
      SELECT n.source_id, 'status:' || n.status, 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE n.status IS DISTINCT FROM o.status OR n.source_id IS DISTINCT FROM o.source_id) c
    GROUP BY source_id, what {_BUMP};
  -- a pair is new when no row had it before the statement (an old row of it, or an entry not updated)
  INSERT INTO source_counts (source_id, what, n)
    SELECT p.source_id, 'articles', COUNT(*) FROM (SELECT DISTINCT source_id, article_id FROM new_rows
                                                   WHERE article_id IS NOT NULL) p
    WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.source_id = p.source_id AND o.article_id = p.article_id)
      AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.source_id = p.source_id AND e.article_id = p.article_id
                      AND NOT EXISTS (SELECT 1 FROM new_rows x WHERE x.id = e.id))
    GROUP BY p.source_id {_BUMP};
  -- and gone when no entry has it after it
  INSERT INTO source_counts (source_id, what, n)
    SELECT p.source_id, 'articles', -COUNT(*) FROM (SELECT DISTINCT source_id, article_id FROM old_rows
                                                    WHERE article_id IS NOT NULL) p
    WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.source_id = p.source_id AND e.article_id = p.article_id)
    GROUP BY p.source_id {_BUMP};
  RETURN NULL;
END $$""",
    f"""CREATE FUNCTION source_counts_article() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO source_counts (source_id, what, n)
      VALUES (OLD.source_id, 'language:' || COALESCE(OLD.language, ''), -1) {_BUMP};
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO source_counts (source_id, what, n)
      VALUES (NEW.source_id, 'language:' || COALESCE(NEW.language, ''), 1) {_BUMP};
  END IF;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER source_counts_entries_ins AFTER INSERT ON entries REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION source_counts_entries_ins()",
    "CREATE TRIGGER source_counts_entries_del AFTER DELETE ON entries REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION source_counts_entries_del()",
    "CREATE TRIGGER source_counts_entries_upd AFTER UPDATE ON entries REFERENCING OLD TABLE AS old_rows "
    "NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION source_counts_entries_upd()",
    # (languages add up row by row, so these stay row-level)
    "CREATE TRIGGER source_counts_articles_ai AFTER INSERT OR DELETE ON articles FOR EACH ROW "
    "EXECUTE FUNCTION source_counts_article()",
    "CREATE TRIGGER source_counts_articles_au AFTER UPDATE OF language, source_id ON articles FOR EACH ROW "
    "WHEN (NEW.language IS DISTINCT FROM OLD.language OR NEW.source_id IS DISTINCT FROM OLD.source_id) "
    "EXECUTE FUNCTION source_counts_article()",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS source_counts_articles_au ON articles",
    "DROP TRIGGER IF EXISTS source_counts_articles_ai ON articles",
    "DROP TRIGGER IF EXISTS source_counts_entries_upd ON entries",
    "DROP TRIGGER IF EXISTS source_counts_entries_del ON entries",
    "DROP TRIGGER IF EXISTS source_counts_entries_ins ON entries",
    "DROP FUNCTION IF EXISTS source_counts_article()",
    "DROP FUNCTION IF EXISTS source_counts_entries_upd()",
    "DROP FUNCTION IF EXISTS source_counts_entries_del()",
    "DROP FUNCTION IF EXISTS source_counts_entries_ins()",
    "DROP TABLE IF EXISTS source_counts",
]
