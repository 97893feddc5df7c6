"""The archive: every SQL statement of ingest is in this package (SQLModel tables, SQLite by default,
PostgreSQL at scale). Writes (``archive``, ``revisions``, ``clusters``, ``tagstore``, ``events``),
queries (``query``, ``search``, ``stories``), bookkeeping (``runs``, ``sources``, ``leases``,
``hostslots``) and the schema (``db``, ``models``, ``migrations/``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest._lazy import lazy_exports

if TYPE_CHECKING:
    from ingest.store.db import open_archive, open_engine, read_session, upgrade, write_session
    from ingest.store.search import Filters, search

_PUBLIC = {"open_archive": "db", "open_engine": "db", "read_session": "db", "write_session": "db",
           "upgrade": "db", "Filters": "search", "search": "search"}
__all__ = ["Filters", "open_archive", "open_engine", "read_session", "search", "upgrade", "write_session"]
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
