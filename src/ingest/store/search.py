"""Full-text search over articles: FTS5 on SQLite, tsvector + GIN on PostgreSQL.

User input never reaches SQL as text: it is translated into the engine's query language and bound as a
parameter. The default syntax is the same on both engines (PostgreSQL's ``websearch_to_tsquery``):
words are ANDed, ``"quoted phrases"``, ``OR`` between words, ``-word`` excludes, ``word*`` matches a
prefix (SQLite only). ``raw=True`` passes FTS5 / ``to_tsquery`` syntax through; its syntax errors
become :class:`~ingest.errors.UsageError`.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ingest.errors import UsageError
from ingest.store.reads import rows as read_rows

if TYPE_CHECKING:
    from sqlalchemy import Engine

_TOKEN = re.compile(r'-?"[^"]*"?|\S+')
_WORD = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class Filters:
    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    language: str | None = None
    article_ids: tuple[int, ...] = field(default=())


def fts5_query(user: str) -> str:
    """Translate the websearch-like syntax into a safe FTS5 expression (every term quoted)."""
    parts: list[str] = []
    pending_or = False
    for tok in _TOKEN.findall(user):
        if tok == "OR" and parts:
            pending_or = True
            continue
        negate = tok.startswith("-") and len(tok) > 1
        tok = tok[1:] if negate else tok
        prefix = tok.endswith("*") and not tok.startswith('"')
        term = tok.strip('"').rstrip("*").replace('"', "")
        if not _WORD.search(term):  # punctuation alone tokenises to nothing
            continue
        expr = '"' + term + '"' + ("*" if prefix else "")
        if negate:
            if parts:
                parts[-1] = f"{parts[-1]} NOT {expr}"
            continue
        if pending_or and parts:
            parts[-1] = f"({parts[-1]} OR {expr})"
        else:
            parts.append(expr)
        pending_or = False
    if not parts:
        raise UsageError(f"search query {user!r} has no words to search for")
    return " AND ".join(parts)


def where_clauses(filters: Filters, dialect: str, params: dict[str, Any]) -> list[str]:
    clauses: list[str] = []
    if filters.sources:
        names = []
        for i, name in enumerate(filters.sources):
            params[f"src{i}"] = name
            names.append(f":src{i}")
        # an article belongs to every source that listed it, not only the first
        clauses.append(f"a.id IN (SELECT e.article_id FROM entries e JOIN sources s ON s.id = e.source_id "
                       f"WHERE s.name IN ({', '.join(names)}) AND e.article_id IS NOT NULL)")
    for i, tag in enumerate(filters.tags):
        params[f"tag{i}"] = tag.lower()
        clauses.append(f"a.id IN (SELECT t.article_id FROM article_tags t WHERE t.tag = :tag{i})")
    if filters.since:
        params["since"] = filters.since.replace(tzinfo=None)
        clauses.append("COALESCE(a.published_at, a.first_seen_at) >= :since")
    if filters.until:
        params["until"] = filters.until.replace(tzinfo=None)
        clauses.append("COALESCE(a.published_at, a.first_seen_at) < :until")
    if filters.language:
        params["lang"] = filters.language
        clauses.append("a.language = :lang")
    return clauses


@dataclass(frozen=True, slots=True)
class Hit:
    article_id: int
    score: float | None
    snippet: str | None


def search(engine: Engine, query: str | None, filters: Filters = Filters(), *, limit: int = 20,
           offset: int = 0, raw: bool = False) -> list[Hit]:
    """Article ids best first (by relevance with a query, newest first without one)."""
    dialect = engine.dialect.name
    if query and "\x00" in query:  # PostgreSQL refuses NUL in text; no engine can match it anyway
        raise UsageError(f"bad search query {query!r}: it contains a NUL character")
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    where = where_clauses(filters, dialect, params)
    if not query:
        sql = ("SELECT a.id, NULL, NULL FROM articles a" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY COALESCE(a.published_at, a.first_seen_at) DESC, a.id DESC LIMIT :limit OFFSET :offset")
    elif dialect == "sqlite":
        params["q"] = query if raw else fts5_query(query)
        sql = ("SELECT a.id, bm25(articles_fts, 10.0, 1.0) AS score, "
               "snippet(articles_fts, 1, '[', ']', '…', 16) FROM articles_fts "
               "JOIN articles a ON a.id = articles_fts.rowid WHERE articles_fts MATCH :q"
               + "".join(" AND " + w for w in where) + " ORDER BY score, a.id LIMIT :limit OFFSET :offset")
    elif dialect == "postgresql":
        params["q"] = query
        fn = "to_tsquery" if raw else "websearch_to_tsquery"
        sql = (f"SELECT a.id, ts_rank_cd(a.search_vector, q) AS score, ts_headline('simple', a.text, q, "
               f"'StartSel=[,StopSel=],MaxWords=30,MinWords=12') FROM articles a, {fn}('simple', :q) q "
               "WHERE a.search_vector @@ q" + "".join(" AND " + w for w in where)
               + " ORDER BY score DESC, a.id LIMIT :limit OFFSET :offset")
    else:
        raise UsageError(f"full-text search is not supported on {dialect}")
    # SQLAlchemy's errors are imported only where SQLAlchemy runs: the read commands' SQLite path
    # (store/sqlitereads.py) raises sqlite3's own
    db_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
    syntax_errors: tuple[type[BaseException], ...] = (sqlite3.OperationalError,)
    if "sqlalchemy" in type(engine).__module__:
        from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

        db_errors, syntax_errors = (OperationalError, ProgrammingError, DBAPIError), (OperationalError,
                                                                                      ProgrammingError)
    try:
        with engine.connect() as conn:
            rows = read_rows(conn, sql, params)
    except db_errors as exc:
        if not query or not (raw or isinstance(exc, syntax_errors)):
            raise
        # The statement is fixed and was tested; what varies is the bound query text.
        message = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise UsageError(f"bad search query {query!r}: {message}") from None
    return [Hit(int(r[0]), None if r[1] is None else float(r[1]), r[2]) for r in rows]
