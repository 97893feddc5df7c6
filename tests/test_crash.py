"""Crash safety: a poll killed with SIGKILL during feed writes, page fetches, extraction and page
writes, then run again, leaves exactly the archive an uninterrupted poll leaves: no duplicate rows, no
half-written article, every good item archived. The kill points are set by tests/crashpoll.py (the
library has no test hooks); bench/crash_trials.py runs many random-moment trials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crashpoll import check_archive
from faultsite import FaultSite, rss, serve

from ingest.store.db import open_archive

HERE = Path(__file__).parent
CLEAN = {"duplicate_entries": 0, "duplicate_articles": 0, "duplicate_aliases": 0,
         "article_without_current_extraction": 0, "article_without_text_hash": 0, "extraction_without_blob": 0,
         "fetch_without_blob": 0, "archived_entry_without_article": 0, "entries_left_pending": 0}


def crash_site_routes(site: FaultSite) -> dict[str, Any]:
    alpha = [(f"a{i}", f"/article?n=a{i}") for i in range(12)] + [("a404", "/404"), ("apdf", "/pdf")]
    beta = ([(f"b{i}", f"/article?n=a{i}") for i in range(4)] + [(f"bc{i}", f"/copy?n=a{i}") for i in (4, 5)]
            + [(f"b{i}", f"/article?n=b{i}") for i in range(6, 10)])
    return {"/feeds/alpha.xml": serve(rss([(g, site.url(p)) for g, p in alpha])),
            "/feeds/beta.xml": serve(rss([(g, site.url(p)) for g, p in beta]))}


def expected_outcome(site: FaultSite) -> list[tuple[str, ...]]:
    """(source, entry key, status, error kind, canonical URL of its article) of an uninterrupted poll."""
    rows = [("alpha", f"guid:a{i}", "archived", "", site.url(f"/article?n=a{i}")) for i in range(12)]
    rows += [("alpha", "guid:a404", "failed", "http_4xx", ""), ("alpha", "guid:apdf", "failed", "not_html", "")]
    rows += [("beta", f"guid:b{i}", "archived", "", site.url(f"/article?n=a{i}")) for i in range(4)]
    rows += [("beta", f"guid:bc{i}", "duplicate", "", site.url(f"/article?n=a{i}")) for i in (4, 5)]
    rows += [("beta", f"guid:b{i}", "archived", "", site.url(f"/article?n=b{i}")) for i in range(6, 10)]
    return sorted(rows)


def write_config(path: Path, site: FaultSite, database: str) -> Path:
    path.write_text(json.dumps({
        "database": database,
        "fetch": {"allow_private_networks": True, "respect_robots": False, "per_host_delay_s": 0,
                  "per_host_concurrency": 4, "timeout_s": 5, "retries": 0},
        "extract": {"workers": 1},
        "sources": [{"name": "alpha", "feed": site.url("/feeds/alpha.xml")},
                    {"name": "beta", "feed": site.url("/feeds/beta.xml")}]}))
    return path


def run_poll(config: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """tests/crashpoll.py in its own session; whatever it leaves (extractor workers) is killed after.
    Output goes to files: a killed poll's orphaned workers would hold pipes open."""
    out_path, err_path = config.with_suffix(".out"), config.with_suffix(".err")
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen([sys.executable, str(HERE / "crashpoll.py"), str(config), *extra],
                                stdout=out, stderr=err, text=True, start_new_session=True,
                                env=os.environ | {"PYTHONPATH": str(HERE)})
        try:
            proc.wait(timeout=timeout)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return subprocess.CompletedProcess(proc.args, proc.returncode, out_path.read_text(), err_path.read_text())


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
