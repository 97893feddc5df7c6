"""Full-text search over articles: FTS5 on SQLite, tsvector + GIN on PostgreSQL, over the same tokens.

User input never reaches SQL as text: it is analysed like the articles (ingest.analyse.searchtext),
translated into the engine's query language (store/searchquery.py) and bound as a parameter. The
default syntax is the same on both engines: words are ANDed, ``"quoted phrases"``, ``OR`` between
words, ``-word`` excludes, ``word*`` matches a prefix; words match across inflection (stems) and inside
CJK runs (bigrams). ``raw=True`` passes FTS5 / ``to_tsquery`` syntax through (it meets the exact
tokens only); its syntax errors become :class:`~ingest.errors.UsageError`. Snippets are made in Python
for the returned rows only (ingest.analyse.snippets).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ingest.errors import UsageError
from ingest.store.reads import rows as read_rows
from ingest.store.searchquery import (
    ARCHIVE_LANGUAGES,
    archive_languages,
    fts5_query,
    parse,
    to_fts5,
    to_tsquery,
)

__all__ = ["Filters", "Hit", "fts5_query", "search", "where_clauses"]

if TYPE_CHECKING:
    from sqlalchemy import Engine



ORDERS = ("relevance", "newest")
NEWEST = "COALESCE(a.published_at, a.first_seen_at) DESC, a.id DESC"


@dataclass(frozen=True, slots=True)
class Filters:
    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    language: str | None = None
    article_ids: tuple[int, ...] = field(default=())


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
    if filters.article_ids:
        names = []
        for i, article_id in enumerate(filters.article_ids):
            params[f"aid{i}"] = int(article_id)
            names.append(f":aid{i}")
        clauses.append(f"a.id IN ({', '.join(names)})")
    return clauses


@dataclass(frozen=True, slots=True)
class Hit:
    article_id: int
    score: float | None
    snippet: str | None


def search(engine: Engine, query: str | None, filters: Filters = Filters(), *, limit: int = 20,
           offset: int = 0, raw: bool = False, snippets: bool = True, order: str = "relevance",
           use_index: bool = True) -> list[Hit]:
    """Article ids best first: by relevance with a query (``order="newest"``: newest first), newest
    first without one; ``snippets=False`` when only the ids are wanted (export). The search engine's
    index answers (``store/searchengine.py``) unless ``raw`` (engine syntax), ``use_index=False`` (every
    match, unranked, for export) or it cannot; then the SQL index does, with the same hits."""
    if order not in ORDERS:
        raise UsageError(f"unknown search order {order!r} (one of {', '.join(ORDERS)})")
    dialect = engine.dialect.name
    if query and "\x00" in query:  # PostgreSQL refuses NUL in text; no engine can match it anyway
        raise UsageError(f"bad search query {query!r}: it contains a NUL character")
    plan = parse(query, _languages(engine)) if query and not raw else None
    if use_index and not raw:
        from ingest.store.searchengine import search_ids

        found = search_ids(engine, plan, filters, limit=limit, offset=offset,
                           order=order if query else "newest")
        if found is not None:
            shown = _snippets(engine, [i for i, _ in found], plan, query) if query and snippets and found else {}
            return [Hit(i, score, shown.get(i)) for i, score in found]
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    where = where_clauses(filters, dialect, params)
    if not query:
        sql = ("SELECT a.id, NULL, NULL FROM articles a" + (" WHERE " + " AND ".join(where) if where else "")
               + f" ORDER BY {NEWEST} LIMIT :limit OFFSET :offset")
    elif dialect == "sqlite":
        params["q"] = query if plan is None else to_fts5(plan)
        # title 10 : text 1, as before; exact forms rank first as they match their stems too
        sql = ("SELECT a.id, bm25(articles_fts, 10.0, 1.0) AS score, NULL FROM articles_fts "
               "JOIN articles a ON a.id = articles_fts.rowid WHERE articles_fts MATCH :q"
               + "".join(" AND " + w for w in where)
               + f" ORDER BY {'score, a.id' if order == 'relevance' else NEWEST} LIMIT :limit OFFSET :offset")
    elif dialect == "postgresql":
        params["q"] = query if plan is None else to_tsquery(plan)
        # the analyser's lexemes are cast, not parsed again; raw syntax goes through the parser
        q = "to_tsquery('simple', :q)" if plan is None else "CAST(:q AS tsquery)"
        sql = (f"SELECT a.id, ts_rank_cd(a.search_vector, q) AS score, NULL FROM articles a, {q} q "
               "WHERE a.search_vector @@ q" + "".join(" AND " + w for w in where)
               + f" ORDER BY {'score DESC, a.id' if order == 'relevance' else NEWEST} LIMIT :limit OFFSET :offset")
    else:
        raise UsageError(f"full-text search is not supported on {dialect}")
    # SQLAlchemy's errors are imported only where SQLAlchemy runs: the read commands' SQLite path
    # (store/sqlitereads.py) raises sqlite3's own
    db_errors: tuple[type[BaseException], ...] = getattr(engine, "read_errors", (sqlite3.Error,))
    syntax_errors: tuple[type[BaseException], ...] = getattr(engine, "syntax_errors", (sqlite3.OperationalError,))
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
    shown = _snippets(engine, [int(r[0]) for r in rows], plan, query) if query and snippets and rows else {}
    return [Hit(int(r[0]), None if r[1] is None else float(r[1]), shown.get(int(r[0]))) for r in rows]


def with_snippets(engine: Any, hits: list[Hit], query: str | None, raw: bool = False) -> list[Hit]:
    """``hits`` (found with ``snippets=False``) with their snippets, made for these hits only."""
    if not query or not hits:
        return hits
    plan = None if raw else parse(query, _languages(engine))
    shown = _snippets(engine, [h.article_id for h in hits], plan, query)
    return [Hit(h.article_id, h.score, shown.get(h.article_id)) for h in hits]


def _languages(engine: Any) -> frozenset[str]:
    with engine.connect() as conn:
        return archive_languages([r.x for r in read_rows(conn, ARCHIVE_LANGUAGES)])


def _snippets(engine: Any, ids: list[int], plan: Any, query: str) -> dict[int, str]:
    """A snippet for each returned hit (and for no other match)."""
    from ingest.analyse.snippets import highlight_of, snippet

    if plan is None:  # raw syntax: highlight its words as plain words
        try:
            plan = parse(" ".join(w for w in query.replace('"', " ").split() if w not in ("AND", "OR", "NOT")))
        except UsageError:
            return {}
    h = highlight_of(plan.positive())
    with engine.connect() as conn:
        found = read_rows(conn, "SELECT id, language, text FROM articles WHERE id IN :ids", {"ids": ids},
                          expanding=("ids",))
    return {int(r.id): snippet(r.text or "", r.language, h) for r in found}
