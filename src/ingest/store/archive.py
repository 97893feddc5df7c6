"""Write operations on the archive: runs, sources, feed results, and batches of page outcomes.

Every decision that must hold under concurrent runs is an ``INSERT … ON CONFLICT DO NOTHING`` against a
unique key, followed by reading the winner's row; Python never checks-then-inserts on its own. Each page
outcome is stored inside its own SAVEPOINT so one bad item cannot undo the rest of its batch.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, bindparam, case, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from ingest.analyse.dedup import content_sha256
from ingest.analyse.neardup import headline_core
from ingest.clock import SYSTEM_CLOCK
from ingest.errors import ErrorKind, FetchError
from ingest.extract.pages import Extraction, ExtractionFailure
from ingest.feeds.parse import FeedEntry
from ingest.fetch.client import FetchRecord, FetchResult
from ingest.store import enrich, events, revisions, searchindex
from ingest.store.blobs import PackedBody, pack_body, unpack_body
from ingest.store.db import insert_ignore, read_session, write_session
from ingest.store.db import run_core as _run
from ingest.store.models import (
    Article,
    ArticleTag,
    Blob,
    Entry,
    Fetch,
    TextHash,
    UrlAlias,
)
from ingest.store.models import (
    Extraction as ExtractionRow,
)
from ingest.store.retry import is_lost_race, retry_lost_races
from ingest.store.runs import finish_run, start_run, sweep_abandoned_runs  # noqa: F401  (the archive's API)
from ingest.store.sources import (  # noqa: F401  (the archive's API)
    ensure_sources,
    get_source,
    record_source_failure,
    sources_with_due_work,
)
from ingest.urls import canonicalize, choose_canonical


@functools.cache
def _prepared(dialect: str) -> SimpleNamespace:
    """The hot path's statements, built once per dialect and executed with parameters: building a
    statement per row (coercing every value) cost more CPU than the database's work."""
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    fetches, extractions = Fetch.__table__, ExtractionRow.__table__  # type: ignore[attr-defined]
    articles, entries = Article.__table__, Entry.__table__  # type: ignore[attr-defined]
    ids = bindparam("ids", expanding=True)
    return SimpleNamespace(
        blob=ins(Blob.__table__).on_conflict_do_nothing(index_elements=["sha256"]),  # type: ignore[attr-defined]
        fetch=insert(fetches).returning(fetches.c.id),
        extraction=insert(extractions).returning(extractions.c.id),
        alias=ins(UrlAlias.__table__).on_conflict_do_nothing(index_elements=["url"]),  # type: ignore[attr-defined]
        tag=ins(ArticleTag.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=["article_id", "tag", "origin"]),
        aliases=select(UrlAlias.url, UrlAlias.article_id).where(UrlAlias.url.in_(bindparam("urls", expanding=True))),  # type: ignore[attr-defined]
        text_owner=select(TextHash.article_id).where(TextHash.sha256 == bindparam("sha")),  # type: ignore[arg-type]
        # what the page's feed entries say: their dates (for the publication date) and categories
        listed=select(entries.c.published_at, entries.c.categories).where(entries.c.id.in_(ids)),
        article=ins(articles).on_conflict_do_nothing(index_elements=["canonical_url"]).returning(articles.c.id),
        text_hash=ins(TextHash.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=["sha256"]).returning(TextHash.__table__.c.article_id),  # type: ignore[attr-defined]
        current=update(articles).where(articles.c.id == bindparam("aid")).values(
            current_extraction_id=bindparam("xid")),
        # a feed's entries, on every poll of it
        entry=ins(entries).on_conflict_do_nothing(index_elements=["source_id", "entry_key"]).returning(entries.c.id),
        # a listed title or summary that changed is a change of the listing (a re-check reason, store/
        # revisions.py); SET expressions read the row's old values, so the comparison sees the previous ones
        sighted=update(entries).where(entries.c.source_id == bindparam("sid"), entries.c.entry_key == bindparam("key"))
        .values(last_seen_at=bindparam("seen"), updated_at=bindparam("updated"),
                changed_at=case((or_(entries.c.title.is_distinct_from(bindparam("t")),
                                     entries.c.summary.is_distinct_from(bindparam("sm"))), bindparam("seen")),
                                else_=entries.c.changed_at),
                title=bindparam("t"), summary=bindparam("sm")),
        resolved=update(entries).where(entries.c.id.in_(ids)).values(
            status=bindparam("new_status"), article_id=bindparam("aid"), page_fetch_id=bindparam("fid"),
            error_kind=None, error_detail=None, next_attempt_at=None, attempts=entries.c.attempts + 1),
    )


