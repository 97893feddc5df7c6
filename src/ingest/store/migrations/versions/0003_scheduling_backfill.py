"""scheduling state, leases, backfill checkpoints, cross-process host slots

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

- sources: a lease (owner, expiry) that keeps two runs from polling one source at once, and the
  adaptive poll interval the next poll is planned from.
- backfill_checkpoints: one row per (source, via, date window); a finished window is never redone.
- host_slots: per-host request slots leased by any process sharing the archive (politeness across
  processes).

Only ``down_revision`` refers to another migration: re-pointing it is all a merge needs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sources', sa.Column('lease_owner', sa.String(length=128), nullable=True))
    op.add_column('sources', sa.Column('lease_expires_at', sa.DateTime(), nullable=True))
    op.add_column('sources', sa.Column('poll_interval_s', sa.Integer(), nullable=True))
    op.create_table('backfill_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('via', sa.Text(), nullable=False),
    sa.Column('window_start', sa.DateTime(), nullable=False),
    sa.Column('window_end', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('urls', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_id', 'via', 'window_start', 'window_end', name='uq_backfill_window')
    )
    op.create_table('host_slots',
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('last_start_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('host', 'slot')
    )


def downgrade() -> None:
    op.drop_table('host_slots')
    op.drop_table('backfill_checkpoints')
    with op.batch_alter_table('sources') as batch:
        batch.drop_column('poll_interval_s')
        batch.drop_column('lease_expires_at')
        batch.drop_column('lease_owner')
