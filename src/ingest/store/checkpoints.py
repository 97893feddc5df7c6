"""Backfill checkpoints: one row per (source, via, window), so a killed backfill resumes at its first
unfinished window and a finished one is not redone. Windows are ``(start, end)`` pairs here; the
backfill story (``ingest.pipeline.backfill``) decides what they are."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, select, update

from ingest.store.db import insert_ignore, read_session, write_session
from ingest.store.models import BackfillCheckpoint

Span = tuple[datetime, datetime]


def open_spans(engine: Engine, source_id: int, via: str, spans: Sequence[Span], now: datetime) -> set[Span]:
    """Create the checkpoints (idempotently); return the spans already done."""
    with write_session(engine) as s:
        for start, end in spans:
            s.execute(insert_ignore(engine, BackfillCheckpoint).values(
                source_id=source_id, via=via, window_start=start, window_end=end, status="pending", urls=0,
                updated_at=now).on_conflict_do_nothing(
                index_elements=["source_id", "via", "window_start", "window_end"]))
    with read_session(engine) as s:
        return {(r.window_start, r.window_end) for r in s.execute(select(BackfillCheckpoint).where(
            BackfillCheckpoint.source_id == source_id, BackfillCheckpoint.via == via,
            BackfillCheckpoint.status == "done")).scalars()}


def finish_span(engine: Engine, source_id: int, via: str, span: Span, urls: int, counts: dict[str, int],
                run_id: int | None, now: datetime) -> None:
    start, end = span
    with write_session(engine) as s:
        s.execute(update(BackfillCheckpoint).where(
            BackfillCheckpoint.source_id == source_id, BackfillCheckpoint.via == via,
            BackfillCheckpoint.window_start == start, BackfillCheckpoint.window_end == end,
        ).values(status="done", urls=urls, summary=counts, run_id=run_id, updated_at=now))
