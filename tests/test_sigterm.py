"""Defect 9 of the soak issue: SIGTERM of `ingest poll` (systemd stopping a service, a container being
replaced) left Prefect's local API server orphaned, still running minutes later. A stopped command
stops everything it started; its run is recorded as interrupted, and its committed work is kept."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from faultsite import FaultSite, article_html, reply, rss, serve

from ingest.clock import ManualClock
from ingest.config import load_config
from ingest.pipeline.poll import poll
from ingest.store.db import open_archive

REPO = Path(__file__).resolve().parents[1]
ARTICLES = 40


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc: its children, theirs, …)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(b")") + 2:].split()[1])
    out, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in out:
                out.add(child)
                todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return state[state.rindex(b")") + 2:state.rindex(b")") + 3] != b"Z"  # a zombie has exited


def scalar(db: Path, sql: str) -> int | str | None:
    if not db.exists():
        return None
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            row = conn.execute(sql).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def test_sigterm_stops_the_poll_and_everything_it_started(tmp_path: Path, extractor: object) -> None:
    with FaultSite() as site:
        def slow_article(h: object) -> None:
            if h.site.stopping.wait(0.4):  # type: ignore[attr-defined]
                return
            reply(h, 200, article_html(h.query.get("n", "x")))  # type: ignore[attr-defined]

        site.routes["/slow-article"] = slow_article
        site.routes["/feed.xml"] = serve(rss([(f"g{i}", site.url(f"/slow-article?n={i}")) for i in range(ARTICLES)]))
        db = tmp_path / "archive.db"
        config = tmp_path / "feeds.yaml"
        config.write_text(f"database: 'sqlite:///{db}'\ntaxonomy: null\n"
                          "fetch: {allow_private_networks: true, per_host_delay_s: 0, per_host_concurrency: 2, "
                          "respect_robots: false}\nextract: {workers: 1}\n"
                          f"sources:\n  - {{name: slow, feed: '{site.url('/feed.xml')}'}}\n", encoding="utf-8")
        env = os.environ | {"INGEST_FLOWS_DIR": str(REPO / "flows"), "PREFECT_HOME": str(tmp_path / "prefect"),
                            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
        proc = subprocess.Popen([sys.executable, "-c", "from ingest.cli import entry; entry()", "poll",
                                 "--config", str(config)], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 240
            while (scalar(db, "select count(*) from articles") or 0) < 3:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the poll stored nothing in time"
                time.sleep(0.1)
            started = descendants(proc.pid)
            assert started, "the poll started no process (extractor workers, Prefect's API server)"
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "interrupted" in err
        deadline = time.monotonic() + 20
        while any(alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in started if alive(p)], "processes started by the poll outlived it"

        assert scalar(db, "select status from runs order by id desc limit 1") == "interrupted"
        kept = scalar(db, "select count(*) from articles")
        assert isinstance(kept, int) and 3 <= kept < ARTICLES
        assert scalar(db, "select count(*) from entries where status = 'failed'") == 0  # nothing blamed on items
        assert scalar(db, "select count(*) from entries where status = 'pending'") == ARTICLES - kept

        # the next run finishes the work
        summary = poll(load_config(config), open_archive(f"sqlite:///{db}"), clock=ManualClock(datetime.now(UTC)),
                       extractor=extractor)  # type: ignore[arg-type]
        assert summary["totals"]["new"] == ARTICLES - kept
