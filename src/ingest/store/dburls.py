"""Archive URLs as operators write them, without SQLAlchemy (the read commands' direct paths use it)."""

from __future__ import annotations

import os
import re

_PASSWORD = re.compile(r"^([a-z0-9+]+://[^:/@]*):[^@]*@")


_SQLITE_FILE = re.compile(r"\.(?:db|sqlite3?|db3)$", re.I)


def file_url(value: str) -> str:
    """A plain path to a SQLite file (``data/archive.db``, ``/srv/news.sqlite``: no scheme, and a SQLite
    file name or an existing file) as its ``sqlite:///`` URL, as sqlite-utils and Datasette take a path;
    anything else as it is."""
    if value and "://" not in value and (_SQLITE_FILE.search(value) or os.path.isfile(value)):
        return f"sqlite:///{value}"
    return value


def normalize_url(url: str) -> str:
    """Accept the URL forms operators write (and a SQLite file's path); PostgreSQL goes through psycopg 3."""
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", file_url(url))


def hide_password(url: str) -> str:
    """``url`` (normalised) as SQLAlchemy renders it with ``hide_password=True``: the search index of a
    PostgreSQL archive is kept under a name made from that rendering, so every path must agree."""
    return _PASSWORD.sub(r"\1:***@", url, count=1)
