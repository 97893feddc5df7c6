"""runs: the process that runs it, so a run whose process was killed can be told apart

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

- runs.owner: host, pid and the pid's start time (``ingest.store.leases.new_owner``). A run left "running"
  by a process that no longer exists on this machine is marked "abandoned" by the next run.

Only ``down_revision`` refers to another migration: re-pointing it is all a merge needs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('runs', sa.Column('owner', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runs') as batch:
        batch.drop_column('owner')
