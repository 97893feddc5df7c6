"""Indexes for what `ingest sources` counts per source (issue 13: `sources` at a million articles)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

- ``ix_entries_source_article`` (source_id, article_id): the articles per source, from the index alone.
- ``ix_entries_failed`` (source_id, error_kind) WHERE status = 'failed': the failed items per source and
  per kind; a partial index, as failures are few.
- ``ix_entries_first_seen`` (first_seen_at, source_id): the items of the last seven days per source, a
  range of the index instead of every entry.

Only ``down_revision`` refers to another migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_entries_source_article', 'entries', ['source_id', 'article_id'], unique=False)
    op.create_index('ix_entries_failed', 'entries', ['source_id', 'error_kind'], unique=False,
                    sqlite_where=sa.text("status = 'failed'"), postgresql_where=sa.text("status = 'failed'"))
    op.create_index('ix_entries_first_seen', 'entries', ['first_seen_at', 'source_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_entries_first_seen', table_name='entries')
    op.drop_index('ix_entries_failed', table_name='entries')
    op.drop_index('ix_entries_source_article', table_name='entries')
