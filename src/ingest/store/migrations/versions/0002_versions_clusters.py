"""article versions, story clusters, LSH index, title hashes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

New tables only (the existing ones are not altered): ``article_versions`` (every distinct text of an
article), ``article_state`` (latest version, re-check schedule, MinHash signature, cluster), ``lsh_bands``
(the near-duplicate candidate index), ``title_hashes`` (title dedup per source over a window),
``story_clusters`` and ``cluster_members``. Existing articles get version 1 (their current text).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('article_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('fetched_at', sa.DateTime(), nullable=False),
    sa.Column('fetch_id', sa.Integer(), nullable=True),
    sa.Column('extraction_id', sa.Integer(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ),
    sa.ForeignKeyConstraint(['fetch_id'], ['fetches.id'], ),
    sa.ForeignKeyConstraint(['extraction_id'], ['extractions.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('article_id', 'version', name='uq_article_versions')
    )
    with op.batch_alter_table('article_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_article_versions_article_id'), ['article_id'], unique=False)

    op.create_table('article_state',
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('version_key', sa.String(length=64), nullable=True),
    sa.Column('checks', sa.Integer(), nullable=False),
    sa.Column('checked_at', sa.DateTime(), nullable=True),
    sa.Column('listed_updated_at', sa.DateTime(), nullable=True),
    sa.Column('next_check_at', sa.DateTime(), nullable=True),
    sa.Column('signature', sa.LargeBinary(), nullable=True),
    sa.Column('cluster_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ),
    sa.PrimaryKeyConstraint('article_id')
    )
    with op.batch_alter_table('article_state', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_article_state_next_check_at'), ['next_check_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_article_state_cluster_id'), ['cluster_id'], unique=False)

    op.create_table('lsh_bands',
    sa.Column('band', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.BigInteger(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ),
    sa.PrimaryKeyConstraint('band', 'bucket', 'article_id')
    )

    op.create_table('title_hashes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('title_sha256', sa.String(length=64), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('seen_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], ),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('title_hashes', schema=None) as batch_op:
        batch_op.create_index('ix_title_hashes_lookup', ['source_id', 'title_sha256', 'seen_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_title_hashes_article_id'), ['article_id'], unique=False)

    op.create_table('story_clusters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('first_article_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['first_article_id'], ['articles.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('first_article_id')
    )

    op.create_table('cluster_members',
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.Column('similarity', sa.Float(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ),
    sa.ForeignKeyConstraint(['cluster_id'], ['story_clusters.id'], ),
    sa.PrimaryKeyConstraint('article_id')
    )
    with op.batch_alter_table('cluster_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cluster_members_cluster_id'), ['cluster_id'], unique=False)

    # existing articles: their current text is version 1
    op.execute("INSERT INTO article_versions (article_id, version, title, text, content_sha256, fetched_at, "
               "extraction_id, run_id) SELECT id, 1, title, text, content_sha256, fetched_at, "
               "current_extraction_id, run_id FROM articles")
    op.execute("INSERT INTO article_state (article_id, version, checks) SELECT id, 1, 0 FROM articles")


def downgrade() -> None:
    for table in ('cluster_members', 'story_clusters', 'title_hashes', 'lsh_bands', 'article_state',
                  'article_versions'):
        op.drop_table(table)
