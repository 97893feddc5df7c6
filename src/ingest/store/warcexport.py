"""What a WARC export needs of the archive, article by article: the page fetches behind each article (with
their stored bytes) and its provenance. Read in chunks of articles; only one article's bodies are in
memory at a time. The WARC itself is written by :mod:`ingest.interop.warc_out`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from ingest.store.blobs import unpack_body
from ingest.store.db import read_session
from ingest.store.models import Article, Blob, Entry, Extraction, Fetch, Run, Source

CHUNK = 200  # articles per read


@dataclass(frozen=True, slots=True)
class PageFetch:
    id: int
    url: str  # requested
    final_url: str
    redirects: tuple[str, ...]  # every hop after ``url``, the last one ``final_url``
    meta_refresh: tuple[str, ...]  # the hops reached by <meta http-equiv="refresh">
    status: int
    headers: dict[str, str]  # the recorded response headers
    started_at: datetime
    sha256: str
    body: bytes  # decoded (as stored)
    warc_record_id: str | None = None  # where the bytes came from, when ingest read them from a WARC
    capture_url: str | None = None


@dataclass
class ArticleExport:
    id: int
    canonical_url: str
    url: str
    source: str | None
    fetched_at: datetime
    provenance: dict[str, Any]  # the article's metadata record
    fetches: list[PageFetch] = field(default_factory=list)  # oldest first
    current_fetch_id: int | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def articles_for_warc(engine: Engine, ids: Sequence[int]) -> Iterator[ArticleExport]:
    """The selected articles, in the order given, each with its page fetches that hold bytes (2xx):
    those its extractions were made from, and those its feed entries were last resolved with."""
    A, X, E, F, R, S, B = (t.__table__ for t in (Article, Extraction, Entry, Fetch, Run, Source, Blob))  # type: ignore[attr-defined]
    for i in range(0, len(ids), CHUNK):
        chunk = list(ids[i:i + CHUNK])
        with read_session(engine) as s:
            conn = s.connection()
            arts = {r.id: r for r in conn.execute(select(
                A.c.id, A.c.canonical_url, A.c.url, A.c.fetched_at, A.c.current_extraction_id, A.c.run_id,
                S.c.name.label("source")).select_from(A.outerjoin(S, S.c.id == A.c.source_id)).where(A.c.id.in_(chunk)))}
            extractions: dict[int, list[Any]] = {}
            for r in conn.execute(select(X.c.id, X.c.article_id, X.c.fetch_id, X.c.extractor, X.c.extractor_version,
                                         X.c.options, X.c.run_id, X.c.created_at).where(X.c.article_id.in_(chunk))
                                  .order_by(X.c.id)):
                extractions.setdefault(r.article_id, []).append(r)
            entries: dict[int, list[Any]] = {}
            for r in conn.execute(select(E.c.article_id, E.c.feed_url, E.c.guid, E.c.entry_key, E.c.page_fetch_id,
                                         S.c.name.label("source")).select_from(E.join(S, S.c.id == E.c.source_id))
                                  .where(E.c.article_id.in_(chunk)).order_by(E.c.id)):
                entries.setdefault(r.article_id, []).append(r)
            run_ids = {r.run_id for r in arts.values() if r.run_id} | {
                x.run_id for xs in extractions.values() for x in xs if x.run_id}
            runs = {r.id: r for r in conn.execute(select(
                R.c.id, R.c.kind, R.c.started_at, R.c.prefect_flow_run_id, R.c.prefect_flow_name,
                R.c.prefect_deployment).where(R.c.id.in_(list(run_ids))))} if run_ids else {}
            fetch_ids = {x.fetch_id for xs in extractions.values() for x in xs if x.fetch_id} | {
                e.page_fetch_id for es in entries.values() for e in es if e.page_fetch_id}
            fetch_rows: dict[int, Any] = {}
            ids_list = sorted(fetch_ids)
            for j in range(0, len(ids_list), 500):
                for r in conn.execute(select(
                        F.c.id, F.c.url, F.c.final_url, F.c.redirects, F.c.meta_refresh, F.c.status, F.c.headers,
                        F.c.started_at, F.c.blob_sha256, F.c.warc_record_id, F.c.capture_url).where(
                        F.c.id.in_(ids_list[j:j + 500]), F.c.blob_sha256.is_not(None),
                        F.c.status.between(200, 299))):
                    fetch_rows[r.id] = r
            for article_id in chunk:
                a = arts.get(article_id)
                if a is None:
                    continue
                xs, es = extractions.get(article_id, []), entries.get(article_id, [])
                current = next((x for x in xs if x.id == a.current_extraction_id), xs[-1] if xs else None)
                out = ArticleExport(a.id, a.canonical_url, a.url, a.source, a.fetched_at, _provenance(a, current, es, runs),
                                    current_fetch_id=current.fetch_id if current is not None else None)
                # the fetches its texts were extracted from first, in the order they were stored (so that
                # an import stores them in that order: of identical texts, the first is the article), then
                # the other fetches that led to it (duplicates, unchanged re-fetches), oldest first
                extracted = list(dict.fromkeys(x.fetch_id for x in xs if x.fetch_id in fetch_rows))
                mine = extracted + sorted({e.page_fetch_id for e in es if e.page_fetch_id in fetch_rows} - set(extracted),
                                          key=lambda fid: (fetch_rows[fid].started_at, fid))
                for fid in mine:
                    r = fetch_rows[fid]
                    blob = conn.execute(select(B.c.compression, B.c.data).where(B.c.sha256 == r.blob_sha256)).first()
                    if blob is None:
                        continue
                    out.fetches.append(PageFetch(
                        r.id, r.url, r.final_url or r.url, tuple(r.redirects or ()), tuple(r.meta_refresh or ()),
                        r.status, dict(r.headers or {}), r.started_at, r.blob_sha256,
                        unpack_body(blob.compression, blob.data), r.warc_record_id, r.capture_url))
                yield out


def _provenance(a: Any, current: Any, entries: Sequence[Any], runs: dict[int, Any]) -> dict[str, Any]:
    def run(run_id: int | None) -> dict[str, Any] | None:
        r = runs.get(run_id) if run_id else None
        if r is None:
            return None
        return {"id": r.id, "kind": r.kind, "started_at": _iso(r.started_at),
                "prefect_flow_run_id": r.prefect_flow_run_id, "prefect_flow_name": r.prefect_flow_name,
                "prefect_deployment": r.prefect_deployment}

    return {
        "article_id": a.id, "canonical_url": a.canonical_url, "url": a.url, "source": a.source,
        "feed_urls": sorted({e.feed_url for e in entries}),
        "entries": [{"source": e.source, "feed_url": e.feed_url, "guid": e.guid, "entry_key": e.entry_key}
                    for e in entries],
        "extraction": None if current is None else {
            "id": current.id, "extractor": current.extractor, "extractor_version": current.extractor_version,
            "options": current.options, "fetch_id": current.fetch_id, "created_at": _iso(current.created_at),
            "run": run(current.run_id)},
        "run": run(a.run_id),
    }
