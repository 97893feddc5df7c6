"""One copy of the current text; LSH bands without a rowid (issue 13, the disk)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

- ``extractions.text`` and ``article_versions.text`` become nullable: NULL is "the article's current
  text" (``store/textcopies.py`` has the rule and the triggers that keep it). Existing rows that copy
  their article's text are set to NULL here. On SQLite a column cannot lose NOT NULL in place, so each
  text moves to a new nullable column (add, copy, drop, rename: the table keeps its rows, ids and
  foreign keys; ``text`` becomes its last column).
- SQLite: ``lsh_bands`` is rebuilt ``WITHOUT ROWID``: its primary key (band, bucket, article_id) is
  all it holds, and a rowid table stored it twice (the table and its key's index).

The freed pages are reused by later writes; ``VACUUM`` (``sqlite3 archive.db VACUUM``) gives them back to the
file system.

Only ``down_revision`` refers to another migration.
"""

from __future__ import annotations

from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_LSH = ("CREATE TABLE {name} (band INTEGER NOT NULL, bucket BIGINT NOT NULL, article_id INTEGER NOT NULL, "
        "PRIMARY KEY (band, bucket, article_id), FOREIGN KEY(article_id) REFERENCES articles (id)){rowid}")


def _sqlite_text_column(table: str, nullable: bool) -> None:
    not_null = "" if nullable else " NOT NULL DEFAULT ''"
    op.execute(f"ALTER TABLE {table} ADD COLUMN text_new TEXT{not_null}")
    op.execute(f"UPDATE {table} SET text_new = text")
    op.execute(f"ALTER TABLE {table} DROP COLUMN text")  # SQLite >= 3.35
    op.execute(f"ALTER TABLE {table} RENAME COLUMN text_new TO text")


def _sqlite_lsh(rowid: str) -> None:
    op.execute(_LSH.format(name="lsh_bands_new", rowid=rowid))
    op.execute("INSERT INTO lsh_bands_new (band, bucket, article_id) SELECT band, bucket, article_id FROM lsh_bands "
               "ORDER BY band, bucket, article_id")
    op.execute("DROP TABLE lsh_bands")
    op.execute("ALTER TABLE lsh_bands_new RENAME TO lsh_bands")


def upgrade() -> None:
    from ingest.store import textcopies

    postgres = op.get_bind().dialect.name == "postgresql"
    for table in textcopies.TABLES:
        if postgres:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN text DROP NOT NULL")
        else:
            _sqlite_text_column(table, nullable=True)
    for statement in textcopies.SHARE_EXISTING:
        op.execute(statement)
    for statement in textcopies.POSTGRES_DDL if postgres else textcopies.SQLITE_DDL:
        op.execute(statement)
    if not postgres:
        _sqlite_lsh(" WITHOUT ROWID")


def downgrade() -> None:
    from ingest.store import textcopies

    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in textcopies.POSTGRES_DROP if postgres else textcopies.SQLITE_DROP:
        op.execute(statement)
    for statement in textcopies.MATERIALISE_ALL:
        op.execute(statement)
    for table in textcopies.TABLES:
        if postgres:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN text SET NOT NULL")
        else:
            _sqlite_text_column(table, nullable=False)
    if not postgres:
        _sqlite_lsh("")
