"""The search engine's change log is trimmed; its horizon is recorded (issue 13: flat over time)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

``search_log_state`` (one row): how far ``search_changes`` was trimmed (``store/searchtrim.py``); an
index behind it is rebuilt (``store/searchengine.py``). Before this, the log grew with every write for
the archive's whole life. Nothing is trimmed here: the next run's end does it.

Only ``down_revision`` refers to another migration.
"""

from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from ingest.store import searchlog

    for statement in searchlog.STATE_DDL:
        op.execute(statement)


def downgrade() -> None:
    from ingest.store import searchlog

    for statement in searchlog.STATE_DROP:
        op.execute(statement)
