"""Extraction drift kept per source (issue 12: judged when pages are stored, not when read)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

- ``source_drift``: one row per source, the verdict (``drifting``, ``drifting_since``, ``judged``,
  ``verdict``: what ``ingest sources``, the web sources page and the poll summary show) and the walk it
  goes on from (``rolling``: the latest window and baseline observations, ``last_fetch_id``: the newest
  page fetch walked). See ingest.store.driftstate.
- ``ix_extractions_fetch_id`` and ``ix_entries_page_fetch_id``: a poll reads a source's new observations
  from its new page fetches.

Existing archives: the upgrade fills every source's row from its history once (the walk over its latest
``history`` observations, with the default thresholds; a config with others re-judges a source from its
history at its next poll). Only ``down_revision`` refers to another migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('source_drift',
    sa.Column('source_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('drifting', sa.Boolean(), nullable=False),
    sa.Column('drifting_since', sa.DateTime(), nullable=True),
    sa.Column('judged', sa.Boolean(), nullable=False),
    sa.Column('last_fetch_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('verdict', sa.JSON(), nullable=False),
    sa.Column('rolling', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], ),
    sa.PrimaryKeyConstraint('source_id')
    )
    op.create_index('ix_extractions_fetch_id', 'extractions', ['fetch_id'], unique=False)
    op.create_index('ix_entries_page_fetch_id', 'entries', ['page_fetch_id'], unique=False)
    from ingest.clock import SYSTEM_CLOCK
    from ingest.store.driftstate import backfill  # (the library's walk: one definition of the state)

    backfill(op.get_bind(), SYSTEM_CLOCK.now())


def downgrade() -> None:
    op.drop_index('ix_entries_page_fetch_id', table_name='entries')
    op.drop_index('ix_extractions_fetch_id', table_name='extractions')
    op.drop_table('source_drift')
