"""Search with one hit per story (``ingest search --collapse``)."""

from __future__ import annotations

from sqlalchemy import Engine, select

from ingest.store.db import read_session
from ingest.store.models import ClusterMember
from ingest.store.search import Filters, Hit, search


def clusters_of(engine: Engine, ids: list[int]) -> dict[int, int]:
    with read_session(engine) as s:
        return dict(s.execute(select(ClusterMember.article_id, ClusterMember.cluster_id).where(
            ClusterMember.article_id.in_(ids))).all())  # type: ignore[attr-defined]


def search_collapsed(engine: Engine, query: str | None, filters: Filters | None = None, *, limit: int = 20,
                     offset: int = 0, raw: bool = False) -> list[Hit]:
    """The best hit of each story, in search order; ``offset``/``limit`` count stories. Reads the plain
    result list in growing windows until enough stories are found or the results end."""
    seen: set[int] = set()
    stories: list[Hit] = []
    window, start = max(4 * (offset + limit), 100), 0
    while len(stories) < offset + limit:
        hits = search(engine, query, filters or Filters(), limit=window, offset=start, raw=raw)
        cluster = clusters_of(engine, [h.article_id for h in hits])
        for h in hits:
            key = cluster.get(h.article_id, -h.article_id)  # unclustered: its own story
            if key not in seen:
                seen.add(key)
                stories.append(h)
        if len(hits) < window:
            break
        start += window
    return stories[offset:offset + limit]
