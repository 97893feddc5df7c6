"""Several processes opening one brand-new archive at the same moment (a poll and a backfill started
together): exactly one creates the schema, the others wait for it and find it done."""

from __future__ import annotations

import multiprocessing as mp

from sqlalchemy import func, select

from ingest.store.db import current_revision, head_revision, open_archive, open_engine, read_session
from ingest.store.models import Source


def _open(url: str, barrier: mp.synchronize.Barrier, results: mp.Queue) -> None:  # type: ignore[name-defined]
    barrier.wait()
    try:
        engine = open_archive(url)
        results.put(("ok", current_revision(engine)))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def _race(url: str, n: int = 4) -> list[tuple[str, str | None]]:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(url, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return out


def test_concurrent_creation_of_a_new_archive(database_url: str) -> None:
    outcomes = _race(database_url)
    assert outcomes == [("ok", head_revision())] * 4
    engine = open_engine(database_url)
    with read_session(engine) as s:  # the schema is whole and usable
        assert s.execute(select(func.count()).select_from(Source)).scalar_one() == 0
