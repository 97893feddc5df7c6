"""Archive URLs as operators write them, without SQLAlchemy (the read commands' direct paths use it)."""

from __future__ import annotations

import re

_PASSWORD = re.compile(r"^([a-z0-9+]+://[^:/@]*):[^@]*@")


def normalize_url(url: str) -> str:
    """Accept the URL forms operators write; PostgreSQL goes through psycopg 3."""
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


def hide_password(url: str) -> str:
    """``url`` (normalised) as SQLAlchemy renders it with ``hide_password=True``: the search index of a
    PostgreSQL archive is kept under a name made from that rendering, so every path must agree."""
    return _PASSWORD.sub(r"\1:***@", url, count=1)