def _stmt(s: Session) -> SimpleNamespace:
    return _prepared(s.get_bind().dialect.name)


# --- fetches and blobs ----------------------------------------------------------------------------

def _put_blob(s: Session, body: bytes, sha256: str, packed: PackedBody | None, now: datetime) -> None:
    # bytes packed by an extractor process are used only when they are of this very body
    if packed is None or packed.sha256 != sha256 or packed.size != len(body):
        packed = pack_body(body, sha256)
    _run(s, _stmt(s).blob, {"sha256": sha256, "size": packed.size, "compression": packed.compression,
                            "data": packed.data, "created_at": now})


def record_fetch(s: Session, result: FetchResult, *, kind: str, run_id: int | None,
                 source_id: int | None, keep_body: bool = True, packed: PackedBody | None = None,
                 now: datetime | None = None) -> int | None:
    """One ``fetches`` row per attempt; the last attempt holds the body's blob. Returns its id.
    ``packed``: the body as packed by an extractor process (ingest.analyse.precompute), if it was."""
    last_id: int | None = None
    for i, rec in enumerate(result.records):
        is_last = i == len(result.records) - 1
        blob = None
        if is_last and keep_body and result.ok and result.body and rec.sha256:
            _put_blob(s, result.body, rec.sha256, packed, now or rec.started_at)
            blob = rec.sha256
        last_id = _insert_fetch(s, rec, kind=kind, run_id=run_id, source_id=source_id, blob=blob)
    return last_id


def _insert_fetch(s: Session, rec: FetchRecord, *, kind: str, run_id: int | None, source_id: int | None,
                  blob: str | None) -> int:
    return int(_run(s, _stmt(s).fetch, dict(
        run_id=run_id, source_id=source_id, kind=kind, url=rec.url, final_url=rec.final_url,
        redirects=list(rec.redirects), attempt=rec.attempt, status=rec.status, headers=rec.headers,
        n_bytes=rec.n_bytes, sha256=rec.sha256, blob_sha256=blob, started_at=rec.started_at,
        duration_ms=rec.duration_ms, error_kind=rec.error_kind.value if rec.error_kind else None,
        error_detail=rec.error_detail, meta_refresh=list(rec.meta_refresh) or None)).scalar_one())


ROBOTS_REUSE = timedelta(hours=24)


def recent_robots(engine: Engine, url: str, now: datetime, max_age: timedelta = ROBOTS_REUSE) -> FetchResult | None:
    """The last robots.txt fetch of ``url`` within ``max_age`` that answered (2xx with its bytes, or
    4xx), as a fetch result to read rules from; None when there is none (or it was unreachable)."""
    fetches = Fetch.__table__  # type: ignore[attr-defined]
    with read_session(engine) as s:
        row = _run(s, select(fetches.c.status, fetches.c.headers, fetches.c.blob_sha256, fetches.c.error_kind,
                             fetches.c.final_url).where(
            fetches.c.url == url, fetches.c.kind == "robots", fetches.c.started_at >= now - max_age,
            fetches.c.status.is_not(None)).order_by(fetches.c.id.desc()).limit(1)).first()
        if row is None or row.status >= 500 or row.status == 429:
            return None
        if row.error_kind is None and 200 <= row.status < 300:
            body = read_blob(s, row.blob_sha256) if row.blob_sha256 else b""
            if body is None:
                return None
            return FetchResult(url=url, final_url=row.final_url or url, status=row.status, headers=row.headers or {},
                               body=body, records=(), not_modified=False, error=None, retry_after_s=None)
        if row.error_kind == ErrorKind.HTTP_4XX.value:
            return FetchResult(url=url, final_url=row.final_url or url, status=row.status, headers=row.headers or {},
                               body=b"", records=(), not_modified=False, retry_after_s=None,
                               error=FetchError(ErrorKind.HTTP_4XX, url, f"HTTP {row.status}", row.status))
    return None


