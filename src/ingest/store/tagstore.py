"""Rule tags in the archive: apply a taxonomy to one article, or re-apply it to all (``ingest retag``).

Rule tags are replaced, never accumulated: an article's ``origin='rule'`` rows are exactly what the
current taxonomy says about its current text, each with the taxonomy's version and its mention count
as score. Feed and page tags (origins ``feed`` / ``page``) are facts about the sources and are kept.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlmodel import Session

from ingest.store.db import write_session
from ingest.store.models import Article, ArticleTag, utcnow
from ingest.tagging import RuleTag, Taxonomy

RULE = "rule"


def _rows(article_id: int, tags: list[RuleTag], version: str, now: Any) -> list[dict[str, Any]]:
    return [{"article_id": article_id, "tag": t.tag, "label": t.label, "origin": RULE, "rule_version": version,
             "score": float(t.score), "created_at": now} for t in tags]


def apply_rule_tags(s: Session, tax: Taxonomy, article_id: int, title: str | None, text: str) -> list[str]:
    """Replace one article's rule tags; returns the tags."""
    tags = tax.tag(title, text)
    conn = s.connection()
    conn.execute(delete(ArticleTag).where(ArticleTag.article_id == article_id,  # type: ignore[arg-type]
                                          ArticleTag.origin == RULE))  # type: ignore[arg-type]
    if tags:
        conn.execute(insert(ArticleTag), _rows(article_id, tags, tax.version, utcnow()))
    return [t.tag for t in tags]


def retag(engine: Engine, tax: Taxonomy, *, chunk: int = 1000) -> dict[str, Any]:
    """Re-apply the taxonomy to every archived article (no network). Idempotent: a second run writes
    the same rows. One transaction per chunk, keyset-paginated by article id."""
    started = time.perf_counter()
    articles = tagged = rows = 0
    last_id = 0
    while True:
        with write_session(engine) as s:
            conn = s.connection()
            batch = conn.execute(select(Article.id, Article.title, Article.text).where(
                Article.id > last_id).order_by(Article.id).limit(chunk)).all()  # type: ignore[arg-type]
            if not batch:
                break
            ids = [r[0] for r in batch]
            conn.execute(delete(ArticleTag).where(ArticleTag.article_id.in_(ids),  # type: ignore[attr-defined]
                                                  ArticleTag.origin == RULE))  # type: ignore[arg-type]
            now = utcnow()
            new_rows: list[dict[str, Any]] = []
            for article_id, title, text in batch:
                tags = tax.tag(title, text)
                tagged += bool(tags)
                new_rows += _rows(article_id, tags, tax.version, now)
            if new_rows:
                conn.execute(insert(ArticleTag), new_rows)
            articles += len(batch)
            rows += len(new_rows)
            last_id = ids[-1]
    seconds = time.perf_counter() - started
    return {"articles": articles, "tagged": tagged, "rule_tags": rows, "rule_version": tax.version,
            "seconds": round(seconds, 3)}
