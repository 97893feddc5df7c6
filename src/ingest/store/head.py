"""The newest schema revision (``store/migrations/versions/``), importable without SQLAlchemy.

Opening an archive compares its version row with this, one SELECT, and imports Alembic (~0.3 s) only
when they differ; a test keeps the two equal. Add a migration: bump this with it.
"""

SCHEMA_HEAD = "0015"
