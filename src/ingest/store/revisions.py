"""Article versions and the revision re-check schedule.

Every distinct text of an article is a row of ``article_versions`` (version 1 when first archived);
``article_state.version`` names the latest. A re-fetch is a new version only when the text's letters
and digits changed (:func:`ingest.neardup.revision_key`): whitespace, punctuation and case edits are
not revisions, and an identical text never is.

Re-checks: each article is re-fetched on the schedule of :func:`ingest.decide.next_revision_check`
(1 h, 6 h, 1 day, 3 days after first seen), and whenever a feed lists it again with an ``updated``
date newer than its last check. :func:`due_rechecks` is the indexed query the poll uses.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlmodel import Session

from ingest import decide
from ingest.neardup import revision_key
from ingest.store.models import Article, ArticleState, ArticleVersion, Entry


def _run(s: Session, statement: Any, params: Any = None) -> Any:
    return s.connection().execute(statement, params)


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
    ``key``: the text's revision key when computed already (ingest.precompute)."""
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


def due_rechecks(s: Session, source_id: int, now: datetime, *, limit: int = 500) -> list[Recheck]:
    """Articles of this source due for a revision re-check (schedule, or re-listed with a newer
    ``updated`` date); advances their schedule, so each is queued once per due time."""
    by_schedule = select(ArticleState.article_id).join(Article, Article.id == ArticleState.article_id).where(
        ArticleState.next_check_at <= now, Article.source_id == source_id).limit(limit)  # type: ignore[operator]
    relisted = select(Entry.article_id).join(ArticleState, ArticleState.article_id == Entry.article_id).join(
        Article, Article.id == Entry.article_id).where(
        Entry.source_id == source_id, Entry.status == "archived", Entry.updated_at.is_not(None),  # type: ignore[union-attr]
        Entry.updated_at > func.coalesce(ArticleState.listed_updated_at, Article.first_seen_at)).limit(limit)
    ids = sorted(set(_run(s, by_schedule).scalars()) | set(_run(s, relisted).scalars()))
    if not ids:
        return []
    out: list[Recheck] = []
    entries: dict[int, list[tuple[int, str]]] = {}
    for entry_id, article_id, link in _run(s, select(Entry.id, Entry.article_id, Entry.link).where(
            Entry.article_id.in_(ids), Entry.source_id == source_id,  # type: ignore[union-attr]
            Entry.link.is_not(None)).order_by(Entry.id)):  # type: ignore[union-attr]
        entries.setdefault(article_id, []).append((entry_id, link))
    states = dict(_run(s, select(ArticleState.article_id, ArticleState.checks).where(
        ArticleState.article_id.in_(ids))).all())  # type: ignore[attr-defined]
    listed = dict(_run(s, select(Entry.article_id, func.max(Entry.updated_at)).where(
        Entry.article_id.in_(ids)).group_by(Entry.article_id)).all())  # type: ignore[union-attr]
    firsts = dict(_run(s, select(Article.id, Article.first_seen_at).where(Article.id.in_(ids))).all())  # type: ignore[union-attr]
    for article_id in ids:
        checks, first = states.get(article_id, 0), firsts[article_id]
        # one re-fetch covers every check whose time has passed
        while (due := decide.next_revision_check(first, checks)) is not None and due <= now:
            checks += 1
        nxt = decide.next_revision_check(first, checks)
        _run(s, update(ArticleState).where(ArticleState.article_id == article_id).values(  # type: ignore[arg-type]
            checks=checks, checked_at=now, next_check_at=nxt, listed_updated_at=listed.get(article_id)))
        listed = entries.get(article_id)
        if listed:
            out.append(Recheck(article_id, tuple(e for e, _ in listed), listed[0][1]))
    return out


def versions(s: Session, article_id: int) -> list[dict[str, Any]]:
    rows = s.execute(select(ArticleVersion).where(ArticleVersion.article_id == article_id)  # type: ignore[arg-type]
                     .order_by(ArticleVersion.version)).scalars().all()
    return [{"version": v.version, "title": v.title, "text": v.text, "content_sha256": v.content_sha256,
             "fetched_at": v.fetched_at, "fetch_id": v.fetch_id, "extraction_id": v.extraction_id} for v in rows]


def version_records(s: Session, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Export records expanded to one per version (title, text, hash and fetch time of that version)."""
    ids = [r["id"] for r in records]
    by_article: dict[int, list[ArticleVersion]] = {}
    for v in s.execute(select(ArticleVersion).where(ArticleVersion.article_id.in_(ids))  # type: ignore[attr-defined]
                       .order_by(ArticleVersion.article_id, ArticleVersion.version)).scalars():
        by_article.setdefault(v.article_id, []).append(v)
    from ingest.store.query import iso

    out = []
    for r in records:
        for v in by_article.get(r["id"], []):
            out.append(r | {"version": v.version, "title": v.title, "text": v.text,
                            "content_sha256": v.content_sha256, "fetched_at": iso(v.fetched_at)})
    return out