def read_blob(s: Session, sha256: str) -> bytes | None:
    blob = s.get(Blob, sha256)
    if blob is None:
        return None
    return unpack_body(blob.compression, blob.data)


# --- feed entries ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class EntriesWritten:
    new: int  # entries inserted
    unusable: int  # of them, without a usable link (failed from the start)
    rejected: tuple[str, ...] = ()  # entries the database refused (isolated mode only): why


def upsert_entries(s: Session, *, source_id: int, feed_url: str, feed_fetch_id: int | None,
                   entries: Iterable[FeedEntry], run_id: int | None, now: datetime,
                   isolate: bool = False) -> EntriesWritten:
    """Insert new feed entries as pending (or failed, when the link is unusable); refresh seen times of
    known ones. ``isolate``: each entry in a SAVEPOINT of its own, and one the database refuses is
    skipped and reported instead of failing the whole feed (the fallback when the plain write failed:
    savepoints cost a round trip each, which the common case does not need)."""
    new = unusable = 0
    rejected: list[str] = []
    for e in entries:
        if not isolate:
            inserted = _upsert_entry(s, e, source_id, feed_url, feed_fetch_id, run_id, now)
        else:
            try:
                with s.begin_nested():
                    inserted = _upsert_entry(s, e, source_id, feed_url, feed_fetch_id, run_id, now)
            except DBAPIError as exc:
                if is_lost_race(exc):
                    raise
                rejected.append(f"{e.key[:80]}: {type(exc.orig).__name__}: {str(exc.orig).splitlines()[0][:160]}")
                continue
        if inserted:
            new += 1
            unusable += e.link is None
    return EntriesWritten(new, unusable, tuple(rejected))


def _upsert_entry(s: Session, e: FeedEntry, source_id: int, feed_url: str, feed_fetch_id: int | None,
                  run_id: int | None, now: datetime) -> bool:
    """One entry: inserted (True), or a sighting of a known one (False)."""
    st = _stmt(s)
    values: dict[str, Any] = dict(
        source_id=source_id, entry_key=e.key, feed_url=feed_url, feed_fetch_id=feed_fetch_id, guid=e.guid,
        link=e.link, link_error=e.link_error, title=e.title, summary=e.summary, authors=list(e.authors),
        categories=list(e.categories), published_at=e.published, updated_at=e.updated, first_seen_at=now,
        last_seen_at=now, run_id=run_id, attempts=0,
        status="pending" if e.link else "failed",
        error_kind=None if e.link else "unsupported_url", error_detail=e.link_error)
    inserted = _run(s, st.entry, values).scalar()
    if inserted is None:
        _run(s, st.sighted, {"sid": source_id, "key": e.key, "seen": now, "updated": e.updated, "t": e.title,
                             "sm": e.summary})
    return inserted is not None


# --- page outcomes --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PageOutcome:
    entry_ids: tuple[int, ...]  # every due entry whose link led here
    link: str  # as listed
    fetch: FetchResult
    extraction: Extraction | ExtractionFailure | None  # None when the fetch failed
    recheck_of: int | None = None  # the archived article this fetch re-checks (its entries stay archived)


@dataclass(frozen=True, slots=True)
class StoredItem:
    status: str  # new | updated | duplicate | unchanged | gone | failed
    article_id: int | None
    error_kind: str | None = None
    url: str = ""


def _aliases(s: Session, urls: dict[str, str], article_id: int, now: datetime) -> None:
    """Record URL variants (url -> kind) leading to an article; the first writer of a URL wins."""
    if urls:
        _run(s, _stmt(s).alias, [{"url": url, "article_id": article_id, "kind": kind, "created_at": now}
                                 for url, kind in urls.items()])


