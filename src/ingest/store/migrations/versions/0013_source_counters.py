"""Counts per source kept by triggers (issue 13: `ingest sources` and `stats` at a million articles)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

``source_counts`` (source_id, what, n): per source, its distinct articles, its entries by status and
the articles it first listed by language, kept by triggers on ``entries`` and ``articles`` on both
engines (``store/sourcecounts.py``). Existing archives are counted once here (one pass over entries
and articles).

Only ``down_revision`` refers to another migration.
"""

from __future__ import annotations

from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from ingest.store import sourcecounts

    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in sourcecounts.POSTGRES_DDL if postgres else sourcecounts.SQLITE_DDL:
        op.execute(statement)
    for statement in sourcecounts.RECOUNT:
        op.execute(statement)


def downgrade() -> None:
    from ingest.store import sourcecounts

    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in sourcecounts.POSTGRES_DROP if postgres else sourcecounts.SQLITE_DROP:
        op.execute(statement)
