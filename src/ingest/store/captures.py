"""Pages archived from bytes someone else fetched (WARC records, Wayback captures): their provenance on
the page fetch rows, and the checkpoints of those backfills that carry a cursor (a CDX page's resume key).

Provenance is written right after the page stage stored the batch, onto the page fetch the entry points
to, and only onto a fetch of that very request (its start time) that has none yet: a backfill killed in
between writes it when it reads the record again (its unit is not done until then).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, select, update

from ingest.store.db import read_session, write_session
from ingest.store.models import BackfillCheckpoint, Entry, Fetch
from ingest.store.retry import retry_lost_races

_F = Fetch.__table__  # type: ignore[attr-defined]
_E = Entry.__table__  # type: ignore[attr-defined]

_PAGE_FETCH = select(_E.c.page_fetch_id).where(_E.c.source_id == bindparam("sid"),
                                               _E.c.entry_key == bindparam("key")).scalar_subquery()
_SET = update(_F).where(
    _F.c.id == _PAGE_FETCH, _F.c.started_at == bindparam("started"), _F.c.warc_record_id.is_(None),
    _F.c.capture_url.is_(None)).values(
    warc_file=bindparam("warc_file"), warc_offset=bindparam("warc_offset"),
    warc_record_id=bindparam("warc_record_id"), capture_url=bindparam("capture_url"),
    captured_at=bindparam("captured_at"))


@dataclass(frozen=True, slots=True)
class Provenance:
    entry_key: str  # the source's entry the page was archived for
    started_at: datetime  # the page fetch's start (as recorded on its row)
    warc_file: str | None = None
    warc_offset: int | None = None
    warc_record_id: str | None = None
    capture_url: str | None = None
    captured_at: datetime | None = None


def record_provenance(engine: Engine, source_id: int, items: Sequence[Provenance]) -> None:
    """Onto each entry's page fetch (idempotent: a fetch that has provenance keeps it)."""
    if not items:
        return
    rows = [{"sid": source_id, "key": p.entry_key, "started": p.started_at, "warc_file": p.warc_file,
             "warc_offset": p.warc_offset, "warc_record_id": p.warc_record_id, "capture_url": p.capture_url,
             "captured_at": p.captured_at} for p in items]

    def write() -> None:
        with write_session(engine) as s:
            s.connection().execute(_SET, rows)

    retry_lost_races(write)


def checkpoint(engine: Engine, source_id: int, via: str, span: tuple[datetime, datetime]
               ) -> tuple[str, dict[str, Any]] | None:
    """(status, summary) of one checkpoint, or None when there is none."""
    start, end = span
    with read_session(engine) as s:
        row = s.execute(select(BackfillCheckpoint.status, BackfillCheckpoint.summary).where(
            BackfillCheckpoint.source_id == source_id, BackfillCheckpoint.via == via,
            BackfillCheckpoint.window_start == start, BackfillCheckpoint.window_end == end)).first()
    return None if row is None else (row[0], dict(row[1] or {}))


def fetch_provenance(engine: Engine, fetch_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """fetch id -> its provenance columns (for ``ingest show`` and tests)."""
    cols = (_F.c.id, _F.c.warc_file, _F.c.warc_offset, _F.c.warc_record_id, _F.c.capture_url, _F.c.captured_at)
    with read_session(engine) as s:
        rows = s.connection().execute(select(*cols).where(_F.c.id.in_(list(fetch_ids)))).all()
    return {r[0]: dict(zip(("warc_file", "warc_offset", "warc_record_id", "capture_url", "captured_at"), r[1:],
                           strict=True)) for r in rows}