def lookup_aliases(s: Session, urls: Iterable[str]) -> dict[str, int]:
    urls = list(set(urls))
    found: dict[str, int] = {}
    for i in range(0, len(urls), 500):
        found.update(_run(s, _stmt(s).aliases, {"urls": urls[i:i + 500]}).all())
    return found


def _set_entries(s: Session, entry_ids: Sequence[int], **values: Any) -> None:
    _run(s, update(Entry).where(Entry.id.in_(entry_ids)).values(**values))  # type: ignore[union-attr]


def store_outcome(s: Session, o: PageOutcome, *, run_id: int | None, source_id: int, now: datetime,
                  next_attempt: Any, enricher: Any = None) -> StoredItem:
    """Store one fetched (or failed) page and resolve its entries. Call inside a SAVEPOINT."""
    fetch_id = record_fetch(s, o.fetch, kind="page", run_id=run_id, source_id=source_id,
                            packed=o.extraction.packed if o.extraction is not None else None, now=now)
    if o.recheck_of is not None and (done := _recheck_outcome(s, o, fetch_id, run_id=run_id, now=now)):
        return done
    if not o.fetch.ok or o.extraction is None or isinstance(o.extraction, ExtractionFailure):
        if isinstance(o.extraction, ExtractionFailure):
            kind, detail = o.extraction.kind.value, o.extraction.detail
        else:
            err = o.fetch.error
            kind = err.kind.value if err else "internal"
            detail = (err.detail if err else "") or ""
        attempts = _bump_attempts(s, o.entry_ids)
        _set_entries(s, o.entry_ids, status="failed", error_kind=kind, error_detail=detail,
                     page_fetch_id=fetch_id,
                     next_attempt_at=next_attempt(kind, attempts, now, o.fetch.retry_after_s))
        return StoredItem("failed", None, kind, o.link)

    ex = o.extraction
    final_url = o.fetch.final_url or o.link
    canonical = choose_canonical(final_url, ex.canonical_url)
    variants = {canonical, _safe_canon(final_url), _safe_canon(o.link)} - {None}
    text_sha = ex.facts.content_sha256 if ex.facts is not None else content_sha256(ex.text)
    blob = o.fetch.records[-1].sha256 if o.fetch.records else None

    st = _stmt(s)
    known = lookup_aliases(s, variants)  # type: ignore[arg-type]
    article_id = known.get(canonical) or next(iter(known.values()), None)
    listed = _run(s, st.listed, {"ids": list(o.entry_ids)}).all()  # (published_at, categories) per entry
    if article_id is not None:
        status = _refresh_known(s, article_id, ex, final_url, text_sha, fetch_id, blob, run_id, now)
        if status == "unchanged" and o.recheck_of is None and not _run(s, select(Entry.id).where(
                Entry.id.in_(list(o.entry_ids)), Entry.article_id == article_id).limit(1)).first():  # type: ignore[union-attr]
            status = "known"  # its entries first list a URL archived from elsewhere: not "unchanged"
    else:
        owner = _run(s, st.text_owner, {"sha": text_sha}).scalar()
        if owner is not None:
            article_id, status = owner, "duplicate"
        else:
            feed_date = min((published for published, _ in listed if published is not None), default=None)
            article_id, status = _insert_article(s, ex, canonical, final_url, text_sha, fetch_id, blob,
                                                 source_id, run_id, now, feed_date)
    _aliases(s, {url: "canonical" if url == canonical and status == "new" else
                 "duplicate" if status == "duplicate" else "fetched" for url in sorted(variants)}, article_id, now)
    add_tags(s, article_id, [c for _, cats in listed for c in cats or ()], "feed", now=now)
    if status in ("new", "updated"):
        add_tags(s, article_id, [*ex.categories, *ex.tags], "page", now=now)
        # versions, story cluster, rule tags (issue 3)
        enrich.after_store(s, enricher or enrich.Enricher(), article_id, status, source_id=source_id,
                           fetch_id=fetch_id, run_id=run_id, now=now, entry_ids=o.entry_ids, facts=ex.facts)
    _run(s, st.resolved, {"ids": list(o.entry_ids), "new_status": "duplicate" if status == "duplicate" else "archived",
                          "aid": article_id, "fid": fetch_id})
    return StoredItem(status, article_id, None, o.link)


