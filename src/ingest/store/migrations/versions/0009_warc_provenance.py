"""WARC and public-archive provenance on fetches (issue 11, interop)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

A page can be archived from bytes someone else fetched: a WARC record (CC-NEWS, wget, Browsertrix,
ingest's own export) or a Wayback Machine capture. Its ``fetches`` row then says where they came from:

- fetches.warc_file, warc_offset, warc_record_id: the WARC file (a path or URL), the byte offset of the
  record's (gzip member's) start in it, and its WARC-Record-ID;
- fetches.capture_url: the Wayback URL the bytes were read from (``web/{timestamp}id_/{original}``);
- fetches.captured_at: when the original server answered (WARC-Date, or the capture's timestamp).

Columns added to an existing table, nullable: existing archives upgrade in place on SQLite and
PostgreSQL. Only ``down_revision`` refers to another migration: re-pointing it is all a merge needs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_COLUMNS = (
    ('warc_file', sa.Text()),
    ('warc_offset', sa.BigInteger()),
    ('warc_record_id', sa.Text()),
    ('capture_url', sa.Text()),
    ('captured_at', sa.DateTime()),
)


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column('fetches', sa.Column(name, type_, nullable=True))
    op.create_index('ix_fetches_warc_record_id', 'fetches', ['warc_record_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_fetches_warc_record_id', table_name='fetches')
    with op.batch_alter_table('fetches') as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
