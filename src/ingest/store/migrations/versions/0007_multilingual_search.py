"""stemmed and CJK n-gram search text on both engines (issue 10, search)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Only ``down_revision`` refers to another migration: re-pointing it is all a merge needs.
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