def _recheck_outcome(s: Session, o: PageOutcome, fetch_id: int | None, *, run_id: int | None,
                     now: datetime) -> StoredItem | None:
    """What a re-check of an archived article found, unless it is a full page to store as usual (None).
    A re-check never fails the article's entries: the article was archived and stays so. A page gone
    (404/410) is an event of the article's history, and it is watched for its return."""
    article_id = o.recheck_of
    assert article_id is not None
    if o.fetch.ok and o.fetch.not_modified:
        events.page_live(s, article_id, status=304, url=o.link, now=now, fetch_id=fetch_id, run_id=run_id)
        return StoredItem("unchanged", article_id, None, o.link)
    if not o.fetch.ok:
        kind = o.fetch.error.kind.value if o.fetch.error else ErrorKind.INTERNAL.value
        if kind == ErrorKind.HTTP_4XX.value and o.fetch.status in events.GONE_STATUSES:
            news = events.page_gone(s, article_id, status=o.fetch.status, url=o.link, now=now, fetch_id=fetch_id,
                                    run_id=run_id)
            revisions.keep_watching(s, article_id, now)
            return StoredItem("gone" if news else "unchanged", article_id, None, o.link)
        return StoredItem("failed", article_id, kind, o.link)
    if o.extraction is None or isinstance(o.extraction, ExtractionFailure):
        kind = o.extraction.kind.value if o.extraction is not None else ErrorKind.INTERNAL.value
        return StoredItem("failed", article_id, kind, o.link)
    events.page_live(s, article_id, status=o.fetch.status or 200, url=o.link, now=now, fetch_id=fetch_id,
                     run_id=run_id)
    return None


# --- entries whose pages could not be stored ---------------------------------------------------------

def fail_entries(engine: Engine, entry_ids: Sequence[int], *, kind: str, detail: str, now: datetime,
                 next_attempt: Any) -> None:
    """Entries whose pages could not be stored (an unexpected error in the batch): failed with their kind
    and a retry time, never left ``pending`` without a word. Entries already archived are not touched."""
    if not entry_ids:
        return

    def write() -> None:
        with write_session(engine) as s:
            attempts = _bump_attempts(s, entry_ids)
            _run(s, update(Entry).where(Entry.id.in_(entry_ids), Entry.status.in_(("pending", "failed"))).values(  # type: ignore[union-attr]
                status="failed", error_kind=kind, error_detail=detail[:2000],
                next_attempt_at=next_attempt(kind, attempts, now)))

    retry_lost_races(write)


def tag_slug(label: str) -> str:
    """``"North Korea"`` -> ``north-korea``; any script is kept (Cyrillic, CJK…)."""
    slug = re.sub(r"[^\w]+", "-", label.strip().casefold()).strip("-")
    return slug[:128]


def add_tags(s: Session, article_id: int, labels: Iterable[str], origin: str, *,
             rule_version: str | None = None, score: float | None = None, now: datetime | None = None) -> None:
    now = now or SYSTEM_CLOCK.now()
    rows = {tag_slug(label): label.strip()[:500] for label in labels}
    rows.pop("", None)
    if rows:  # one multi-row statement: this runs for every stored page
        _run(s, _stmt(s).tag, [{"article_id": article_id, "tag": slug, "label": label, "origin": origin,
                               "rule_version": rule_version, "score": score, "created_at": now}
                              for slug, label in rows.items()])


def entry_categories(s: Session, entry_ids: Sequence[int]) -> list[str]:
    cats: list[str] = []
    for row in _run(s, select(Entry.categories).where(Entry.id.in_(entry_ids))).scalars():  # type: ignore[union-attr]
        cats.extend(row or [])
    return cats


