"""Reprocess archived articles from their stored raw bytes: no network.

For each selected article, the raw bytes of the page its current extraction came from (``blobs``) go
through the current extractor again (in the extractor worker processes); the result is recorded as a
new extraction in the provenance (with this run). When the text changed beyond whitespace and
punctuation, the article gets a new version (and new LSH bands); an article without a story yet (one
archived before clusters existed) is placed in one; rule tags are re-applied. Failures are values:
they are counted per kind in the summary and the article keeps its text.

``reprocess(engine, config, *, sources=None, since=None, until=None, run_id=None) -> summary`` is the
entry point for the CLI (``ingest reprocess``) and for orchestration.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlmodel import Session

from ingest.analyse.dedup import content_sha256
from ingest.clock import SYSTEM_CLOCK, Clock
from ingest.config import Config
from ingest.extract.pages import Extraction, ExtractorPool, PageInput
from ingest.store import archive, clusters, revisions, tagstore
from ingest.store.db import insert_ignore, read_session, write_session
from ingest.store.enrich import Enricher
from ingest.store.models import Article, ArticleState, Fetch, Source, TextHash
from ingest.store.models import Extraction as ExtractionRow
from ingest.store.runs import run_status

CHUNK = 100


def _select_ids(engine: Engine, sources: Sequence[str] | None, since: datetime | None,
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


def _inputs(s: Session, ids: list[int]) -> list[tuple[int, int | None, PageInput | None]]:
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


def _store(s: Session, enricher: Enricher, article_id: int, fetch_id: int | None, page: PageInput,
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
            current_extraction_id=extraction_id))
    elif not revisions.same_revision(s, article_id, ex.text):
        conn.execute(insert_ignore(s.get_bind(), TextHash).values(
            sha256=sha, article_id=article_id, created_at=now).on_conflict_do_nothing(index_elements=["sha256"]))
        conn.execute(update(Article).where(Article.id == article_id).values(  # type: ignore[arg-type]
            title=ex.title, text=ex.text, content_sha256=sha, text_chars=len(ex.text), updated_at=now,
            current_extraction_id=extraction_id))
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
    return outcome


def reprocess(engine: Engine, config: Config, *, sources: Sequence[str] | None = None,
              since: datetime | None = None, until: datetime | None = None, run_id: int | None = None,
              extractor: ExtractorPool | None = None, clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """Re-extract, re-dedup and re-tag the selected articles from stored raw bytes; returns a summary."""
    if sources:
        config.select(list(sources))  # unknown names are a usage error
    enricher = Enricher.from_config(config)
    own_run = run_id is None
    if own_run:
        run_id = archive.start_run(engine, "reprocess", {
            "sources": list(sources or []), "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None})
    counts: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    pool = extractor or ExtractorPool(config.extract)
    try:
        pool.start()
        ids = _select_ids(engine, sources, since, until)
        for i in range(0, len(ids), CHUNK):
            with read_session(engine) as s:
                inputs = _inputs(s, ids[i:i + CHUNK])
            pages = [(a, f, p) for a, f, p in inputs if p is not None]
            counts["no_raw_bytes"] += len(inputs) - len(pages)
            results = pool.extract_many([p for _, _, p in pages])
            now = clock.now()
            with write_session(engine) as s:
                for (article_id, fetch_id, page), result in zip(pages, results, strict=True):
                    assert page is not None
                    if not isinstance(result, Extraction):
                        counts["failed"] += 1
                        failures[result.kind.value] += 1
                        continue
                    with s.begin_nested():
                        counts[_store(s, enricher, article_id, fetch_id, page, result, run_id, now)] += 1
            counts["articles"] += len(inputs)
    except BaseException as exc:
        if own_run:
            archive.finish_run(engine, run_id, run_status(exc), error=f"{type(exc).__name__}: {exc}",  # type: ignore[arg-type]
                              now=clock.now())
        raise
    finally:
        if extractor is None:
            pool.close()
    summary = {"run_id": run_id, "articles": counts["articles"], "revised": counts["revised"],
               "unchanged": counts["unchanged"], "failed": counts["failed"],
               "no_raw_bytes": counts["no_raw_bytes"], "failures": dict(sorted(failures.items()))}
    if own_run:
        archive.finish_run(engine, run_id, "completed", summary, now=clock.now())  # type: ignore[arg-type]
    return summary
