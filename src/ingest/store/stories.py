"""Search with one hit per story (``ingest search --collapse``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ingest.store.reads import rows
from ingest.store.search import Filters, Hit, search, with_snippets

if TYPE_CHECKING:
    from sqlalchemy import Engine


def clusters_of(engine: Engine | Any, ids: list[int]) -> dict[int, int]:
    """Story cluster of each of ``ids`` that has one (plain SQL: also on the read commands' SQLite path)."""
    if not ids:
        return {}
    with engine.connect() as conn:
        return {int(r.article_id): int(r.cluster_id) for r in rows(
            conn, "SELECT article_id, cluster_id FROM cluster_members WHERE article_id IN :ids",
            {"ids": ids}, expanding=("ids",))}


def search_collapsed(engine: Engine, query: str | None, filters: Filters | None = None, *, limit: int = 20,
                     offset: int = 0, raw: bool = False, order: str = "relevance") -> list[Hit]:
    """The best hit of each story, in search order; ``offset``/``limit`` count stories. Reads the plain
    result list in growing windows until enough stories are found or the results end."""
    seen: set[int] = set()
    stories: list[Hit] = []
    window, start = max(4 * (offset + limit), 100), 0
    while len(stories) < offset + limit:
        hits = search(engine, query, filters or Filters(), limit=window, offset=start, raw=raw,
                      order=order, snippets=False)  # snippets for the stories shown only, below
        cluster = clusters_of(engine, [h.article_id for h in hits])
        for h in hits:
            key = cluster.get(h.article_id, -h.article_id)  # unclustered: its own story
            if key not in seen:
                seen.add(key)
                stories.append(h)
        if len(hits) < window:
            break
        start += window
    return with_snippets(engine, stories[offset:offset + limit], query, raw)
