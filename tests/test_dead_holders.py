"""A process killed while it holds a source lease or host slots (SIGKILL, OOM killer) must not stall
the next run on the same machine for the lease's length: the holder's death is seen and what it held
is taken over at once. Holders that still run, or run on another machine, keep what they hold."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta

from sqlalchemy import select

from ingest.config import parse_config
from ingest.store import archive, leases, owners
from ingest.store.db import open_archive, read_session
from ingest.store.hostslots import HostSlots
from ingest.store.models import HostSlot, Source

HOUR = timedelta(hours=1)


def _never_wait(_s: float) -> None:
    raise AssertionError("waited for a slot that a dead process held")


def _die_holding(url: str, source_id: int) -> None:
    """A real process takes the source's lease and both slots of a host, then SIGKILLs itself."""
    code = textwrap.dedent(f"""
        import os, signal
        from datetime import timedelta
        from ingest.store import leases
        from ingest.store.db import open_engine
        from ingest.store.hostslots import HostSlots
        engine = open_engine({url!r})
        assert leases.acquire(engine, {source_id}, leases.new_owner("poll-run-7"), timedelta(hours=1))
        slots = HostSlots(engine, leases.new_owner("fetch"), per_host=2, delay_s=0, lease=timedelta(hours=1))
        a, b = slots.slot("news.example"), slots.slot("news.example")
        a.__enter__(); b.__enter__()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_what_a_killed_process_held_is_taken_over_at_once(database_url: str) -> None:
    engine = open_archive(database_url)
    cfg = parse_config({"sources": [{"name": "a", "feed": "http://a.example/f"}]})
    sid = archive.ensure_sources(engine, cfg.sources)["a"]
    _die_holding(database_url, sid)
    with read_session(engine) as s:
        dead_owner = s.execute(select(Source.lease_owner)).scalar_one()
        assert dead_owner is not None and dead_owner.startswith("poll-run-7:")  # the lease is still held
        assert all(o is not None for o in s.execute(select(HostSlot.owner)).scalars())
    assert leases.holder_is_dead(dead_owner)
    me = leases.new_owner("poll-run-8")
    assert leases.acquire(engine, sid, me, HOUR)
    users = HostSlots(engine, leases.new_owner("fetch"), per_host=2, delay_s=0, sleep=_never_wait)
    with users.slot("news.example"), users.slot("news.example"):
        pass
    with read_session(engine) as s:
        assert s.execute(select(Source.lease_owner)).scalar_one() == me
        assert list(s.execute(select(HostSlot.owner)).scalars()) == [None, None]


def test_a_live_holder_keeps_its_lease(database_url: str) -> None:
    engine = open_archive(database_url)
    cfg = parse_config({"sources": [{"name": "a", "feed": "http://a.example/f"}]})
    sid = archive.ensure_sources(engine, cfg.sources)["a"]
    holder = leases.new_owner("poll-run-1")  # this very process: alive
    assert leases.acquire(engine, sid, holder, HOUR)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            started = owners._start_time(other.pid)
            assert started
            assert not leases.holder_is_dead(f"poll-run-1:{owners._hostname()}:{other.pid}@{started}:{'a' * 12}")
            # same pid, other start time: the holder died and its pid went to a new process
            assert leases.holder_is_dead(f"poll-run-1:{owners._hostname()}:{other.pid}@{started + 1}:{'a' * 12}")
        finally:
            other.kill()
    assert not leases.holder_is_dead(holder)
    assert not leases.acquire(engine, sid, leases.new_owner("poll-run-2"), HOUR)


def test_owner_ids_that_cannot_be_judged_are_never_dead() -> None:
    mine = leases.new_owner("fetch")
    elsewhere = mine.replace(f":{owners._hostname()}:", ":another-machine:", 1)
    assert not leases.holder_is_dead(elsewhere)  # another machine: only expiry frees it
    host, _, ns = owners._hostname().partition("+")
    if ns:  # same host name, another PID namespace (a container with host networking): its pids aren't ours
        other_ns = mine.replace(f":{owners._hostname()}:", f":{host}+{int(ns) + 1}:", 1).replace(
            f":{os.getpid()}@", ":999999@", 1)
        assert not leases.holder_is_dead(other_ns)
        assert leases.holder_is_dead(mine.replace(f":{os.getpid()}@", ":999999@", 1))  # ours: no such pid
    assert not leases.holder_is_dead("run-3")  # not our format
    assert not leases.holder_is_dead(None)
    assert not leases.holder_is_dead(mine)  # ourselves


def test_a_killed_runs_row_is_marked_abandoned_by_the_next_run(database_url: str) -> None:
    from ingest.store.models import Run

    engine = open_archive(database_url)
    code = textwrap.dedent(f"""
        import os, signal
        from ingest.store import archive
        from ingest.store.db import open_engine
        archive.start_run(open_engine({database_url!r}), "poll")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    live = archive.start_run(engine, "poll")  # sweeps first, then starts its own
    with read_session(engine) as s:
        rows = {r.id: r for r in s.execute(select(Run)).scalars()}
    killed = next(r for r in rows.values() if r.id != live)
    assert killed.status == "abandoned" and killed.finished_at is not None and "killed" in (killed.error or "")
    assert rows[live].status == "running" and rows[live].owner and not leases.holder_is_dead(rows[live].owner)
    assert archive.sweep_abandoned_runs(engine) == []  # our own live run is not touched


def test_ingest_runs_lists_runs_and_tells_a_killed_one(sqlite_url: str) -> None:
    import json

    from click.testing import CliRunner

    from ingest.cli import main

    engine = open_archive(sqlite_url)
    done = archive.start_run(engine, "poll", {"sources": ["a"]})
    archive.finish_run(engine, done, "completed", {"totals": {"new": 3, "failed": 1}})
    failed = archive.start_run(engine, "backfill")
    archive.finish_run(engine, failed, "failed", error="feed unreachable\ntraceback …")
    code = textwrap.dedent(f"""
        import os, signal
        from ingest.store import archive
        from ingest.store.db import open_engine
        archive.start_run(open_engine({sqlite_url!r}), "poll")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == -signal.SIGKILL

    def invoke(*args: str) -> list[dict]:
        result = CliRunner().invoke(main, ["runs", "--db", sqlite_url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.output.splitlines()]

    rows = invoke("--json")
    assert [(r["id"], r["kind"], r["status"], r["process_gone"]) for r in rows] == [
        (3, "poll", "running", True), (failed, "backfill", "failed", None), (done, "poll", "completed", None)]
    assert rows[2]["summary"] == {"totals": {"new": 3, "failed": 1}} and rows[2]["parameters"] == {"sources": ["a"]}
    assert [r["id"] for r in invoke("--json", "--kind", "backfill")] == [failed]
    table = CliRunner().invoke(main, ["runs", "--db", sqlite_url]).output
    assert "running (process gone)" in table and "new=3 failed=1" in table and "feed unreachable" in table
    archive.start_run(engine, "poll")  # the next run marks the killed one
    assert [r["id"] for r in invoke("--json", "--status", "abandoned")] == [3]
