"""The ``sources`` table: a configured feed's row, and what the scheduler asks of it.

Rows are created once and kept in step with the configuration (:func:`ensure_sources`, one read and no
write when nothing changed); a failure outside the feed fetch lands on the row like a failed fetch
would (:func:`record_source_failure`); :func:`sources_with_due_work` says which sources have page work
due whether or not their feed is (ingest/scheduling.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, case, select, update
from sqlmodel import Session

from ingest.clock import SYSTEM_CLOCK
from ingest.config import SourceConfig
from ingest.store.db import insert_ignore, read_session, write_session
from ingest.store.models import Article, ArticleState, Entry, Source
from ingest.store.retry import retry_lost_races


def _run(s: Session, statement: Any, params: Any = None) -> Any:
    return s.connection().execute(statement, params)


def ensure_sources(engine: Engine, sources: Sequence[SourceConfig], *,
                   now: datetime | None = None) -> dict[str, int]:
    """Rows for the configured sources (created once, feed URL and language kept in step). Every run
    calls this: when the rows exist and match the config, it is one read and no write."""
    names = [src.name for src in sources]

    def known(s: Session) -> dict[str, tuple[int, str, str | None]]:
        return {name: (sid, feed, lang) for name, sid, feed, lang in _run(s, select(
            Source.name, Source.id, Source.feed_url, Source.language).where(Source.name.in_(names)))}  # type: ignore[attr-defined]

    with read_session(engine) as s:
        rows = known(s)
    if all(rows.get(src.name, (0, None, None))[1:] == (src.feed, src.language) for src in sources):
        return {name: row[0] for name, row in rows.items()}
    created = now or SYSTEM_CLOCK.now()
    with write_session(engine) as s:
        for src in sources:
            _run(s, insert_ignore(engine, Source).values(
                name=src.name, feed_url=src.feed, language=src.language, created_at=created,
                error_count=0).on_conflict_do_nothing(index_elements=["name"]))
            _run(s, update(Source).where(Source.name == src.name)  # type: ignore[arg-type]
                      .values(feed_url=src.feed, language=src.language))
        return {name: row[0] for name, row in known(s).items()}


def sources_with_due_work(engine: Engine, source_ids: Sequence[int], now: datetime, *,
                          relisted: bool = False) -> set[int]:
    """The sources among these with page work due now: entries pending (a run died before their pages
    were stored), failed entries whose retry time has come, or archived articles due for a re-check.
    Three indexed lookups (entries.status, article_state.next_check_at); ``relisted``: also articles
    whose listing changed since their last check (a feed poll plans those too: store/revisions.py)."""
    if not source_ids:
        return set()
    ids = list(source_ids)
    entries, state, articles = Entry.__table__, ArticleState.__table__, Article.__table__  # type: ignore[attr-defined]
    with read_session(engine) as s:
        pending = _run(s, select(entries.c.source_id).where(entries.c.status == "pending",
                                                            entries.c.source_id.in_(ids)).distinct()).scalars()
        retries = _run(s, select(entries.c.source_id).where(
            entries.c.status == "failed", entries.c.next_attempt_at <= now, entries.c.source_id.in_(ids)
        ).distinct()).scalars()
        rechecks = _run(s, select(articles.c.source_id).join(state, state.c.article_id == articles.c.id).where(
            state.c.next_check_at <= now, articles.c.source_id.in_(ids)).distinct()).scalars()
        due = {*pending, *retries, *rechecks}
        if relisted:
            from ingest.store.revisions import sources_relisted  # revisions imports the analysis: only here

            due |= sources_relisted(s, [i for i in ids if i not in due], now)
        return due


def get_source(session: Session, source_id: int) -> Source:
    src = session.get(Source, source_id)
    assert src is not None
    return src


def record_source_failure(engine: Engine, source_id: int, *, kind: str, detail: str, now: datetime,
                          next_poll: Callable[[int], datetime]) -> None:
    """A poll of this source failed outside the feed fetch (an unexpected error in parsing, planning or
    storing): it lands on the source's row like a failed fetch would, with a back-off
    (``next_poll(consecutive failures)``), so ``ingest sources`` never shows such a source as healthy or
    never polled."""
    def write() -> None:
        with write_session(engine) as s:
            errors = int(_run(s, select(Source.error_count).where(Source.id == source_id)).scalar() or 0) + 1
            _run(s, update(Source).where(Source.id == source_id).values(  # type: ignore[arg-type]
                last_polled_at=now, last_status="error", error_kind=kind, error_detail=detail[:2000],
                error_count=errors, next_poll_at=next_poll(errors),
                failing_since=case((Source.failing_since.is_(None), now), else_=Source.failing_since)))  # type: ignore[union-attr]

    retry_lost_races(write)


def next_poll_times(engine: Engine, source_ids: list[int]) -> dict[int, datetime | None]:
    """Each source's adaptive next poll time (None: never polled)."""
    with read_session(engine) as s:
        return dict(s.execute(select(Source.id, Source.next_poll_at).where(
            Source.id.in_(source_ids))).all())  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class FeedState:
    """What a feed poll needs of its source's row: the fetch cursor and the failure count."""

    etag: str | None
    last_modified: str | None
    body_sha256: str | None
    error_count: int
    failing_since: datetime | None
    poll_interval_s: int | None
    validators_unreliable_since: datetime | None
    last_body_at: datetime | None


def feed_state(engine: Engine, source_id: int) -> FeedState:
    return feed_states(engine, [source_id])[source_id]


_S = Source.__table__  # type: ignore[attr-defined]
_STATES = select(_S.c.id, _S.c.etag, _S.c.last_modified, _S.c.body_sha256, _S.c.error_count, _S.c.failing_since,
                 _S.c.poll_interval_s, _S.c.validators_unreliable_since, _S.c.last_body_at).where(
    _S.c.id.in_(bindparam("ids", expanding=True)))


def feed_states(engine: Engine, source_ids: Sequence[int]) -> dict[int, FeedState]:
    """The feed states of these sources, in one read (a batch of feeds polls together)."""
    with engine.connect() as conn:
        return {row.id: FeedState(row.etag, row.last_modified, row.body_sha256, row.error_count or 0,
                                  row.failing_since, row.poll_interval_s, row.validators_unreliable_since,
                                  row.last_body_at)
                for row in conn.execute(_STATES, {"ids": list(source_ids)})}


def update_sources(s: Session, updates: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Apply many source row updates: one prepared statement per set of columns, executed for all the
    rows that set those columns (an unchanged feed's update is the same columns every time)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for source_id, values in updates:
        groups.setdefault(tuple(sorted(values)), []).append(
            {"_id": source_id, **{f"v_{k}": v for k, v in values.items()}})
    for columns, rows in groups.items():
        _run(s, _update_statement(columns), rows)


@functools.cache
def _update_statement(columns: tuple[str, ...]) -> Any:
    return update(_S).where(_S.c.id == bindparam("_id")).values({c: bindparam(f"v_{c}") for c in columns})


def update_source(s: Session, source_id: int, values: dict[str, Any]) -> None:
    """Apply a source row update decided elsewhere (``decide.source_after_poll``). Core, not an ORM
    UPDATE: the ORM's session synchronisation cost more than the statement, once per feed polled."""
    _run(s, update(_S).where(_S.c.id == source_id).values(**values))
