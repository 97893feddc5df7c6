"""The reads ``ingest web`` needs beyond ``query.py``: search facets, one fetch with its raw bytes, the
versions of an article, a source's items per day, failed items. Plain SQL with bound parameters only;
JSON-ready dicts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.store.blobs import unpack_body
from ingest.store.reads import rows as _rows
from ingest.store.textcopies import VERSION_TEXT

CHUNK = 500  # ids per IN (...) list


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    ids = list(ids)
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def facets(s: Any, ids: Sequence[int], *, top_tags: int = 20) -> dict[str, Any]:
    """Counts over the given articles: per source (each that listed it), tag (the ``top_tags`` most frequent), language, and
    month of publication (or first sighting)."""
    sources: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    months: Counter[str] = Counter()
    for chunk in _chunks(ids):
        p = {"ids": chunk}
        # every source that listed an article counts it (as the source filter selects it)
        for r in _rows(s, "SELECT s.name, COUNT(DISTINCT e.article_id) AS n FROM entries e "
                          "JOIN sources s ON s.id = e.source_id WHERE e.article_id IN :ids GROUP BY s.name",
                       p, expanding=["ids"]):
            sources[r.name] += r.n
        for r in _rows(s, "SELECT tag, COUNT(DISTINCT article_id) AS n FROM article_tags WHERE article_id IN :ids "
                          "GROUP BY tag", p, expanding=["ids"]):
            tags[r.tag] += r.n
        for r in _rows(s, "SELECT language, COUNT(*) AS n FROM articles WHERE id IN :ids GROUP BY language",
                       p, expanding=["ids"]):
            languages[r.language or "unknown"] += r.n
        for r in _rows(s, "SELECT published_at, first_seen_at FROM articles WHERE id IN :ids", p, expanding=["ids"]):
            when = r.published_at or r.first_seen_at
            if when is not None:
                months[when.strftime("%Y-%m")] += 1
    return {"source": sorted(sources.items(), key=lambda kv: (-kv[1], kv[0])),
            "tag": sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))[:top_tags],
            "language": sorted(languages.items(), key=lambda kv: (-kv[1], kv[0])),
            "month": sorted(months.items())}


_FETCH = ("id, kind, url, final_url, redirects, attempt, status, n_bytes, sha256, blob_sha256, started_at, "
          "duration_ms, error_kind, error_detail, headers, run_id, source_id, meta_refresh")


def fetch(s: Any, fetch_id: int) -> dict[str, Any] | None:
    """One HTTP request as recorded, with the articles and entries it led to."""
    found = _rows(s, f"SELECT {_FETCH} FROM fetches WHERE id = :id", {"id": fetch_id})
    if not found:
        return None
    f = found[0]
    source = _rows(s, "SELECT name FROM sources WHERE id = :id", {"id": f.source_id}) if f.source_id else []
    entries = _rows(s, "SELECT id, article_id, status, error_kind, link FROM entries "
                       "WHERE page_fetch_id = :id OR feed_fetch_id = :id ORDER BY id LIMIT 200", {"id": fetch_id})
    extractions = _rows(s, "SELECT id, article_id, extractor, extractor_version FROM extractions "
                           "WHERE fetch_id = :id ORDER BY id", {"id": fetch_id})
    return {"id": f.id, "kind": f.kind, "url": f.url, "final_url": f.final_url, "redirects": f.redirects or [],
            "meta_refresh": f.meta_refresh or [], "attempt": f.attempt, "status": f.status, "bytes": f.n_bytes,
            "sha256": f.sha256, "raw_bytes_kept": f.blob_sha256 is not None, "started_at": iso(f.started_at),
            "duration_ms": f.duration_ms, "error_kind": f.error_kind, "error_detail": f.error_detail,
            "headers": f.headers or {}, "run_id": f.run_id, "source": source[0].name if source else None,
            "entries": [{"id": e.id, "article_id": e.article_id, "status": e.status, "error_kind": e.error_kind,
                         "link": e.link} for e in entries],
            "extractions": [{"id": x.id, "article_id": x.article_id, "extractor": x.extractor,
                             "extractor_version": x.extractor_version} for x in extractions]}


def raw_body(s: Any, fetch_id: int) -> tuple[bytes, str | None] | None:
    """The response body a fetch kept (decompressed), with its Content-Type as recorded; None if none."""
    found = _rows(s, "SELECT f.headers, b.compression, b.data FROM fetches f JOIN blobs b ON b.sha256 = f.blob_sha256 "
                     "WHERE f.id = :id", {"id": fetch_id})
    if not found:
        return None
    headers = {k.lower(): v for k, v in (found[0].headers or {}).items()}
    return unpack_body(found[0].compression, bytes(found[0].data)), headers.get("content-type")


def article_exists(s: Any, article_id: int) -> bool:
    return bool(_rows(s, "SELECT id FROM articles WHERE id = :a", {"a": article_id}))


def versions(s: Any, article_id: int) -> list[dict[str, Any]]:
    """Every version of an article's title and text, oldest first."""
    return [{"version": v.version, "title": v.title, "text": v.text, "content_sha256": v.content_sha256,
             "fetched_at": iso(v.fetched_at), "fetch_id": v.fetch_id, "extraction_id": v.extraction_id}
            for v in _rows(s, f"SELECT v.version, v.title, {VERSION_TEXT} AS text, v.content_sha256, v.fetched_at, "
                              "v.fetch_id, v.extraction_id FROM article_versions v JOIN articles a ON a.id = v.article_id "
                              "WHERE v.article_id = :a ORDER BY v.version", {"a": article_id})]


