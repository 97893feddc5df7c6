"""Re-extraction rows (``ingest reprocess``, ``backfill --via archive``): which archived articles a
range selects, the stored raw bytes of each one's current extraction, and recording a new extraction
(a new version when the text changed). The story is ``ingest.pipeline.reprocess``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, func, insert, select, update
from sqlmodel import Session

from ingest.analyse.dedup import content_sha256
from ingest.extract.pages import Extraction, PageInput
from ingest.store import archive, clusters, revisions, searchindex, tagstore
from ingest.store.db import insert_ignore, read_session
from ingest.store.enrich import Enricher
from ingest.store.models import Article, ArticleState, Fetch, Source, TextHash
from ingest.store.models import Extraction as ExtractionRow


def select_articles(engine: Engine, sources: Sequence[str] | None, since: datetime | None,
                until: datetime | None) -> list[int]:
    q = select(Article.id).order_by(Article.id)  # type: ignore[arg-type]
    when = func.coalesce(Article.published_at, Article.first_seen_at)
    if sources:
        q = q.join(Source, Source.id == Article.source_id).where(Source.name.in_(list(sources)))  # type: ignore[attr-defined]
    if since:
        q = q.where(when >= since)
    if until:
        q = q.where(when < until)
    with read_session(engine) as s:
        return list(s.execute(q).scalars())


def stored_pages(s: Session, ids: list[int]) -> list[tuple[int, int | None, PageInput | None]]:
    """(article id, fetch id, page) for each article; page None when no raw bytes are stored."""
    rows = s.execute(select(Article.id, ExtractionRow.url, ExtractionRow.blob_sha256, ExtractionRow.fetch_id)
                     .join(ExtractionRow, ExtractionRow.id == Article.current_extraction_id)
                     .where(Article.id.in_(ids))).all()  # type: ignore[union-attr]
    found = {r[0]: r for r in rows}
    fetch_ids = [r[3] for r in rows if r[3] is not None]
    fetches = {f.id: f for f in s.execute(select(Fetch).where(Fetch.id.in_(fetch_ids))).scalars()}  # type: ignore[union-attr]
    out: list[tuple[int, int | None, PageInput | None]] = []
    for article_id in ids:
        row = found.get(article_id)
        body = archive.read_blob(s, row[2]) if row and row[2] else None
        if row is None or body is None:
            out.append((article_id, None, None))
            continue
        f = fetches.get(row[3]) if row[3] is not None else None
        headers = {k.lower(): v for k, v in ((f.headers if f else None) or {}).items()}
        out.append((article_id, row[3], PageInput(url=row[1], body=body, content_type=headers.get("content-type"),
                                                  status=f.status if f and f.status else 200)))
    return out


def record_reextraction(s: Session, enricher: Enricher, article_id: int, fetch_id: int | None, page: PageInput,
           ex: Extraction, run_id: int | None, now: datetime) -> str:
    """Record the new extraction; returns revised | unchanged (and places unclustered articles)."""
    sha = content_sha256(ex.text)
    conn = s.connection()
    blob = conn.execute(select(ExtractionRow.blob_sha256).join(
        Article, Article.current_extraction_id == ExtractionRow.id).where(Article.id == article_id)).scalar()
    extraction_id = int(conn.execute(insert(ExtractionRow).values(
        article_id=article_id, fetch_id=fetch_id, blob_sha256=blob, run_id=run_id, extractor=ex.extractor,
        extractor_version=ex.extractor_version, options=dict(ex.options), created_at=now, url=page.url,
        title=ex.title, text=ex.text, content_sha256=sha, meta=archive.extraction_meta(ex),
    ).returning(ExtractionRow.id)).scalar_one())  # type: ignore[arg-type]
    current_sha, source_id = conn.execute(select(Article.content_sha256, Article.source_id).where(
        Article.id == article_id)).one()  # type: ignore[arg-type]
    outcome = "unchanged"
    if sha == current_sha:
        conn.execute(update(Article).where(Article.id == article_id).values(  # type: ignore[arg-type]
            current_extraction_id=extraction_id, **archive.metadata_values(ex)))
    elif not revisions.same_revision(s, article_id, ex.text):
        conn.execute(insert_ignore(s.get_bind(), TextHash).values(
            sha256=sha, article_id=article_id, created_at=now).on_conflict_do_nothing(index_elements=["sha256"]))
        conn.execute(update(Article).where(Article.id == article_id).values(  # type: ignore[arg-type]
            title=ex.title, text=ex.text, content_sha256=sha, text_chars=len(ex.text), updated_at=now,
            current_extraction_id=extraction_id, **archive.metadata_values(ex)))
        revisions.new_version(s, article_id, title=ex.title, text=ex.text, text_sha=sha, fetch_id=fetch_id,
                              extraction_id=extraction_id, run_id=run_id, now=now)
        clusters.resign_article(s, article_id, text=ex.text, params=enricher.params)
        outcome = "revised"
    title, text = conn.execute(select(Article.title, Article.text).where(Article.id == article_id)).one()  # type: ignore[arg-type]
    state = conn.execute(select(ArticleState.cluster_id).where(ArticleState.article_id == article_id)).first()
    if state is None:  # archived before versions existed: version 1 is the current text
        revisions.first_version(s, article_id, title=title, text=text, text_sha=content_sha256(text),
                                fetch_id=fetch_id, extraction_id=extraction_id, run_id=run_id, now=now)
    if state is None or state[0] is None:
        clusters.place_article(s, article_id, text=text, title=title, source_id=source_id,
                               params=enricher.params, title_window=enricher.title_window, now=now)
    if enricher.taxonomy is not None:
        tagstore.apply_rule_tags(s, enricher.taxonomy, article_id, title, text, now=now)
    searchindex.index_in_batch(s)  # a revised text is indexed again (store/searchindex.py)
    return outcome
