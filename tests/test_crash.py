"""Crash safety: a poll killed with SIGKILL during feed writes, page fetches, extraction and page
writes, then run again, leaves exactly the archive an uninterrupted poll leaves: no duplicate rows, no
half-written article, every good item archived. The kill points are set by tests/crashpoll.py (the
library has no test hooks); bench/crash_trials.py runs many random-moment trials."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from crashpoll import CLEAN, check_archive, crash_site_routes, expected_outcome, run_poll, write_config
from faultsite import FaultSite

from ingest.store.db import open_archive


@pytest.fixture(scope="module")
def crash_site() -> Iterator[FaultSite]:
    with FaultSite() as site:
        site.routes |= crash_site_routes(site)
        yield site


@pytest.mark.parametrize(("backend", "point"), [
    ("sqlite", "feed:2"), ("sqlite", "fetch:3"), ("sqlite", "extract:2"), ("sqlite", "store:5"),
    ("postgresql", "store:12"), ("postgresql", "extract:1"),
])
def test_killed_poll_then_rerun_leaves_a_whole_archive(backend: str, point: str, crash_site: FaultSite,
                                                      tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    config = write_config(tmp_path / "feeds.json", crash_site, url)
    killed = run_poll(config, "--kill", point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = run_poll(config)
    assert done.returncode == 0, done.stderr
    assert "database is locked" not in done.stderr
    engine = open_archive(url)
    state = check_archive(engine)
    engine.dispose()
    assert state["violations"] == CLEAN
    assert state["outcome"] == expected_outcome(crash_site)
    assert state["articles"] == 16
