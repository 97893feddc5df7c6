"""feed validators' health, meta refresh hops, entry content changes, page removals

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

- sources.last_body_at, sources.validators_unreliable_since: conditional GET is not trusted blindly;
  a feed whose ETag/Last-Modified were caught lying is fetched without them.
- fetches.meta_refresh: the URLs reached through ``<meta http-equiv="refresh">`` on that fetch.
- entries.changed_at: when the feed last changed the item's title or summary (a re-check reason;
  a bumped ``<updated>`` date alone is not).
- article_state.gone_since, gone_status, and article_events: a re-checked page that answers 404/410
  is recorded as gone (the article stays archived), and as restored when it comes back.

Only ``down_revision`` refers to another migration: re-pointing it is all a merge needs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sources', sa.Column('last_body_at', sa.DateTime(), nullable=True))
    op.add_column('sources', sa.Column('validators_unreliable_since', sa.DateTime(), nullable=True))
    op.add_column('fetches', sa.Column('meta_refresh', sa.JSON(), nullable=True))
    op.add_column('entries', sa.Column('changed_at', sa.DateTime(), nullable=True))
    op.add_column('article_state', sa.Column('gone_since', sa.DateTime(), nullable=True))
    op.add_column('article_state', sa.Column('gone_status', sa.Integer(), nullable=True))
    op.create_table('article_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('fetch_id', sa.Integer(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ),
    sa.ForeignKeyConstraint(['fetch_id'], ['fetches.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_article_events_article', 'article_events', ['article_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_article_events_article', table_name='article_events')
    op.drop_table('article_events')
    for table, columns in (('article_state', ('gone_status', 'gone_since')), ('entries', ('changed_at',)),
                           ('fetches', ('meta_refresh',)),
                           ('sources', ('validators_unreliable_since', 'last_body_at'))):
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column)
