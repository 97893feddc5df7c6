"""Read operations behind ``ingest show / export / sources / stats``: plain dicts, JSON-ready."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlmodel import Session

from ingest.decide import source_state
from ingest.store import events
from ingest.store.models import (
    Article,
    ArticleState,
    ArticleTag,
    Blob,
    Entry,
    Extraction,
    Fetch,
    Run,
    Source,
    UrlAlias,
)
from ingest.store.search import Filters, search, where_clauses
from ingest.urls import canonicalize

ITEMS_PER_DAY_WINDOW = timedelta(days=7)

EXPORT_FIELDS = ("id", "url", "canonical_url", "source", "feed_urls", "title", "authors", "published_at",
                 "language", "text", "tags", "content_sha256", "fetched_at", "extractor", "extractor_version",
                 "version", "gone_since", "gone_status", "events")


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def resolve_article(s: Session, id_or_url: str) -> int | None:
    """An article id, its canonical URL, or any URL variant that led to it."""
    if id_or_url.isdigit():
        return int(id_or_url) if s.get(Article, int(id_or_url)) else None
    candidates = [id_or_url]
    with contextlib.suppress(ValueError):
        candidates.append(canonicalize(id_or_url))
    for url in candidates:
        found = s.execute(select(UrlAlias.article_id).where(UrlAlias.url == url)).scalar()
        found = found or s.execute(select(Article.id).where(Article.canonical_url == url)).scalar()
        if found:
            return int(found)
    entry_article = s.execute(select(Entry.article_id).where(Entry.link.in_(candidates),  # type: ignore[union-attr]
                                                             Entry.article_id.is_not(None))).scalar()  # type: ignore[union-attr]
    return int(entry_article) if entry_article else None


def article_records(s: Session, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Export records (the ``EXPORT_FIELDS``), in the order of ``ids``."""
    if not ids:
        return []
    rows = {a.id: a for a in s.execute(select(Article).where(Article.id.in_(ids))).scalars()}  # type: ignore[union-attr]
    sources = dict(s.execute(select(Source.id, Source.name)).all())
    feeds: dict[int, list[str]] = defaultdict(list)
    for article_id, feed_url in s.execute(select(Entry.article_id, Entry.feed_url).where(
            Entry.article_id.in_(ids)).distinct().order_by(Entry.feed_url)).all():  # type: ignore[union-attr]
        feeds[article_id].append(feed_url)
    tags: dict[int, list[str]] = defaultdict(list)
    for article_id, tag in s.execute(select(ArticleTag.article_id, ArticleTag.tag).where(
            ArticleTag.article_id.in_(ids)).distinct().order_by(ArticleTag.tag)).all():  # type: ignore[attr-defined]
        tags[article_id].append(tag)
    extractors = {row[0]: row[1:] for row in s.execute(select(
        Extraction.id, Extraction.extractor, Extraction.extractor_version).where(
        Extraction.id.in_([a.current_extraction_id for a in rows.values() if a.current_extraction_id]))).all()}  # type: ignore[union-attr]
    latest = dict(s.execute(select(ArticleState.article_id, ArticleState.version).where(
        ArticleState.article_id.in_(ids))).all())  # type: ignore[attr-defined]
    gone = events.gone_since(s, list(ids))
    page_events = events.events_of(s, list(ids))
    out = []
    for article_id in ids:
        a = rows.get(article_id)
        if a is None:
            continue
        extractor, version = extractors.get(a.current_extraction_id, (None, None))
        out.append({
            "id": a.id, "url": a.url, "canonical_url": a.canonical_url, "source": sources.get(a.source_id),
            "feed_urls": feeds.get(a.id, []), "title": a.title, "authors": a.authors,
            "published_at": iso(a.published_at), "language": a.language, "text": a.text,
            "tags": sorted(set(tags.get(a.id, []))), "content_sha256": a.content_sha256,
            "fetched_at": iso(a.fetched_at), "extractor": extractor, "extractor_version": version,
            "first_seen_at": iso(a.first_seen_at), "sitename": a.sitename, "version": latest.get(a.id, 1),
            "gone_since": iso(gone[a.id][0]) if a.id in gone else None,
            "gone_status": gone[a.id][1] if a.id in gone else None,
            "events": page_events.get(a.id, []),
        })
    return out


