"""Which sources a run polls: due ones (scheduled runs) or all (forced), each under a lease.

A source's *feed* is polled when its adaptive next poll time has come; its *page work* (entries left
pending by a run that was killed, failed items whose retry time has come, archived articles due for a
re-check) is done at the next tick whatever the feed's schedule says, without fetching the feed: a
source polled every six hours must not leave a re-check or a retry waiting six hours.

Catch-up needs no bookkeeping of missed schedule ticks: a source's ``next_poll_at`` simply stays in the
past while the machine is down, so the first run afterwards finds it due and polls it once; the
entries table (unique per source and entry key) makes that poll add each missed item exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from ingest import decide
from ingest.clock import SYSTEM_CLOCK
from ingest.config import SourceConfig
from ingest.store import archive, leases
from ingest.store import sources as source_rows


@dataclass
class Claim:
    """The outcome of claiming sources for one run."""

    owner: str
    claimed: list[SourceConfig] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # another run holds the lease
    not_due: list[str] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # source ids whose lease this run holds
    work_only: set[str] = field(default_factory=set)  # claimed for their due page work; the feed is not due

    def fetches_feed(self, source: SourceConfig) -> bool:
        return source.name not in self.work_only


def claim_sources(engine: Engine, sources: Sequence[SourceConfig], source_id: Callable[[SourceConfig], int],
                  *, owner: str, lease: timedelta, due_only: bool, now: datetime | None = None) -> Claim:
    claim = Claim(owner)
    ids = {src.name: source_id(src) for src in sources}
    next_at = source_rows.next_poll_times(engine, list(ids.values()))
    now = now or SYSTEM_CLOCK.now()
    due = [src for src in sources if not due_only or decide.source_is_due(next_at.get(ids[src.name]), now)]
    if due_only:  # a source whose feed is not due may still have page work due: do that now
        names = {src.name for src in due}  # by name: comparing pydantic models made this quadratic (5 s at 1,000)
        busy = archive.sources_with_due_work(engine, [ids[src.name] for src in sources if src.name not in names], now)
        claim.work_only = {src.name for src in sources if src.name not in names and ids[src.name] in busy}
        due += [src for src in sources if src.name in claim.work_only]
    names = {src.name for src in due}
    claim.not_due = [src.name for src in sources if src.name not in names]
    taken = leases.acquire_many(engine, [ids[src.name] for src in due], owner, lease, now=now)
    for src in due:
        if ids[src.name] in taken:
            claim.claimed.append(src)
            claim.held.append(ids[src.name])
        else:
            claim.skipped.append(src.name)
    return claim


def release_all(engine: Engine, claim: Claim) -> None:
    leases.release_many(engine, claim.held, claim.owner)
