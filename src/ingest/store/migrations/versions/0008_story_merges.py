"""story cluster merges and containment (issue 10, stories)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Only ``down_revision`` refers to another migration: re-pointing it is all a merge needs.

A new table only (``story_merges``: a story merged into an older one; see ingest.store.clusters).
Existing archives keep their stories as they are; their articles lack the lead-index band rows, which
``ingest reprocess`` does not need: new articles find old ones by their text bands, and old truncated
copies by containment when the text bands make them candidates.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('story_merges',
    sa.Column('from_cluster_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('into_cluster_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('similarity', sa.Float(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=True),
    sa.Column('members', sa.Integer(), nullable=False),
    sa.CheckConstraint('into_cluster_id < from_cluster_id', name='ck_story_merges_older'),
    sa.ForeignKeyConstraint(['from_cluster_id'], ['story_clusters.id'], ),
    sa.ForeignKeyConstraint(['into_cluster_id'], ['story_clusters.id'], ),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ),
    sa.PrimaryKeyConstraint('from_cluster_id')
    )
    with op.batch_alter_table('story_merges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_story_merges_into_cluster_id'), ['into_cluster_id'], unique=False)


def downgrade() -> None:
    op.drop_table('story_merges')
