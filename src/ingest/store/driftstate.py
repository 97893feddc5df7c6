"""Extraction drift judged when pages are stored: each source's walk (``ingest.analyse.driftwalk``) and
verdict kept in ``source_drift`` (migration 0010), so that reading them is one query for all sources.

- :func:`update_sources` (after a poll's work, for the sources it fetched pages for; after a backfill):
  per source, the observations of its page fetches newer than the stored ``last_fetch_id`` go on from the
  stored walk: the cost is the new pages plus the stored window and baseline (~230 observations by
  default), never the source's history. A source without a row, or whose walk was made with other
  thresholds, is judged from its history once (:func:`rejudge`).
- :func:`rejudge` (``ingest reprocess``, which re-extracts old pages: their observations change under the
  walk; the migration's backfill): the walk over the source's latest ``history`` observations, from
  nothing.

Concurrency: a row is replaced only if its ``last_fetch_id`` is still the one read (two runs finishing
together: the second finds the row moved on and leaves it; the pages it saw and the first did not are
read by the next update, as they are after the stored fetch). A new row is inserted once (ON CONFLICT DO
NOTHING). Fetches of one source are made by the run holding its lease, so ids behind the stored one do
not appear later.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ingest.analyse.drift import DriftState, Thresholds
from ingest.analyse.driftwalk import Walk, advance, walk_from_json, walk_to_json
from ingest.store import driftreads
from ingest.store.models import Source, SourceDrift
from ingest.store.reads import rows as _rows

_TABLE = SourceDrift.__table__  # type: ignore[attr-defined]


def _with_signatures(s: Any, walk: Walk) -> Walk:
    """The stored walk with its members' signatures read again (the state keeps only whose they are)."""
    refs = {o.ref for o in walk.members() if o.ref}
    if not refs:
        return walk
    found = driftreads.signatures(s, refs)

    def put(obs: list[Any]) -> list[Any]:
        return [replace(o, signature=found.get(o.ref)) if o.ref else o for o in obs]

    return replace(walk, window=put(walk.window), base=put(walk.base), shadow=put(walk.shadow))


def _verdict(state: DriftState, t: Thresholds) -> dict[str, Any]:
    return state.as_dict() | {"thresholds": asdict(t)}


def _write(s: Connection, source_id: int, walk: Walk, state: DriftState, t: Thresholds, upto: int,
           now: datetime, expected: int | None) -> bool:
    """Store the walk; ``expected``: the ``last_fetch_id`` read (None: no row was there). False when another
    writer got there first."""
    values = {"drifting": state.drifting, "drifting_since": state.since, "judged": state.judged,
              "last_fetch_id": upto, "updated_at": now, "verdict": _verdict(state, t),
              "rolling": walk_to_json(walk, t)}
    if expected is None:
        ins = postgresql.insert if s.dialect.name == "postgresql" else sqlite.insert
        done = s.execute(ins(_TABLE).values(source_id=source_id, **values)
                         .on_conflict_do_nothing(index_elements=["source_id"]))
    else:
        done = s.execute(update(_TABLE).where(_TABLE.c.source_id == source_id,
                                              _TABLE.c.last_fetch_id == expected).values(**values))
    return bool(done.rowcount)


def _judge(s: Connection, source_id: int, stored: Any, t: Thresholds, now: datetime, *,
           from_history: bool = False) -> DriftState | None:
    """Judge one source on ``s`` (in its transaction); ``stored``: its row, or None. Returns the verdict
    written, or None when there was nothing new (or another writer moved the row on)."""
    upto = driftreads.last_fetch_id(s, source_id)
    walk = None if stored is None or from_history else walk_from_json(stored.rolling or {}, t)
    if walk is None:
        new = driftreads.source_observations(s, source_id, t.history)
        walk = Walk()
    elif upto <= stored.last_fetch_id:
        return None  # no page fetched since: the stored verdict stands
    else:
        new = driftreads.new_observations(s, source_id, stored.last_fetch_id, upto)
        walk = _with_signatures(s, walk)
    walk, state = advance(walk, new, t)
    if not _write(s, source_id, walk, state, t, upto, now, None if stored is None else stored.last_fetch_id):
        return None
    return state


def _stored(s: Connection, source_ids: Sequence[int]) -> dict[int, Any]:
    if not source_ids:
        return {}
    return {r.source_id: r for r in _rows(s, "SELECT source_id, last_fetch_id, rolling FROM source_drift "
                                             "WHERE source_id IN :ids", {"ids": list(source_ids)},
                                          expanding=["ids"])}


def _ids(s: Connection, names: Iterable[str] | None) -> dict[str, int]:
    stmt = select(Source.id, Source.name)  # type: ignore[call-overload]
    if names is not None:
        stmt = stmt.where(Source.name.in_(bindparam("names", expanding=True)))  # type: ignore[attr-defined]
    return {r.name: r.id for r in s.execute(stmt, {"names": sorted(set(names))} if names is not None else {})}


def update_sources(engine: Engine, names: Iterable[str], t: Thresholds, now: datetime) -> list[dict[str, Any]]:
    """Judge the named sources' new pages (each in a transaction of its own; one that fails is logged
    and the others go on) and return those that drift, each as ``{source, since, moved, describe}``:
    what a poll's summary carries (its table artifact, its ``ingest.source.drift`` events)."""
    import logging

    names = sorted(set(names))
    with engine.connect() as s:
        ids = _ids(s, names)
    out = []
    for name, source_id in sorted(ids.items()):
        try:
            with engine.begin() as s:
                _judge(s, source_id, _stored(s, [source_id]).get(source_id), t, now)
        except Exception:  # noqa: BLE001  (one source's verdict never stops the others': it is judged again next time)
            logging.getLogger(__name__).exception("could not judge extraction drift of %s", name)
    with engine.connect() as s:
        verdicts = driftreads.stored_verdicts(s)
    for name in sorted(ids):
        d = verdicts.get(name)
        if d and d.get("drifting"):
            out.append({"source": name, "since": d["since"], "moved": d["moved"], "describe": d["describe"]})
    return out


def rejudge(conn: Connection, t: Thresholds, now: datetime, names: Iterable[str] | None = None) -> int:
    """Judge the named (or all) sources again from their history, on ``conn`` (the caller's transaction);
    returns how many were written."""
    ids = _ids(conn, names)
    stored = _stored(conn, list(ids.values()))
    written = 0
    for source_id in sorted(ids.values()):
        written += _judge(conn, source_id, stored.get(source_id), t, now, from_history=True) is not None
    return written


def rejudge_sources(engine: Engine, t: Thresholds, now: datetime, names: Iterable[str] | None = None) -> int:
    """:func:`rejudge`, each source in a transaction of its own."""
    with engine.connect() as s:
        ids = _ids(s, names)
    written = 0
    for name in sorted(ids):
        with engine.begin() as s:
            written += rejudge(s, t, now, [name])
    return written


def sources_of_articles(engine: Engine, article_ids: Sequence[int]) -> list[str]:
    """The names of the sources that listed these articles first (whose observations they are)."""
    out: set[str] = set()
    ids = sorted(set(article_ids))
    with engine.connect() as s:
        for i in range(0, len(ids), 500):
            out.update(r.name for r in _rows(s, "SELECT DISTINCT s.name FROM articles a JOIN sources s "
                                                "ON s.id = a.source_id WHERE a.id IN :ids",
                                             {"ids": ids[i:i + 500]}, expanding=["ids"]))
    return sorted(out)


def backfill(conn: Connection, now: datetime) -> None:
    """The migration's fill: every source judged from its history, with the default thresholds."""
    rejudge(conn, Thresholds(), now)
