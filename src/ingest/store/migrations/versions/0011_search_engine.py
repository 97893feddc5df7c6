"""The search engine's change log (issue 13: search ranked top-k over a million articles)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

- ``search_changes``: one row per change of what the search index holds of an article (its index
  tokens, publication time, tags, the sources listing it), appended by triggers on both engines;
  PostgreSQL rows carry their transaction id. ``store/searchengine.py`` follows it.
- ``search_archive``: the archive's id (a random UUID), which an index is saved with.
- ``ix_articles_newest``: ``COALESCE(published_at, first_seen_at), id``, the order of "newest first"
  and of the date filters, so the SQL index's listing and export by date read the index, not the table
  (an article row holds its text and index tokens: a scan of a million of them reads gigabytes).

Existing archives: nothing is copied; the index is built from the archive the first time it is used.
Only ``down_revision`` refers to another migration.
"""

from __future__ import annotations

import uuid

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None
NEWEST_INDEX = "CREATE INDEX ix_articles_newest ON articles (COALESCE(published_at, first_seen_at), id)"


def upgrade() -> None:
    from ingest.store import searchlog

    bind = op.get_bind()
    op.execute(searchlog.ARCHIVE_DDL)
    op.execute(f"INSERT INTO search_archive (uid) VALUES ('{uuid.uuid4()}')")
    op.execute(NEWEST_INDEX)
    for statement in searchlog.POSTGRES_DDL if bind.dialect.name == "postgresql" else searchlog.SQLITE_DDL:
        op.execute(statement)


def downgrade() -> None:
    from ingest.store import searchlog

    bind = op.get_bind()
    op.execute("DROP INDEX IF EXISTS ix_articles_newest")
    for statement in searchlog.POSTGRES_DROP if bind.dialect.name == "postgresql" else searchlog.SQLITE_DROP:
        op.execute(statement)