def items_per_day(s: Any, *, now: datetime, days: int = 14) -> dict[str, list[int]]:
    """Feed items first seen per day and source, the last ``days`` days up to ``now`` (oldest first)."""
    start = (now.astimezone(UTC) - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    out: dict[str, list[int]] = {}
    names = {r.id: r.name for r in _rows(s, "SELECT id, name FROM sources")}
    for name in names.values():
        out[name] = [0] * days
    for r in _rows(s, "SELECT source_id, first_seen_at FROM entries WHERE first_seen_at >= :since",
                   {"since": start.replace(tzinfo=None)}):
        day = (r.first_seen_at - start).days
        if 0 <= day < days and r.source_id in names:
            out[names[r.source_id]][day] += 1
    return out


def failed_items(s: Any, *, per_source: int = 20) -> dict[str, list[dict[str, Any]]]:
    """Each source's latest failed feed items: the link, error kind and detail, attempts, next retry."""
    out: dict[str, list[dict[str, Any]]] = {}
    for src in _rows(s, "SELECT id, name FROM sources ORDER BY name"):
        items = _rows(s, "SELECT id, link, title, error_kind, error_detail, attempts, next_attempt_at, page_fetch_id "
                         "FROM entries WHERE source_id = :s AND status = 'failed' ORDER BY id DESC LIMIT :n",
                      {"s": src.id, "n": per_source})
        out[src.name] = [{"id": e.id, "link": e.link, "title": e.title, "error_kind": e.error_kind,
                          "error_detail": e.error_detail, "attempts": e.attempts,
                          "next_attempt_at": iso(e.next_attempt_at), "page_fetch_id": e.page_fetch_id}
                         for e in items]
    return out


def run(s: Any, run_id: int) -> dict[str, Any] | None:
    found = _rows(s, "SELECT id, kind, status, started_at, finished_at, ingest_version, prefect_flow_run_id, "
                     "prefect_flow_name, prefect_deployment, owner, parameters, summary, error FROM runs WHERE id = :id",
                  {"id": run_id})
    if not found:
        return None
    r = found[0]
    return {"id": r.id, "kind": r.kind, "status": r.status, "started_at": iso(r.started_at),
            "finished_at": iso(r.finished_at), "ingest_version": r.ingest_version,
            "prefect_flow_run_id": r.prefect_flow_run_id, "prefect_flow_name": r.prefect_flow_name,
            "prefect_deployment": r.prefect_deployment, "owner": r.owner, "parameters": r.parameters,
            "summary": r.summary, "error": r.error}
