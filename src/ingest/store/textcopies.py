"""One stored copy of an article's current text (issue 13, the disk).

``extractions.text`` and ``article_versions.text`` are NULL when the row's text is the article's
current text (``articles.text``), which is what almost every row is: an article's one extraction and
its one version are the text it has. A row keeps its own text when it differs: a superseded version,
an extraction whose text was not a new version (whitespace or punctuation edits) or was replaced.
Readers take ``COALESCE(row.text, articles.text)`` (:data:`VERSION_TEXT`, :data:`EXTRACTION_TEXT`).

The database keeps the rule, whoever writes, with triggers on both engines:

- a new extraction or version whose text equals its article's current text is stored as NULL;
- when an article's text changes, every row that relied on it gets the old text first, then every row
  whose own text is the new one becomes NULL (a revert to an earlier text shares it again);
- before an article row is deleted, the rows that relied on it get its text.

So the history is never lost and never depends on the order a write path does things in.
"""

from __future__ import annotations

TABLES = ("extractions", "article_versions")

# the text of a version or extraction row, aliased v / x, joined to its article a
VERSION_TEXT = "COALESCE(v.text, a.text)"
EXTRACTION_TEXT = "COALESCE(x.text, a.text)"

_MATERIALISE = "UPDATE {t} SET text = {old}.text WHERE article_id = {old}.id AND text IS NULL;"
_SHARE = "UPDATE {t} SET text = NULL WHERE article_id = {new}.id AND text = {new}.text;"


def _each(template: str, **kw: str) -> str:
    return "\n  ".join(template.format(t=t, **kw) for t in TABLES)


SQLITE_DDL = [
    *(f"""CREATE TRIGGER text_copies_{t}_ai AFTER INSERT ON {t}
WHEN new.text IS NOT NULL AND new.text = (SELECT text FROM articles WHERE id = new.article_id) BEGIN
  UPDATE {t} SET text = NULL WHERE id = new.id;
END""" for t in TABLES),
    f"""CREATE TRIGGER text_copies_articles_au AFTER UPDATE OF text ON articles WHEN old.text IS NOT new.text BEGIN
  {_each(_MATERIALISE, old="old")}
  {_each(_SHARE, new="new")}
END""",
    f"""CREATE TRIGGER text_copies_articles_bd BEFORE DELETE ON articles BEGIN
  {_each(_MATERIALISE, old="old")}
END""",
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS text_copies_{name}" for name in
               ("extractions_ai", "article_versions_ai", "articles_au", "articles_bd")]

POSTGRES_DDL = [
    """CREATE FUNCTION text_copies_share() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.text IS NOT NULL AND NEW.text = (SELECT text FROM articles WHERE id = NEW.article_id) THEN
    NEW.text := NULL;
  END IF;
  RETURN NEW;
END $$""",
    *(f"CREATE TRIGGER text_copies_{t}_bi BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION text_copies_share()"
      for t in TABLES),
    f"""CREATE FUNCTION text_copies_article_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {_each(_MATERIALISE, old="OLD")}
  IF TG_OP = 'UPDATE' THEN
    {_each(_SHARE, new="NEW")}
    RETURN NEW;
  END IF;
  RETURN OLD;
END $$""",
    "CREATE TRIGGER text_copies_articles_au AFTER UPDATE OF text ON articles FOR EACH ROW "
    "WHEN (OLD.text IS DISTINCT FROM NEW.text) EXECUTE FUNCTION text_copies_article_changed()",
    "CREATE TRIGGER text_copies_articles_bd BEFORE DELETE ON articles FOR EACH ROW "
    "EXECUTE FUNCTION text_copies_article_changed()",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS text_copies_articles_bd ON articles",
    "DROP TRIGGER IF EXISTS text_copies_articles_au ON articles",
    *(f"DROP TRIGGER IF EXISTS text_copies_{t}_bi ON {t}" for t in TABLES),
    "DROP FUNCTION IF EXISTS text_copies_article_changed()",
    "DROP FUNCTION IF EXISTS text_copies_share()",
]

# rows of an existing archive that are copies of their article's current text (the migration)
SHARE_EXISTING = [f"UPDATE {t} SET text = NULL WHERE text IS NOT NULL AND text = "
                  f"(SELECT a.text FROM articles a WHERE a.id = {t}.article_id)" for t in TABLES]
# and back, for a downgrade
MATERIALISE_ALL = [f"UPDATE {t} SET text = (SELECT a.text FROM articles a WHERE a.id = {t}.article_id) "
                   "WHERE text IS NULL" for t in TABLES]
