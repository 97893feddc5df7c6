"""Crash safety: a poll killed with SIGKILL during feed writes, page fetches, extraction and page
writes, then run again, leaves exactly the archive an uninterrupted poll leaves: no duplicate rows, no
half-written article, every good item archived. The kill points are set by tests/crashpoll.py (the
library has no test hooks); bench/crash_trials.py runs many random-moment trials."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from crashpoll import (
    CLEAN,
    HERE,
    check_archive,
    crash_site_routes,
    expected_outcome,
    run_poll,
    session_members,
    write_config,
)
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


def test_a_killed_poll_leaves_no_extractor_processes_behind(crash_site: FaultSite, tmp_path: Path) -> None:
    """Extractor workers (and the forkserver they keep alive) notice that the poll is gone and exit:
    nothing of a killed poll keeps running, so kills by an OOM killer or a supervisor do not pile up."""
    config = write_config(tmp_path / "feeds.json", crash_site, f"sqlite:///{tmp_path / 'a.db'}")
    proc = subprocess.Popen([sys.executable, str(HERE / "crashpoll.py"), str(config), "--kill", "extract:2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=os.environ | {"PYTHONPATH": str(HERE)})
    try:
        assert proc.wait(timeout=120) == -signal.SIGKILL
        left = session_members(proc.pid)
        assert left, "the kill should have found extractor processes running"
        deadline = time.monotonic() + 60  # a bound on waiting, not a speed assertion
        while session_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert session_members(proc.pid) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