def _safe_canon(url: str) -> str | None:
    try:
        return canonicalize(url)
    except ValueError:
        return None


def _bump_attempts(s: Session, entry_ids: Sequence[int]) -> int:
    _run(s, update(Entry).where(Entry.id.in_(entry_ids)).values(attempts=Entry.attempts + 1))  # type: ignore[union-attr]
    return int(_run(s, select(Entry.attempts).where(Entry.id == entry_ids[0])).scalar() or 1)


def _insert_extraction(s: Session, ex: Extraction, url: str, article_id: int, fetch_id: int | None,
                       blob: str | None, run_id: int | None, text_sha: str, now: datetime) -> int:
    return int(_run(s, _stmt(s).extraction, dict(
        article_id=article_id, fetch_id=fetch_id, blob_sha256=blob, run_id=run_id, extractor=ex.extractor,
        extractor_version=ex.extractor_version, options=dict(ex.options), created_at=now, url=url,
        title=ex.title, text=ex.text, content_sha256=text_sha, meta=extraction_meta(ex),
    )).scalar_one())


def extraction_meta(ex: Extraction) -> dict[str, Any]:
    return {"authors": list(ex.authors), "date": ex.published, "language": ex.language,
            "language_source": ex.language_source, "sitename": ex.sitename, "description": ex.description,
            "hostname": ex.hostname, "categories": list(ex.categories), "tags": list(ex.tags),
            "canonical_url": ex.canonical_url, "image": ex.image, "encoding": ex.encoding,
            "organisations": list(ex.organisations), "date_source": ex.published_source,
            "date_precision": ex.published_precision, "modified": ex.modified, "title_source": ex.title_source,
            "title_raw": ex.title_raw, "language_declared": ex.language_declared,
            "comments_chars": len(ex.comments or "")}


def metadata_values(ex: Extraction, feed_date: datetime | None = None) -> dict[str, Any]:
    """The article columns an extraction sets. The page's publication time is never replaced by the
    feed's: the feed's date is used only when the page has none, and says so (published_source "feed").
    Without either, the publication columns are left out (a re-extraction keeps what it has)."""
    values: dict[str, Any] = dict(
        authors=list(ex.authors), organisations=list(ex.organisations) or None, title_raw=ex.title_raw,
        comments=ex.comments, language=ex.language, language_declared=ex.language_declared,
        modified_at=parse_date(ex.modified))
    page = parse_date(ex.published)
    if page is not None:
        values.update(published_at=page, published_source=ex.published_source,
                      published_precision=ex.published_precision or ("date" if len(ex.published or "") <= 10 else "datetime"),
                      published_local=ex.published)
    elif feed_date is not None:
        values.update(published_at=feed_date, published_source="feed", published_precision="datetime",
                      published_local=feed_date.isoformat())
    return values


def _insert_article(s: Session, ex: Extraction, canonical: str, final_url: str, text_sha: str,
                    fetch_id: int | None, blob: str | None, source_id: int, run_id: int | None,
                    now: datetime, feed_date: datetime | None) -> tuple[int, str]:
    values = dict(canonical_url=canonical, url=final_url, source_id=source_id, title=ex.title, text=ex.text,
                  **metadata_values(ex, feed_date), sitename=ex.sitename, description=ex.description, content_sha256=text_sha,
                  text_chars=len(ex.text), first_seen_at=now, fetched_at=now, updated_at=now, run_id=run_id)
    st = _stmt(s)
    inserted = _run(s, st.article, values).scalar()
    if inserted is None:  # a concurrent run stored this canonical URL first
        winner = _run(s, select(Article.id).where(Article.canonical_url == canonical)).scalar_one()
        outcome = _refresh_known(s, winner, ex, final_url, text_sha, fetch_id, blob, run_id, now)
        # a first listing of a URL another feed's entry archived meanwhile: "known", not "unchanged"
        return winner, "known" if outcome == "unchanged" else outcome
    claimed = _run(s, st.text_hash, {"sha256": text_sha, "article_id": inserted, "created_at": now}).scalar()
    if claimed is None:  # the same text was archived under another URL meanwhile
        _run(s, Article.__table__.delete().where(Article.id == inserted))  # type: ignore[attr-defined]
        owner = _run(s, st.text_owner, {"sha": text_sha}).scalar_one()
        return owner, "duplicate"
    extraction_id = _insert_extraction(s, ex, final_url, inserted, fetch_id, blob, run_id, text_sha, now)
    _run(s, st.current, {"aid": inserted, "xid": extraction_id})
    return inserted, "new"