def export_ids(engine: Engine, query: str | None, filters: Filters) -> list[int]:
    """Ids of the articles to export, oldest first (ids are small: records are read in chunks)."""
    if query:
        hits = search(engine, query, filters, limit=10_000_000)
        return sorted(h.article_id for h in hits)
    params: dict[str, Any] = {}
    where = where_clauses(filters, engine.dialect.name, params)
    sql = "SELECT a.id FROM articles a" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY a.id"
    with engine.connect() as conn:
        return [int(r[0]) for r in conn.execute(text(sql), params)]


def _fetch_dict(f: Fetch | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {"id": f.id, "kind": f.kind, "url": f.url, "final_url": f.final_url, "redirects": f.redirects or [],
            "attempt": f.attempt, "status": f.status, "bytes": f.n_bytes, "sha256": f.sha256,
            "raw_bytes_kept": f.blob_sha256 is not None, "started_at": iso(f.started_at),
            "duration_ms": f.duration_ms, "error_kind": f.error_kind, "error_detail": f.error_detail,
            "headers": f.headers or {}, "run_id": f.run_id, "meta_refresh": f.meta_refresh or []}


def _run_dict(r: Run | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"id": r.id, "kind": r.kind, "status": r.status, "started_at": iso(r.started_at),
            "finished_at": iso(r.finished_at), "ingest_version": r.ingest_version,
            "prefect_flow_run_id": r.prefect_flow_run_id, "prefect_flow_name": r.prefect_flow_name,
            "prefect_deployment": r.prefect_deployment}


def recent_runs(s: Session, *, limit: int = 20, kind: str | None = None,
                status: str | None = None) -> list[dict[str, Any]]:
    """The latest runs, newest first, with what they did (their summary) and why they failed.
    ``process_gone``: a "running" run whose process no longer exists on this machine (killed; the next
    run marks it "abandoned"); None when that cannot be told (finished, or run on another machine)."""
    from ingest.store.leases import holder_is_dead

    q = select(Run).order_by(Run.id.desc()).limit(limit)  # type: ignore[union-attr]
    if kind:
        q = q.where(Run.kind == kind)  # type: ignore[arg-type]
    if status:
        q = q.where(Run.status == status)  # type: ignore[arg-type]
    out = []
    for r in s.execute(q).scalars():
        d = _run_dict(r) or {}
        gone = holder_is_dead(r.owner) if r.status == "running" and r.owner else None
        d.update({"owner": r.owner, "process_gone": gone or None, "parameters": r.parameters,
                  "summary": r.summary, "error": r.error})
        out.append(d)
    return out


def _entry_dict(s: Session, e: Entry, sources: dict[int, str]) -> dict[str, Any]:
    return {"id": e.id, "source": sources.get(e.source_id), "feed_url": e.feed_url, "guid": e.guid,
            "link": e.link, "feed_title": e.title, "feed_published_at": iso(e.published_at),
            "categories": e.categories, "first_seen_at": iso(e.first_seen_at), "last_seen_at": iso(e.last_seen_at),
            "status": e.status, "error_kind": e.error_kind, "error_detail": e.error_detail, "attempts": e.attempts,
            "next_attempt_at": iso(e.next_attempt_at),
            "feed_fetch": _fetch_dict(s.get(Fetch, e.feed_fetch_id) if e.feed_fetch_id else None),
            "page_fetch": _fetch_dict(s.get(Fetch, e.page_fetch_id) if e.page_fetch_id else None),
            "run": _run_dict(s.get(Run, e.run_id) if e.run_id else None)}


def provenance(s: Session, article_id: int) -> dict[str, Any]:
    """The whole chain: sightings (source -> feed fetch -> entry), page fetch, extractions, runs."""
    record = article_records(s, [article_id])[0]
    sources = dict(s.execute(select(Source.id, Source.name)).all())
    entries = s.execute(select(Entry).where(Entry.article_id == article_id).order_by(Entry.first_seen_at,
                                                                                      Entry.id)).scalars().all()
    extractions = s.execute(select(Extraction).where(Extraction.article_id == article_id)
                            .order_by(Extraction.id)).scalars().all()
    aliases = s.execute(select(UrlAlias.url, UrlAlias.kind).where(UrlAlias.article_id == article_id)
                        .order_by(UrlAlias.created_at, UrlAlias.url)).all()
    tags = s.execute(select(ArticleTag.tag, ArticleTag.origin, ArticleTag.label).where(
        ArticleTag.article_id == article_id).order_by(ArticleTag.tag, ArticleTag.origin)).all()
    return {**record,
            "tags_detail": [{"tag": t, "origin": o, "label": lab} for t, o, lab in tags],
            "aliases": [{"url": u, "kind": k} for u, k in aliases],
            "sightings": [_entry_dict(s, e, sources) for e in entries],
            "extractions": [{
                "id": x.id, "extractor": x.extractor, "extractor_version": x.extractor_version,
                "options": x.options, "created_at": iso(x.created_at), "url": x.url, "content_sha256": x.content_sha256,
                "current": x.id == s.get(Article, article_id).current_extraction_id,  # type: ignore[union-attr]
                "fetch": _fetch_dict(s.get(Fetch, x.fetch_id) if x.fetch_id else None),
                "run": _run_dict(s.get(Run, x.run_id) if x.run_id else None), "meta": x.meta,
            } for x in extractions]}


def failed_entries(s: Session, url: str) -> list[dict[str, Any]]:
    """Entries (of any status) whose listed link is this URL or canonicalises to it."""
    sources = dict(s.execute(select(Source.id, Source.name)).all())
    try:
        canon = canonicalize(url)
    except ValueError:
        canon = url
    rows = s.execute(select(Entry).where(Entry.link.in_([url, canon]))).scalars().all()  # type: ignore[union-attr]
    return [_entry_dict(s, e, sources) for e in rows]


def sources_status(s: Session, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per source: its state (never shown healthy when its last poll failed), errors, counts."""
    articles = dict(s.execute(select(Entry.source_id, func.count(func.distinct(Entry.article_id)))
                              .group_by(Entry.source_id)).all())
    failed = dict(s.execute(select(Entry.source_id, func.count()).where(Entry.status == "failed")
                            .group_by(Entry.source_id)).all())
    since = (now or datetime.now(UTC)) - ITEMS_PER_DAY_WINDOW  # feed items first seen per day, last 7 days
    recent = dict(s.execute(select(Entry.source_id, func.count()).where(Entry.first_seen_at >= since)
                            .group_by(Entry.source_id)).all())
    out = []
    for src in s.execute(select(Source).order_by(Source.name)).scalars():
        state = source_state(src.last_polled_at, src.error_count, src.failing_since, src.next_poll_at,
                             src.last_status)
        out.append({"source": src.name, "feed_url": src.feed_url, "state": state,
                    "last_polled_at": iso(src.last_polled_at), "last_status": src.last_status,
                    "last_success_at": iso(src.last_success_at), "error_kind": src.error_kind,
                    "error_detail": src.error_detail, "error_count": src.error_count,
                    "articles": articles.get(src.id, 0), "failed_items": failed.get(src.id, 0),
                    "next_poll_at": iso(src.next_poll_at), "feed_warning": src.feed_warning,
                    "items_per_day": round(recent.get(src.id, 0) / ITEMS_PER_DAY_WINDOW.days, 1),
                    "poll_interval_s": src.poll_interval_s, "lease_owner": src.lease_owner,
                    "failing": src.last_status == "error" or src.error_count > 0,
                    "validators_unreliable_since": iso(src.validators_unreliable_since)})
    return out


def stats(s: Session) -> dict[str, Any]:
    def count(model: Any) -> int:
        return int(s.execute(select(func.count()).select_from(model)).scalar() or 0)

    entry_status = dict(s.execute(select(Entry.status, func.count()).group_by(Entry.status)).all())
    failures = dict(s.execute(select(Entry.error_kind, func.count()).where(Entry.status == "failed")
                              .group_by(Entry.error_kind)).all())
    languages = dict(s.execute(select(Article.language, func.count()).group_by(Article.language)).all())
    raw_bytes, stored_bytes = s.execute(select(func.coalesce(func.sum(Blob.size), 0),
                                               func.coalesce(func.sum(func.length(Blob.data)), 0))).one()
    last_run = s.execute(select(Run).order_by(Run.id.desc()).limit(1)).scalar()  # type: ignore[union-attr]
    return {"sources": count(Source), "articles": count(Article), "entries": count(Entry),
            "entries_by_status": entry_status, "failures_by_kind": {k or "unknown": v for k, v in failures.items()},
            "languages": {k or "unknown": v for k, v in languages.items()},
            "fetches": count(Fetch), "extractions": count(Extraction), "runs": count(Run),
            "raw_bytes": int(raw_bytes), "raw_bytes_stored": int(stored_bytes),
            "last_run": _run_dict(last_run)}
