"""Read operations behind ``ingest show / export / sources / stats / runs`` and :class:`ingest.Archive`:
plain dicts, JSON-ready.

Plain SQL on a connection (or a session: both execute it), with the tables' column types attached to
the results (:mod:`ingest.store.types`), so they read what the ORM would without importing the table
classes: building them costs more than a read command's whole start should.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ingest.clock import SYSTEM_CLOCK
from ingest.decide import source_state
from ingest.store.reads import rows as _rows

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.store.search import Filters

ITEMS_PER_DAY_WINDOW = timedelta(days=7)
CHUNK = 500  # ids per IN (...) list

EXPORT_FIELDS = ("id", "url", "canonical_url", "source", "feed_urls", "title", "authors", "published_at",
                 "language", "text", "tags", "content_sha256", "fetched_at", "extractor", "extractor_version",
                 "version", "gone_since", "gone_status", "events", "published_source", "published_precision",
                 "published_local", "modified_at", "title_raw", "organisations", "language_declared", "comments")

_FETCH = ("id, kind, url, final_url, redirects, attempt, status, n_bytes, sha256, blob_sha256, started_at, "
          "duration_ms, error_kind, error_detail, headers, run_id, meta_refresh")
_RUN = ("id, kind, status, started_at, finished_at, ingest_version, prefect_flow_run_id, prefect_flow_name, "
        "prefect_deployment, owner, parameters, summary, error")
_ENTRY = ("id, source_id, feed_url, guid, link, title, published_at, categories, first_seen_at, last_seen_at, "
          "status, error_kind, error_detail, attempts, next_attempt_at, feed_fetch_id, page_fetch_id, run_id")


def _chunked(ids: Sequence[int]) -> list[list[int]]:
    ids = list(ids)
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


def _selections(column: str, ids: Sequence[int]) -> list[tuple[str, dict[str, Any], tuple[str, ...]]]:
    """WHERE clauses that select ``ids`` of ``column``: one range when they are dense (an export's
    consecutive ids: an index range, no bind list; rows outside ``ids`` are dropped by the caller), else
    IN lists of CHUNK (a bind list of thousands cost more to build and parse than the rows to read)."""
    if not ids:
        return []
    lo, hi = min(ids), max(ids)
    if len(ids) > CHUNK and hi - lo + 1 <= 2 * len(ids):
        return [(f"{column} BETWEEN :lo AND :hi", {"lo": lo, "hi": hi}, ())]
    return [(f"{column} IN :ids", {"ids": chunk}, ("ids",)) for chunk in _chunked(ids)]


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def published_iso(value: datetime | None, precision: str | None) -> str | None:
    """A day-only publication date exports as the day ("2024-04-22"), never as a made-up midnight."""
    if value is not None and precision == "date":
        return value.date().isoformat()
    return iso(value)


def _as_is(value: datetime | None) -> datetime | None:
    return value


def _published_as_is(value: datetime | None, precision: str | None) -> datetime | str | None:
    return value.date().isoformat() if value is not None and precision == "date" else value


def resolve_article(s: Any, id_or_url: str) -> int | None:
    """An article id, its canonical URL, or any URL variant that led to it."""
    if id_or_url.isdigit():
        found = _rows(s, "SELECT id FROM articles WHERE id = :id", {"id": int(id_or_url)})
        return int(id_or_url) if found else None
    from ingest.urls import canonicalize  # (the public-suffix list: only when a URL is given)

    candidates = [id_or_url]
    with contextlib.suppress(ValueError):
        candidates.append(canonicalize(id_or_url))
    for url in candidates:
        found = _rows(s, "SELECT article_id FROM url_aliases WHERE url = :u", {"u": url}) or \
            _rows(s, "SELECT id AS article_id FROM articles WHERE canonical_url = :u", {"u": url})
        if found:
            return int(found[0].article_id)
    entry = _rows(s, "SELECT article_id FROM entries WHERE link IN :links AND article_id IS NOT NULL LIMIT 1",
                  {"links": candidates}, expanding=["links"])
    return int(entry[0].article_id) if entry else None


def _source_names(s: Any) -> dict[int, str]:
    return {r.id: r.name for r in _rows(s, "SELECT id, name FROM sources")}


def _events_of(s: Any, ids: Sequence[int], iso: Callable[[datetime | None], Any] = iso
               ) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    wanted = set(ids)
    for where, p, expanding in _selections("article_id", ids):
        for e in _rows(s, "SELECT id, article_id, kind, at, http_status, url, fetch_id FROM article_events "
                          f"WHERE {where} ORDER BY article_id, at, id", p, expanding=expanding):
            if e.article_id not in wanted:
                continue
            out.setdefault(e.article_id, []).append({"kind": e.kind, "at": iso(e.at), "http_status": e.http_status,
                                                      "url": e.url, "fetch_id": e.fetch_id})
    return out


def article_records(s: Any, ids: Sequence[int], *, export_only: bool = False,
                    times: bool = False) -> list[dict[str, Any]]:
    """Article records in the order of ``ids``: the ``EXPORT_FIELDS`` in their order, then (unless
    ``export_only``, which an export's workers ask for to encode each record as it is) ``first_seen_at``
    and ``sitename``. Timestamps are ISO 8601 text (``Z`` for UTC); ``times``: the aware datetimes
    themselves (a day-only publication date still its day), for an encoder that writes the same text
    faster (orjson's ``OPT_UTC_Z``: ~0.1 µs where ``isoformat`` takes ~1, four a record)."""
    iso_ = _as_is if times else iso
    published_ = _published_as_is if times else published_iso
    if not ids:
        return []
    rows: dict[int, Any] = {}
    feeds: dict[int, list[str]] = defaultdict(list)
    tags: dict[int, set[str]] = defaultdict(set)
    latest: dict[int, int] = {}
    gone: dict[int, tuple[datetime, int]] = {}
    extraction_ids: set[int] = set()
    wanted = set(ids)
    for where, p, expanding in _selections("id", ids):
        for a in _rows(s, "SELECT id, url, canonical_url, source_id, title, text, authors, published_at, language, "
                          "sitename, content_sha256, first_seen_at, fetched_at, current_extraction_id, "
                          "published_source, published_precision, published_local, modified_at, title_raw, "
                          f"organisations, language_declared, comments FROM articles WHERE {where}", p,
                       expanding=expanding):
            if a.id in wanted:
                rows[a.id] = a
                if a.current_extraction_id:
                    extraction_ids.add(a.current_extraction_id)
    for where, p, expanding in _selections("article_id", ids):
        for r in _rows(s, f"SELECT DISTINCT article_id, feed_url FROM entries WHERE {where} "
                          "ORDER BY feed_url", p, expanding=expanding):
            if r.article_id in wanted:
                feeds[r.article_id].append(r.feed_url)
        for r in _rows(s, f"SELECT DISTINCT article_id, tag FROM article_tags WHERE {where}", p,
                       expanding=expanding):
            tags[r.article_id].add(r.tag)
        for r in _rows(s, "SELECT article_id, version, gone_since, gone_status FROM article_state "
                          f"WHERE {where}", p, expanding=expanding):
            latest[r.article_id] = r.version
            if r.gone_since is not None:
                gone[r.article_id] = (r.gone_since, r.gone_status)
    extractors = {}
    for where, p, expanding in _selections("id", sorted(extraction_ids)):
        extractors |= {r.id: (r.extractor, r.extractor_version) for r in _rows(
            s, f"SELECT id, extractor, extractor_version FROM extractions WHERE {where}", p, expanding=expanding)
            if r.id in extraction_ids}
    sources = _source_names(s)
    page_events = _events_of(s, list(ids), iso_)
    out = []
    for article_id in ids:
        a = rows.get(article_id)
        if a is None:
            continue
        extractor, version = extractors.get(a.current_extraction_id, (None, None))
        g = gone.get(article_id)
        record = {
            "id": a.id, "url": a.url, "canonical_url": a.canonical_url, "source": sources.get(a.source_id),
            "feed_urls": feeds.get(a.id, []), "title": a.title, "authors": a.authors,
            "published_at": published_(a.published_at, a.published_precision), "language": a.language,
            "text": a.text,
            "tags": sorted(tags.get(a.id, set())), "content_sha256": a.content_sha256,
            "fetched_at": iso_(a.fetched_at), "extractor": extractor, "extractor_version": version,
            "version": latest.get(a.id, 1),
            "gone_since": iso_(g[0]) if g else None, "gone_status": g[1] if g else None,
            "events": page_events.get(a.id, []),
            "published_source": a.published_source, "published_precision": a.published_precision,
            "published_local": a.published_local, "modified_at": iso_(a.modified_at), "title_raw": a.title_raw,
            "organisations": a.organisations or [], "language_declared": a.language_declared,
            "comments": a.comments,
        }
        if not export_only:
            record["first_seen_at"] = iso_(a.first_seen_at)
            record["sitename"] = a.sitename
        out.append(record)
    return out


def export_ids(engine: Engine, query: str | None, filters: Filters) -> list[int]:
    """Ids of the articles to export, oldest first (ids are small: records are read in chunks)."""
    # imported here: the query parser and analyser are a sixth of `runs`' and `sources`' start
    from ingest.store.search import search, where_clauses

    if query:
        hits = search(engine, query, filters, limit=10_000_000, snippets=False, use_index=False)
        return sorted(h.article_id for h in hits)
    params: dict[str, Any] = {}
    where = where_clauses(filters, engine.dialect.name, params)
    # sorted here, not by ORDER BY: with it SQLite walks the whole table in id order to test a date
    # window (7 s for 100,000 of a million articles), without it the window is a range of
    # ix_articles_newest (covering: no article row is read)
    sql = "SELECT a.id FROM articles a" + (" WHERE " + " AND ".join(where) if where else "")
    with engine.connect() as conn:
        return sorted(int(r.id) for r in _rows(conn, sql, params))


def _fetch_dict(f: Any) -> dict[str, Any] | None:
    if f is None:
        return None
    return {"id": f.id, "kind": f.kind, "url": f.url, "final_url": f.final_url, "redirects": f.redirects or [],
            "attempt": f.attempt, "status": f.status, "bytes": f.n_bytes, "sha256": f.sha256,
            "raw_bytes_kept": f.blob_sha256 is not None, "started_at": iso(f.started_at),
            "duration_ms": f.duration_ms, "error_kind": f.error_kind, "error_detail": f.error_detail,
            "headers": f.headers or {}, "run_id": f.run_id, "meta_refresh": f.meta_refresh or []}


def _run_dict(r: Any) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"id": r.id, "kind": r.kind, "status": r.status, "started_at": iso(r.started_at),
            "finished_at": iso(r.finished_at), "ingest_version": r.ingest_version,
            "prefect_flow_run_id": r.prefect_flow_run_id, "prefect_flow_name": r.prefect_flow_name,
            "prefect_deployment": r.prefect_deployment}


def _by_id(s: Any, table: str, columns: str, ids: set[int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for chunk in _chunked(sorted(i for i in ids if i)):
        out |= {r.id: r for r in _rows(s, f"SELECT {columns} FROM {table} WHERE id IN :ids", {"ids": chunk},
                                       expanding=["ids"])}
    return out


def recent_runs(s: Any, *, limit: int = 20, kind: str | None = None,
                status: str | None = None) -> list[dict[str, Any]]:
    """The latest runs, newest first, with what they did (their summary) and why they failed.
    ``process_gone``: a "running" run whose process no longer exists on this machine (killed; the next
    run marks it "abandoned"); None when that cannot be told (finished, or run on another machine)."""
    from ingest.store.owners import holder_is_dead

    where = [w for w, v in (("kind = :kind", kind), ("status = :status", status)) if v]
    sql = f"SELECT {_RUN} FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + \
        " ORDER BY id DESC LIMIT :limit"
    out = []
    for r in _rows(s, sql, {"kind": kind, "status": status, "limit": limit}):
        d = _run_dict(r) or {}
        gone = holder_is_dead(r.owner) if r.status == "running" and r.owner else None
        d.update({"owner": r.owner, "process_gone": gone or None, "parameters": r.parameters,
                  "summary": r.summary, "error": r.error})
        out.append(d)
    return out


def _entry_dicts(s: Any, entries: list[Any]) -> list[dict[str, Any]]:
    sources = _source_names(s)
    fetches = _by_id(s, "fetches", _FETCH, {e.feed_fetch_id for e in entries} | {e.page_fetch_id for e in entries})
    runs = _by_id(s, "runs", _RUN, {e.run_id for e in entries})
    return [{"id": e.id, "source": sources.get(e.source_id), "feed_url": e.feed_url, "guid": e.guid,
             "link": e.link, "feed_title": e.title, "feed_published_at": iso(e.published_at),
             "categories": e.categories, "first_seen_at": iso(e.first_seen_at), "last_seen_at": iso(e.last_seen_at),
             "status": e.status, "error_kind": e.error_kind, "error_detail": e.error_detail, "attempts": e.attempts,
             "next_attempt_at": iso(e.next_attempt_at),
             "feed_fetch": _fetch_dict(fetches.get(e.feed_fetch_id)),
             "page_fetch": _fetch_dict(fetches.get(e.page_fetch_id)),
             "run": _run_dict(runs.get(e.run_id))} for e in entries]


def provenance(s: Any, article_id: int) -> dict[str, Any]:
    """The whole chain: sightings (source -> feed fetch -> entry), page fetch, extractions, runs."""
    record = article_records(s, [article_id])[0]
    p = {"a": article_id}
    entries = _rows(s, f"SELECT {_ENTRY} FROM entries WHERE article_id = :a ORDER BY first_seen_at, id", p)
    extractions = _rows(s, "SELECT id, extractor, extractor_version, options, created_at, url, content_sha256, "
                           "fetch_id, run_id, meta FROM extractions WHERE article_id = :a ORDER BY id", p)
    aliases = _rows(s, "SELECT url, kind FROM url_aliases WHERE article_id = :a ORDER BY created_at, url", p)
    tags = _rows(s, "SELECT tag, origin, label FROM article_tags WHERE article_id = :a ORDER BY tag, origin", p)
    current = _rows(s, "SELECT current_extraction_id FROM articles WHERE id = :a", p)[0].current_extraction_id
    fetches = _by_id(s, "fetches", _FETCH, {x.fetch_id for x in extractions})
    runs = _by_id(s, "runs", _RUN, {x.run_id for x in extractions})
    return {**record,
            "tags_detail": [{"tag": t.tag, "origin": t.origin, "label": t.label} for t in tags],
            "aliases": [{"url": a.url, "kind": a.kind} for a in aliases],
            "sightings": _entry_dicts(s, entries),
            "extractions": [{
                "id": x.id, "extractor": x.extractor, "extractor_version": x.extractor_version,
                "options": x.options, "created_at": iso(x.created_at), "url": x.url, "content_sha256": x.content_sha256,
                "current": x.id == current, "fetch": _fetch_dict(fetches.get(x.fetch_id)),
                "run": _run_dict(runs.get(x.run_id)), "meta": x.meta,
            } for x in extractions]}


def failed_entries(s: Any, url: str) -> list[dict[str, Any]]:
    """Entries (of any status) whose listed link is this URL or canonicalises to it."""
    from ingest.urls import canonicalize

    try:
        canon = canonicalize(url)
    except ValueError:
        canon = url
    entries = _rows(s, f"SELECT {_ENTRY} FROM entries WHERE link IN :links ORDER BY id", {"links": [url, canon]},
                    expanding=["links"])
    return _entry_dicts(s, entries)


def sources_status(s: Any, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per source: its state (never shown healthy when its last poll failed), errors, counts."""
    # kept by triggers (store/sourcecounts.py): no scan of the entries at any size
    articles, failed = {}, {}
    for r in _rows(s, "SELECT source_id, what, n FROM source_counts WHERE what IN ('articles', 'status:failed')"):
        (articles if r.what == "articles" else failed)[r.source_id] = int(r.n)
    since = (now or SYSTEM_CLOCK.now()) - ITEMS_PER_DAY_WINDOW  # feed items first seen per day, last 7 days
    since = since.astimezone(UTC).replace(tzinfo=None)  # stored as naive UTC on both engines
    # "+source_id": SQLite would walk ix_entries_source_article for the GROUP BY and look up every entry's
    # time (1 s at 100,000 entries); the unary plus makes it read the range of ix_entries_first_seen
    # (the last seven days: 1 ms). PostgreSQL plans it the same either way.
    recent = {r.source_id: r.n for r in _rows(
        s, "SELECT +source_id AS source_id, COUNT(*) AS n FROM entries WHERE first_seen_at >= :since "
           "GROUP BY +source_id", {"since": since})}
    out = []
    for src in _rows(s, "SELECT id, name, feed_url, last_polled_at, last_status, last_success_at, error_kind, "
                        "error_detail, error_count, failing_since, next_poll_at, feed_warning, poll_interval_s, "
                        "lease_owner, validators_unreliable_since FROM sources ORDER BY name"):
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


def stats(s: Any) -> dict[str, Any]:
    def count(table: str) -> int:
        return int(_rows(s, f"SELECT COUNT(*) AS n FROM {table}")[0].n or 0)

    # entries by status and articles by language: the sums of the per-source counts the triggers keep
    # (store/sourcecounts.py), a few rows per source instead of a scan of every entry and article
    entry_status: dict[str, int] = {}
    languages: dict[str | None, int] = {}
    for r in _rows(s, "SELECT what, SUM(n) AS n FROM source_counts WHERE what LIKE 'status:%' "
                      "OR what LIKE 'language:%' GROUP BY what"):
        if int(r.n) == 0:
            continue  # every one of them gone (deleted, or moved on): not a group any more
        kind, _, value = r.what.partition(":")
        if kind == "status":
            entry_status[value] = int(r.n)
        else:
            languages[value or None] = int(r.n)
    failures = {r.error_kind: r.n for r in _rows(  # (a partial index: failures are few)
        s, "SELECT error_kind, COUNT(*) AS n FROM entries WHERE status = 'failed' GROUP BY error_kind")}
    sizes = _rows(s, "SELECT COALESCE(SUM(size), 0) AS raw, COALESCE(SUM(LENGTH(data)), 0) AS stored FROM blobs")[0]
    last_run = _rows(s, f"SELECT {_RUN} FROM runs ORDER BY id DESC LIMIT 1")
    # the totals of articles and entries are the sums of their groups
    return {"sources": count("sources"), "articles": sum(languages.values()), "entries": sum(entry_status.values()),
            "entries_by_status": entry_status, "failures_by_kind": {k or "unknown": v for k, v in failures.items()},
            "languages": {k or "unknown": v for k, v in languages.items()},
            "fetches": count("fetches"), "extractions": count("extractions"), "runs": count("runs"),
            "raw_bytes": int(sizes.raw), "raw_bytes_stored": int(sizes.stored),
            "last_run": _run_dict(last_run[0] if last_run else None)}


def cluster_of(s: Any, article_id: int) -> dict[str, Any] | None:
    """The article's story: id, first article, members with similarity and method."""
    member = _rows(s, "SELECT cluster_id FROM cluster_members WHERE article_id = :a", {"a": article_id})
    if not member:
        return None
    cluster_id = member[0].cluster_id
    first = _rows(s, "SELECT first_article_id FROM story_clusters WHERE id = :c", {"c": cluster_id})[0].first_article_id
    members = _rows(s, "SELECT m.article_id, m.similarity, m.method, a.title, a.canonical_url FROM cluster_members m "
                       "JOIN articles a ON a.id = m.article_id WHERE m.cluster_id = :c ORDER BY m.article_id",
                    {"c": cluster_id})
    # stories merged into this one, directly or through a story merged later (ingest.store.clusters)
    merged = _rows(s, "WITH RECURSIVE into_here(id) AS (SELECT CAST(:c AS INTEGER) UNION SELECT g.from_cluster_id FROM story_merges g "
                      "JOIN into_here h ON g.into_cluster_id = h.id) SELECT g.from_cluster_id, g.into_cluster_id, "
                      "g.reason, g.similarity, g.article_id FROM story_merges g JOIN into_here h ON "
                      "g.into_cluster_id = h.id ORDER BY g.from_cluster_id", {"c": cluster_id})
    return {"id": cluster_id, "first_article_id": first,
            "members": [{"article_id": m.article_id, "similarity": m.similarity, "method": m.method,
                         "title": m.title, "url": m.canonical_url} for m in members],
            "merged": [{"from": g.from_cluster_id, "into": g.into_cluster_id, "reason": g.reason,
                        "similarity": g.similarity, "by_article_id": g.article_id} for g in merged]}
