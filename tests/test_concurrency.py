"""Two polls of the same sources at once, in two processes, on SQLite and on PostgreSQL: both exit 0,
no duplicate rows, no lost sightings, and no "database is locked" reaches the user. Which run stores a
page first is a race, so an exact duplicate may end up on either URL; everything else is exact."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from crashpoll import CLEAN, check_archive, crash_site_routes, expected_outcome, run_poll, write_config
from faultsite import FaultSite

from ingest.store.db import open_archive


def _normalise(rows: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The copy pair (alpha a4 / beta bc4, …) in an order-free form: whichever URL won, one of the two is
    archived and the other a duplicate or a sighting of it."""
    out = []
    for source, key, status, kind, canonical in rows:
        if key in ("guid:a4", "guid:a5", "guid:bc4", "guid:bc5"):
            status = "archived|duplicate"
            canonical = canonical.replace("/copy?", "/article?")
        out.append((source, key, status, kind, canonical))
    return sorted(out)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_polls_at_once(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    with FaultSite() as site:
        site.routes |= crash_site_routes(site)
        config = write_config(tmp_path / "feeds.json", site, url)
        open_archive(url).dispose()  # the schema exists before the race (creating it is `ingest db upgrade`)
        results: dict[str, Any] = {}
        threads = [threading.Thread(target=lambda t=t: results.__setitem__(t, run_poll(config, tag=t)))
                   for t in ("one", "two")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expected = _normalise(expected_outcome(site))
    for run in results.values():
        assert run.returncode == 0, run.stderr
        assert "locked" not in run.stderr.lower() and "Traceback" not in run.stderr
    engine = open_archive(url)
    state = check_archive(engine)
    engine.dispose()
    assert state["violations"] == CLEAN
    assert _normalise(state["outcome"]) == expected
    pairs = {key: (status, canonical) for _, key, status, _, canonical in state["outcome"]}
    for i in (4, 5):
        # One of the two URLs holds the article. The other is a "duplicate" when its page was stored
        # after the text was claimed, or "archived" when it was resolved through the alias the first
        # writer recorded (a sighting): the same article either way, and nothing stored twice.
        statuses = {pairs[f"guid:a{i}"][0], pairs[f"guid:bc{i}"][0]}
        assert "archived" in statuses and statuses <= {"archived", "duplicate"}
        assert pairs[f"guid:a{i}"][1] == pairs[f"guid:bc{i}"][1]
    assert state["articles"] == 16
