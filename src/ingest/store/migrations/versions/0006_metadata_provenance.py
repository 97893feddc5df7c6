"""publication-time source and precision, headline candidates, comments, organisations, language evidence (issue 10, metadata)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

articles gain where their metadata came from:

- published_source (jsonld, meta, time-element, htmldate, url, feed) and published_precision
  (datetime, date): a day-only value is stored at 00:00 UTC for ordering, and exported as a date;
- published_local: the publication time as the page wrote it, with its own offset;
- modified_at: the last modification the page declares, apart from the first publication;
- title_raw: the page's <title> as written (title is the chosen headline, affixes removed);
- organisations: publishers and newsrooms credited in the byline (authors are people and agencies);
- comments: readers' comments, apart from the text;
- language_declared: the page's language declaration as written (language: normalised, checked).

Existing rows keep NULLs: ``ingest reprocess`` fills them from the stored pages.

Only ``down_revision`` refers to another migration: re-pointing it is all a merge needs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


_COLUMNS = (
    ('published_source', sa.String(length=16)),
    ('published_precision', sa.String(length=8)),
    ('published_local', sa.Text()),
    ('modified_at', sa.DateTime()),
    ('title_raw', sa.Text()),
    ('organisations', sa.JSON()),
    ('comments', sa.Text()),
    ('language_declared', sa.String(length=35)),
)


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column('articles', sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('articles') as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
