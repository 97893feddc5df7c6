"""Rule tags and key phrases in the archive: for one article, or again for all (``ingest retag``).

Rule tags are replaced, never accumulated: an article's ``origin='rule'`` rows are exactly what the
current taxonomy says about its current text, each with the taxonomy's version and its mention count
as score. Key phrases (``origin='keyphrase'``, ``keyword:<phrase>``, when enabled) likewise, with YAKE's
version and settings as their rule version and YAKE's score (lower is more relevant). Feed and page
tags (origins ``feed`` / ``page``) are facts about the sources and are kept.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, delete, insert, select
from sqlmodel import Session

from ingest.analyse.keyphrases import Keyphrase, extract_keyphrases
from ingest.analyse.tagging import RuleTag, Taxonomy
from ingest.clock import SYSTEM_CLOCK, Clock
from ingest.store.db import write_session
from ingest.store.models import Article, ArticleTag

RULE = "rule"
KEYPHRASE = "keyphrase"
# built once, executed with parameters: this runs for every stored article
_DELETE_RULE_TAGS = delete(ArticleTag).where(ArticleTag.article_id == bindparam("aid"),  # type: ignore[arg-type]
                                             ArticleTag.origin == RULE)  # type: ignore[arg-type]


def _rows(article_id: int, tags: list[RuleTag], version: str, now: Any) -> list[dict[str, Any]]:
    return [{"article_id": article_id, "tag": t.tag, "label": t.label, "origin": RULE, "rule_version": version,
             "score": float(t.score), "created_at": now} for t in tags]


def apply_rule_tags(s: Session, tax: Taxonomy, article_id: int, title: str | None, text: str, *,
                    tags: list[RuleTag] | None = None, now: datetime | None = None) -> list[str]:
    """Replace one article's rule tags; returns the tags. ``tags``: ``tax.tag(title, text)`` when
    computed already (ingest.analyse.precompute)."""
    if tags is None:
        tags = tax.tag(title, text)
    conn = s.connection()
    conn.execute(_DELETE_RULE_TAGS, {"aid": article_id})
    if tags:
        conn.execute(insert(ArticleTag), _rows(article_id, tags, tax.version, now or SYSTEM_CLOCK.now()))
    return [t.tag for t in tags]


def _keyphrase_rows(article_id: int, phrases: list[Keyphrase], version: str, now: Any) -> list[dict[str, Any]]:
    return [{"article_id": article_id, "tag": k.tag, "label": k.phrase, "origin": KEYPHRASE, "rule_version": version,
             "score": k.score, "created_at": now} for k in phrases]


def keyphrase_version(top: int, max_words: int) -> str:
    """What produced a key phrase tag: YAKE's version and the settings."""
    from importlib.metadata import version

    return f"yake-{version('yake')}:top{top}:n{max_words}"


def apply_keyphrases(s: Session, article_id: int, text: str, language: str | None, *, top: int,
                     max_words: int, phrases: list[Keyphrase] | None = None,
                     now: datetime | None = None) -> list[str]:
    """Replace one article's key phrase tags (``keyword:…``, origin ``keyphrase``); returns the tags.
    ``phrases``: already computed (in the extractor processes) with these settings for this text."""
    if phrases is None:
        phrases = extract_keyphrases(text, language, top=top, max_words=max_words)
    conn = s.connection()
    conn.execute(delete(ArticleTag).where(ArticleTag.article_id == article_id,  # type: ignore[arg-type]
                                          ArticleTag.origin == KEYPHRASE))  # type: ignore[arg-type]
    if phrases:
        conn.execute(insert(ArticleTag), _keyphrase_rows(article_id, phrases, keyphrase_version(top, max_words),
                                                         now or SYSTEM_CLOCK.now()))
    return [k.tag for k in phrases]


def retag(engine: Engine, tax: Taxonomy | None, *, chunk: int = 1000,
          keyphrases: tuple[int, int] | None = None, clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """Re-apply the taxonomy (when given) to every archived article, and recompute key phrases when
    ``keyphrases`` is (top, max_words); no network. Idempotent: a second run writes the same rows. One
    transaction per chunk, keyset-paginated by article id."""
    started = time.perf_counter()
    articles = tagged = rows = phrase_rows = 0
    last_id = 0
    origins = ([RULE] if tax is not None else []) + ([KEYPHRASE] if keyphrases else [])
    phrase_version = keyphrase_version(*keyphrases) if keyphrases else ""
    while origins:
        with write_session(engine) as s:
            conn = s.connection()
            batch = conn.execute(select(Article.id, Article.title, Article.text, Article.language).where(
                Article.id > last_id).order_by(Article.id).limit(chunk)).all()  # type: ignore[arg-type]
            if not batch:
                break
            ids = [r[0] for r in batch]
            conn.execute(delete(ArticleTag).where(ArticleTag.article_id.in_(ids),  # type: ignore[attr-defined]
                                                  ArticleTag.origin.in_(origins)))  # type: ignore[attr-defined]
            now = clock.now()
            new_rows: list[dict[str, Any]] = []
            for article_id, title, text, language in batch:
                if tax is not None:
                    tags = tax.tag(title, text)
                    tagged += bool(tags)
                    rows += len(tags)
                    new_rows += _rows(article_id, tags, tax.version, now)
                if keyphrases:
                    phrases = extract_keyphrases(text, language, top=keyphrases[0], max_words=keyphrases[1])
                    phrase_rows += len(phrases)
                    new_rows += _keyphrase_rows(article_id, phrases, phrase_version, now)
            if new_rows:
                conn.execute(insert(ArticleTag), new_rows)
            articles += len(batch)
            last_id = ids[-1]
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {"articles": articles, "tagged": tagged, "rule_tags": rows,
                           "rule_version": tax.version if tax is not None else None, "seconds": round(seconds, 3)}
    if keyphrases:
        out.update(keyphrase_tags=phrase_rows, keyphrase_version=phrase_version)
    return out