def _refresh_known(s: Session, article_id: int, ex: Extraction, url: str, text_sha: str, fetch_id: int | None,
                   blob: str | None, run_id: int | None, now: datetime) -> str:
    """A known article fetched again: identical text and headline change nothing; a changed text or a
    changed headline is a new extraction that becomes current (the previous one stays, so nothing is
    overwritten). Whitespace and punctuation edits of either are not revisions."""
    current, title = _run(s, select(Article.content_sha256, Article.title).where(Article.id == article_id)).one()
    same_text = current == text_sha or revisions.same_revision(
        s, article_id, ex.text, key=ex.facts.revision_key if ex.facts is not None else None)
    if same_text and headline_core(title) == headline_core(ex.title):
        return "unchanged"
    extraction_id = _insert_extraction(s, ex, url, article_id, fetch_id, blob, run_id, text_sha, now)
    _run(s, insert_ignore(s.get_bind(), TextHash).values(
        sha256=text_sha, article_id=article_id, created_at=now).on_conflict_do_nothing(index_elements=["sha256"]))
    _run(s, update(Article).where(Article.id == article_id).values(  # type: ignore[arg-type]
        title=ex.title, text=ex.text, content_sha256=text_sha, text_chars=len(ex.text), fetched_at=now,
        updated_at=now, current_extraction_id=extraction_id, **metadata_values(ex)))
    return "updated"


def parse_date(value: str | None) -> datetime | None:
    """An ISO 8601 value as UTC; a day ("2024-04-22") is 00:00 UTC of that day."""
    if not value:
        return None
    from datetime import UTC
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def store_outcomes(engine: Engine, outcomes: Sequence[PageOutcome], *, run_id: int | None, source_id: int,
                   next_attempt: Any, robots: Sequence[FetchResult] = (),
                   enricher: Any = None, now: datetime | None = None) -> list[StoredItem]:
    """One transaction for a batch; a SAVEPOINT per item so one failure loses only that item.
    ``robots``: the robots.txt fetches made for this batch, recorded with it. A transaction aborted to
    break a deadlock with a concurrent run is run again (store/retry.py)."""
    when = now or SYSTEM_CLOCK.now()
    return retry_lost_races(lambda: _store_outcomes(engine, outcomes, run_id=run_id, source_id=source_id,
                                                     next_attempt=next_attempt, robots=robots, enricher=enricher,
                                                     now=when))


def _store_outcomes(engine: Engine, outcomes: Sequence[PageOutcome], *, run_id: int | None, source_id: int,
                    next_attempt: Any, robots: Sequence[FetchResult], enricher: Any,
                    now: datetime) -> list[StoredItem]:
    results: list[StoredItem] = []
    with write_session(engine) as s:
        for r in robots:
            record_fetch(s, r, kind="robots", run_id=run_id, source_id=None, now=now)
        for o in outcomes:
            try:
                with s.begin_nested():
                    results.append(store_outcome(s, o, run_id=run_id, source_id=source_id, now=now,
                                                 next_attempt=next_attempt, enricher=enricher))
            except IntegrityError as exc:
                results.append(StoredItem("failed", None, "internal", o.link))
                with s.begin_nested():
                    _set_entries(s, o.entry_ids, status="failed", error_kind="internal",
                                 error_detail=f"store: {str(exc.orig).splitlines()[0]}")
        searchindex.index_in_batch(s)  # the full-text index of what this batch archived or changed
    return results
