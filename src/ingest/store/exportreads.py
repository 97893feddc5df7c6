"""Reads the file exports add to the export record (``query.article_records``): what a typed format
such as Parquet can carry and JSON lines keep flat.

Today that is the tags with their origin, label and score (``article_tags``): the export record lists
tag names only, a Parquet file keeps each tag as a struct.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest.store.reads import rows

CHUNK = 500  # ids per IN (...) list


def tag_details(s: Any, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Per article id: its tags as ``{tag, origin, label, score}``, ordered by tag then origin (one tag
    found by two origins, say the feed's category and a taxonomy rule, is two structs)."""
    out: dict[int, list[dict[str, Any]]] = {}
    ids = list(ids)
    for i in range(0, len(ids), CHUNK):
        for r in rows(s, "SELECT article_id, tag, origin, label, score FROM article_tags WHERE article_id IN :ids "
                         "ORDER BY article_id, tag, origin", {"ids": ids[i:i + CHUNK]}, expanding=["ids"]):
            out.setdefault(r.article_id, []).append(
                {"tag": r.tag, "origin": r.origin, "label": r.label,
                 "score": None if r.score is None else float(r.score)})
    return out
