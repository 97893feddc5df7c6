"""Feed entries a poll plans from: the due ones of a source, and the outcomes decided without a page
fetch (a link already archived is a sighting; a link that cannot be canonicalised is a final failure).
What is due and what is known is decided in :mod:`ingest.decide`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlmodel import Session

from ingest.errors import ErrorKind
from ingest.store import archive
from ingest.store.db import read_session
from ingest.store.models import Entry


def open_entries(engine: Engine, source_id: int) -> list[tuple[int, str, str, datetime | None]]:
    """(id, link, status, next attempt) of the source's pending and failed entries that have a link."""
    with read_session(engine) as s:
        return [tuple(r) for r in s.execute(select(Entry.id, Entry.link, Entry.status, Entry.next_attempt_at).where(
            Entry.source_id == source_id, Entry.status.in_(("pending", "failed")),  # type: ignore[attr-defined]
            Entry.link.is_not(None))).all()]  # type: ignore[union-attr,misc]


def entries_by_keys(engine: Engine, source_id: int, keys: Sequence[str]
                    ) -> list[tuple[int, str | None, str, datetime | None]]:
    """(id, link, status, next attempt) of the source's entries with these keys (backfill entries)."""
    out: list[tuple[int, str | None, str, datetime | None]] = []
    with read_session(engine) as s:
        for i in range(0, len(keys), 500):
            out += [tuple(r) for r in s.execute(select(Entry.id, Entry.link, Entry.status, Entry.next_attempt_at).where(
                Entry.source_id == source_id, Entry.entry_key.in_(list(keys[i:i + 500])))).all()]  # type: ignore[attr-defined,misc]
    return out


def known_articles(engine: Engine, canonical_urls: Iterable[str]) -> dict[str, int]:
    """Canonical URL -> archived article id, for those already archived (any alias counts)."""
    with read_session(engine) as s:
        return archive.lookup_aliases(s, canonical_urls)


def settle_without_fetch(s: Session, link_known: Sequence[tuple[int, int]], unusable: Sequence[int], *,
                         now: datetime) -> None:
    """Entries whose link is archived already become sightings of that article (with the feed's
    categories as its tags); entries whose link cannot be canonicalised fail for good."""
    for entry_id, article_id in link_known:
        s.execute(update(Entry).where(Entry.id == entry_id).values(  # type: ignore[arg-type]
            status="archived", article_id=article_id, error_kind=None, error_detail=None, next_attempt_at=None))
        archive.add_tags(s, article_id, archive.entry_categories(s, [entry_id]), "feed", now=now)
    if unusable:
        s.execute(update(Entry).where(Entry.id.in_(list(unusable))).values(  # type: ignore[union-attr]
            status="failed", error_kind=ErrorKind.UNSUPPORTED_URL.value,
            error_detail="link cannot be canonicalised", next_attempt_at=None))
