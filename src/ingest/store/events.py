"""Page removals and returns, as facts of an article's history (``article_events``).

A re-checked page that answers 404 or 410 is *gone*: the archived article is kept (that is what an
archive is for), and the removal is recorded with its time and status. A 404 that later turns 410 is a
second ``gone`` event (the publisher confirmed the removal); the article stays gone since the first.
A gone page that answers again (200, or 304 to our validators) is ``restored``.

Each transition is one conditional UPDATE of the article's state row, and the event is written only
when that UPDATE changed the row: two runs re-checking one article at once record it once, and a
re-check that finds the page as it was recorded adds nothing (idempotent).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlmodel import Session

from ingest.store.db import run_core as _run
from ingest.store.models import ArticleEvent, ArticleState

GONE_STATUSES = frozenset({404, 410})

_STATE = ArticleState.__table__  # type: ignore[attr-defined]
_EVENTS = ArticleEvent.__table__  # type: ignore[attr-defined]




def page_gone(s: Session, article_id: int, *, status: int, url: str, now: datetime, fetch_id: int | None,
              run_id: int | None) -> bool:
    """Record that the article's page answered ``status`` (404/410); True when this is news.
    ``gone_since`` keeps its first value across a 404 -> 410 change."""
    changed = _run(s, update(_STATE).where(
        _STATE.c.article_id == article_id,
        or_(_STATE.c.gone_status.is_(None), _STATE.c.gone_status != status),
    ).values(gone_status=status, gone_since=func.coalesce(_STATE.c.gone_since, now))).rowcount
    if changed != 1:
        return False
    _event(s, article_id, "gone", status, url, now, fetch_id, run_id)
    return True


def page_live(s: Session, article_id: int, *, status: int, url: str, now: datetime, fetch_id: int | None,
              run_id: int | None) -> bool:
    """Record that the article's page answers again; True when it was gone (a ``restored`` event)."""
    changed = _run(s, update(_STATE).where(_STATE.c.article_id == article_id, _STATE.c.gone_since.is_not(None))
                   .values(gone_since=None, gone_status=None)).rowcount
    if changed != 1:
        return False
    _event(s, article_id, "restored", status, url, now, fetch_id, run_id)
    return True


def _event(s: Session, article_id: int, kind: str, status: int | None, url: str, now: datetime,
           fetch_id: int | None, run_id: int | None) -> None:
    _run(s, insert(_EVENTS), {"article_id": article_id, "kind": kind, "at": now, "http_status": status,
                              "url": url, "fetch_id": fetch_id, "run_id": run_id})


def events_of(s: Session, article_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The events of these articles, oldest first, as JSON-ready dicts."""
    out: dict[int, list[dict[str, Any]]] = {}
    for i in range(0, len(article_ids), 500):
        for e in _run(s, select(_EVENTS).where(_EVENTS.c.article_id.in_(article_ids[i:i + 500]))
                      .order_by(_EVENTS.c.article_id, _EVENTS.c.at, _EVENTS.c.id)):
            out.setdefault(e.article_id, []).append({
                "kind": e.kind, "at": e.at.isoformat().replace("+00:00", "Z"), "http_status": e.http_status,
                "url": e.url, "fetch_id": e.fetch_id})
    return out


def gone_since(s: Session, article_ids: list[int]) -> dict[int, tuple[datetime, int]]:
    """Articles among these whose page is gone now: (since, last status)."""
    out: dict[int, tuple[datetime, int]] = {}
    for i in range(0, len(article_ids), 500):
        out.update({r.article_id: (r.gone_since, r.gone_status) for r in _run(s, select(
            _STATE.c.article_id, _STATE.c.gone_since, _STATE.c.gone_status).where(
            _STATE.c.article_id.in_(article_ids[i:i + 500]), _STATE.c.gone_since.is_not(None)))})
    return out
