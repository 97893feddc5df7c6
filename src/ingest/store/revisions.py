"""Article versions and the revision re-check schedule.

Every distinct text of an article is a row of ``article_versions`` (version 1 when first archived);
``article_state.version`` names the latest. A re-fetch is a new version only when the text's letters
and digits changed (:func:`ingest.analyse.neardup.revision_key`): whitespace, punctuation and case edits are
not revisions, and an identical text never is.

Re-checks: each article is re-fetched on the schedule of :func:`ingest.decide.next_revision_check`
(1 h, 6 h, 1 day, 3, 7 and 30 days after first seen), and when a feed changed the item's title or
summary since the last check. Re-checks are conditional GETs (the validators of the page's last full
response), so an unchanged page costs a 304. A page that is gone (404/410) stays archived and is
recorded as such (store/events.py), and is watched on the slow schedule after the regular one ends.
:func:`due_rechecks` is the indexed query the poll uses.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlmodel import Session

from ingest import decide
from ingest.analyse.neardup import revision_key
from ingest.store.db import run_core as _run
from ingest.store.models import Article, ArticleState, ArticleVersion, Entry, Fetch
from ingest.store.reads import rows
from ingest.store.textcopies import VERSION_TEXT


@functools.cache
def _statements() -> SimpleNamespace:
    """Statements run for every new article, built once and executed with parameters (building them
    per article cost more CPU than the database's work)."""
    return SimpleNamespace(
        version=insert(ArticleVersion.__table__),  # type: ignore[attr-defined]
        state=insert(ArticleState.__table__),  # type: ignore[attr-defined]
        listed=select(func.max(Entry.updated_at)).where(Entry.id.in_(bindparam("ids", expanding=True))),  # type: ignore[union-attr]
    )


def same_revision(s: Session, article_id: int, text: str, *, key: str | None = None) -> bool:
    """True when ``text`` differs from the latest version at most in whitespace or punctuation.
    ``key``: the text's revision key when computed already (ingest.analyse.precompute)."""
    latest = _run(s, select(ArticleState.version_key).where(ArticleState.article_id == article_id)).scalar()
    return latest is not None and latest == (key or revision_key(text))


def first_version(s: Session, article_id: int, *, title: str | None, text: str, text_sha: str,
                  fetch_id: int | None, extraction_id: int | None, run_id: int | None,
                  now: datetime, entry_ids: Sequence[int] = (), version_key: str | None = None) -> None:
    """Version 1 and the state row. ``version_key``: the text's revision key when computed already."""
    st = _statements()
    _run(s, st.version, {"article_id": article_id, "version": 1, "title": title, "text": text,
                         "content_sha256": text_sha, "fetched_at": now, "fetch_id": fetch_id,
                         "extraction_id": extraction_id, "run_id": run_id})
    listed = _run(s, st.listed, {"ids": list(entry_ids)}).scalar() if entry_ids else None
    _run(s, st.state, {"article_id": article_id, "version": 1, "version_key": version_key or revision_key(text),
                       "checks": 0, "next_check_at": decide.next_revision_check(now, 0),
                       "listed_updated_at": listed})


def new_version(s: Session, article_id: int, *, title: str | None, text: str, text_sha: str,
                fetch_id: int | None, extraction_id: int | None, run_id: int | None, now: datetime,
                version_key: str | None = None) -> int:
    """Record the next version; the state row's UPDATE serialises concurrent writers of one article."""
    key = version_key or revision_key(text)
    version = _run(s, update(ArticleState).where(ArticleState.article_id == article_id).values(  # type: ignore[arg-type]
        version=ArticleState.version + 1, version_key=key).returning(ArticleState.version)).scalar()
    if version is None:  # an article archived before this table existed and not migrated: start at 2
        version = 2
        _run(s, insert(ArticleState).values(article_id=article_id, version=2, version_key=key, checks=0))
    _run(s, insert(ArticleVersion).values(
        article_id=article_id, version=version, title=title, text=text, content_sha256=text_sha, fetched_at=now,
        fetch_id=fetch_id, extraction_id=extraction_id, run_id=run_id))
    return int(version)


@dataclass(frozen=True, slots=True)
class Recheck:
    article_id: int
    entry_ids: tuple[int, ...]
    link: str
    etag: str | None = None  # validators of the page's last full response: a 304 if unchanged
    last_modified: str | None = None


def due_rechecks(s: Session, source_id: int, now: datetime, *, limit: int = 500) -> list[Recheck]:
    """Articles of this source due for a revision re-check: by the schedule, or because a feed changed
    the item's listing (its title or summary) since the last check (at most once per
    ``decide.RELIST_MIN_GAP``: a feed that rewrites its items on every poll must not make every poll
    re-fetch every page). A bumped ``<updated>`` date alone is not a reason: feeds bump it on every
    build. Advances each article's schedule, so each is queued once per due time."""
    state, article, entry = ArticleState.__table__, Article.__table__, Entry.__table__  # type: ignore[attr-defined]
    ids = due_recheck_ids(s, source_id, now, limit=limit)
    if not ids:
        return []
    entries: dict[int, list[tuple[int, str]]] = {}
    for entry_id, article_id, link in _run(s, select(entry.c.id, entry.c.article_id, entry.c.link).where(
            entry.c.article_id.in_(ids), entry.c.source_id == source_id,
            entry.c.link.is_not(None)).order_by(entry.c.id)):
        entries.setdefault(article_id, []).append((entry_id, link))
    states = {r.article_id: r for r in _run(s, select(state.c.article_id, state.c.checks, state.c.gone_since)
                                            .where(state.c.article_id.in_(ids)))}
    newest_listed = dict(_run(s, select(entry.c.article_id, func.max(entry.c.updated_at)).where(
        entry.c.article_id.in_(ids)).group_by(entry.c.article_id)).all())
    firsts = dict(_run(s, select(article.c.id, article.c.first_seen_at).where(article.c.id.in_(ids))).all())
    out: list[Recheck] = []
    for article_id in ids:
        row = states.get(article_id)
        checks, first = (row.checks if row else 0), firsts[article_id]
        # one re-fetch covers every check whose time has passed
        while (due := decide.next_revision_check(first, checks)) is not None and due <= now:
            checks += 1
        nxt = decide.next_revision_check(first, checks)
        if nxt is None and row is not None and row.gone_since is not None:
            nxt = now + decide.GONE_RECHECK  # a removed page is watched on the slow schedule, for its return
        _run(s, update(state).where(state.c.article_id == article_id).values(
            checks=checks, checked_at=now, next_check_at=nxt, listed_updated_at=newest_listed.get(article_id)))
        listed_by = entries.get(article_id)
        if listed_by:
            link = listed_by[0][1]
            etag, last_modified = _validators(s, link)
            out.append(Recheck(article_id, tuple(e for e, _ in listed_by), link, etag, last_modified))
    return out


def _relisted(source_ids: Any, now: datetime) -> Any:
    """Archived entries of these sources whose listing (title or summary) changed since their article's
    last check, at most once per ``decide.RELIST_MIN_GAP``: (source id, article id) rows."""
    state, article, entry = ArticleState.__table__, Article.__table__, Entry.__table__  # type: ignore[attr-defined]
    return select(entry.c.source_id, entry.c.article_id).join(state, state.c.article_id == entry.c.article_id).join(
        article, article.c.id == entry.c.article_id).where(
        entry.c.source_id.in_(source_ids), entry.c.status == "archived", entry.c.changed_at.is_not(None),
        entry.c.changed_at > func.coalesce(state.c.checked_at, article.c.fetched_at),
        or_(state.c.checked_at.is_(None), state.c.checked_at <= now - decide.RELIST_MIN_GAP))


def due_recheck_ids(s: Session | Any, source_id: int, now: datetime, *, limit: int = 500) -> list[int]:
    """The source's articles due for a re-check (by the schedule, or relisted): a read, no write, so a
    poll asks it before taking the write lock for :func:`due_rechecks`."""
    state, article = ArticleState.__table__, Article.__table__  # type: ignore[attr-defined]
    by_schedule = select(state.c.article_id).join(article, article.c.id == state.c.article_id).where(
        state.c.next_check_at <= now, article.c.source_id == source_id).limit(limit)
    relisted = select(_relisted([source_id], now).subquery().c.article_id).limit(limit)
    return sorted(set(_run(s, by_schedule).scalars()) | set(_run(s, relisted).scalars()))


def sources_relisted(s: Session | Any, source_ids: Sequence[int], now: datetime) -> set[int]:
    """The sources among these with a relisted article due for a re-check (see :func:`due_rechecks`)."""
    if not source_ids:
        return set()
    return set(_run(s, select(_relisted(list(source_ids), now).subquery().c.source_id).distinct()).scalars())


def keep_watching(s: Session, article_id: int, now: datetime) -> None:
    """A page found gone after its schedule ended is checked again on the slow schedule."""
    state = ArticleState.__table__  # type: ignore[attr-defined]
    _run(s, update(state).where(state.c.article_id == article_id, state.c.next_check_at.is_(None))
         .values(next_check_at=now + decide.GONE_RECHECK))


def _validators(s: Session, url: str) -> tuple[str | None, str | None]:
    """ETag and Last-Modified of the last full (200) response for this page URL."""
    fetches = Fetch.__table__  # type: ignore[attr-defined]
    headers = _run(s, select(fetches.c.headers).where(
        fetches.c.url == url, fetches.c.kind == "page", fetches.c.status == 200, fetches.c.error_kind.is_(None))
        .order_by(fetches.c.id.desc()).limit(1)).scalar()
    if not headers:
        return None, None
    return headers.get("etag"), headers.get("last-modified")


def _version_rows(s: Session, where: str, params: dict[str, Any], expanding: tuple[str, ...] = ()) -> list[Any]:
    """Version rows with their text (a version stored as NULL is the article's current text:
    store/textcopies.py)."""
    return rows(s, f"SELECT v.article_id, v.version, v.title, {VERSION_TEXT} AS text, v.content_sha256, "
                   "v.fetched_at, v.fetch_id, v.extraction_id FROM article_versions v JOIN articles a ON a.id = "
                   f"v.article_id WHERE {where} ORDER BY v.article_id, v.version", params, expanding=expanding)


def versions(s: Session, article_id: int) -> list[dict[str, Any]]:
    return [{"version": v.version, "title": v.title, "text": v.text, "content_sha256": v.content_sha256,
             "fetched_at": v.fetched_at, "fetch_id": v.fetch_id, "extraction_id": v.extraction_id}
            for v in _version_rows(s, "v.article_id = :a", {"a": article_id})]


def version_records(s: Session, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Export records expanded to one per version (title, text, hash and fetch time of that version)."""
    ids = [r["id"] for r in records]
    by_article: dict[int, list[Any]] = {}
    if ids:
        for v in _version_rows(s, "v.article_id IN :ids", {"ids": ids}, expanding=("ids",)):
            by_article.setdefault(v.article_id, []).append(v)
    from ingest.store.query import iso

    out = []
    for r in records:
        for v in by_article.get(r["id"], []):
            out.append(r | {"version": v.version, "title": v.title, "text": v.text,
                            "content_sha256": v.content_sha256, "fetched_at": iso(v.fetched_at)})
    return out
