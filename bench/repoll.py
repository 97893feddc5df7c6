"""Benchmark: re-poll N unchanged feeds (every feed answers 304, or 200 with the identical body), spread
over many hosts, in-process and through the Prefect flow, next to a minimal conditional-GET loop (httpx,
16 connections, nothing stored) over the same feeds in the same run.

    .venv/bin/python bench/repoll.py [--feeds 1000 10000] [--hosts 50] [--items 2] [--repeat 3]
                                     [--modes 304 200] [--no-prefect] [--delay 0] [--keep DIR --port N]

The world (bench/repollworld.py) serves feed i on 127.0.0.{2 + i % hosts}; each lists ``--items`` pages of
its own, archived by a first poll (not timed). Then, per mode, each poll is timed by its run row (start to
finish: the flow time), and by the call; the minimal loop by its wall time. Per-feed cost = time / N.
``--delay`` is ``per_host_delay_s`` (0 here: at the default 1 s, 20 feeds per host alone take 20 s, and
the benchmark measures ingest, not the politeness it is configured with; per_host_concurrency stays 2).
Results go to bench/results/repoll.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import yaml  # noqa: E402
from procmem import tree_rss  # noqa: E402
from repollworld import World  # noqa: E402


def write_config(path: Path, urls: list[str], db: str, delay: float) -> None:
    path.write_text(yaml.safe_dump({
        "database": db,
        "fetch": {"allow_private_networks": True, "per_host_delay_s": delay, "per_host_concurrency": 2,
                  "max_connections": 16, "timeout_s": 30},
        "extract": {"min_text_chars": 100},
        "sources": [{"name": f"feed-{i}", "feed": url} for i, url in enumerate(urls)]}), encoding="utf-8")


def last_run(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        started, finished, summary = conn.execute(
            "SELECT started_at, finished_at, summary FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    totals = json.loads(summary)["totals"] if summary else {}
    return {"flow_s": (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds(),
            "totals": totals}


def minimal_loop(urls: list[str], connections: int = 16) -> dict[str, Any]:
    """The least a re-poll must do: a conditional GET per feed, and a body hash compared for a 200."""
    import httpx

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    with httpx.Client(limits=limits, timeout=30) as client:
        state: dict[str, tuple[str | None, str | None, str]] = {}

        def first(url: str) -> None:
            r = client.get(url)
            state[url] = (r.headers.get("etag"), r.headers.get("last-modified"), hashlib.sha256(r.content).hexdigest())

        def again(url: str) -> str:
            tag, modified, sha = state[url]
            headers = ({"If-None-Match": tag} if tag else {}) | ({"If-Modified-Since": modified} if modified else {})
            r = client.get(url, headers=headers)
            if r.status_code == 304:
                return "not_modified"
            return "unchanged" if hashlib.sha256(r.content).hexdigest() == sha else "changed"

        with ThreadPoolExecutor(connections) as pool:
            list(pool.map(first, urls))
            c0, t0 = time.process_time(), time.perf_counter()
            outcomes = list(pool.map(again, urls))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall_s": wall, "cpu_s": cpu, "outcomes": {o: outcomes.count(o) for o in set(outcomes)}}


class TreeRSS:
    """Peak RSS summed over a process and its descendants, sampled every 50 ms (/proc)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, tree_rss(self.pid))


def inprocess_poll(config: Path, db: Path, *, skip: frozenset[int]) -> dict[str, Any]:
    """One ``ingest poll`` in a fresh process (in-process pipeline, no Prefect), timed by its run row."""
    code = ("import sys, time, resource; from ingest.api import poll; t0 = time.perf_counter(); "
            f"r = poll({str(config)!r}, database={f'sqlite:///{db}'!r}); "
            "print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_utime + "
            "resource.getrusage(resource.RUSAGE_SELF).ru_stime)")
    return _timed_process([sys.executable, "-c", code], db, skip=skip)


def prefect_poll(config: Path, db: Path, prefect_home: Path, *, skip: frozenset[int]) -> dict[str, Any]:
    """``ingest poll --prefect``: the poll-feeds flow against Prefect's local API (started by the command)."""
    env = {"PREFECT_HOME": str(prefect_home)}
    return _timed_process([str(REPO / ".venv/bin/ingest"), "poll", "--prefect", "--config", str(config),
                           "--db", f"sqlite:///{db}", "--json"], db, env=env, skip=skip)


def _timed_process(cmd: list[str], db: Path, *, env: dict[str, str] | None = None,
                   skip: frozenset[int]) -> dict[str, Any]:
    env = {**os.environ, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **(env or {})}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # output to files: `ingest poll --json` of 10,000 sources is a line of megabytes, which a pipe read only
    # at the end would block
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, text=True, env=env)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid, skip=skip))
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        err_file.seek(0)
        err = err_file.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}):\n{err[-3000:]}")
    run = last_run(db)
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_tree_rss_mb": peak / 2 ** 20, **run}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--items", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["304", "200"], choices=["304", "200"])
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--no-prefect", dest="prefect", action="store_false")
    parser.add_argument("--keep", help="keep the archives in this folder (with --port: reuse them)")
    parser.add_argument("--port", type=int, default=0, help="the world's port (0: any free one)")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ingest-repoll-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in args.feeds:
            with World(n, args.items, args.hosts, port=args.port) as world:
                skip = frozenset({world.pid})
                db = work / f"repoll-{n}.db"
                config = work / f"repoll-{n}.yaml"
                if not (args.keep and args.port and db.exists()):  # else: the archive of an earlier run, same URLs
                    db.unlink(missing_ok=True)
                    write_config(config, world.feed_urls(), f"sqlite:///{db}", args.delay)
                    world.set_mode("304")
                    t0 = time.perf_counter()
                    setup = inprocess_poll(config, db, skip=skip)
                    print(f"N={n}: first poll (not timed) {time.perf_counter() - t0:.1f} s, "
                          f"totals {setup['totals']}", flush=True)
                for mode in args.modes:
                    world.set_mode(mode)
                    loops = [minimal_loop(world.feed_urls()) for _ in range(args.repeat)]
                    polls = []
                    for _ in range(args.repeat):
                        served = world.requests
                        r = inprocess_poll(config, db, skip=skip)
                        r["requests"] = world.requests - served
                        polls.append(r)
                    flows = []
                    if args.prefect:
                        for _ in range(max(1, args.repeat - 1)):
                            served = world.requests
                            r = prefect_poll(config, db, work / "prefect-home", skip=skip)
                            r["requests"] = world.requests - served
                            flows.append(r)
                    row = report(n, mode, loops, polls, flows)
                    results.append(row)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "repoll.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def report(n: int, mode: str, loops: list[dict[str, Any]], polls: list[dict[str, Any]],
           flows: list[dict[str, Any]]) -> dict[str, Any]:
    loop = statistics.median(r["wall_s"] for r in loops)
    poll = statistics.median(r["flow_s"] for r in polls)
    row: dict[str, Any] = {"feeds": n, "mode": mode, "minimal_loop_s": [round(r["wall_s"], 3) for r in loops],
                           "minimal_loop_outcomes": loops[-1]["outcomes"],
                           "inprocess_flow_s": [round(r["flow_s"], 3) for r in polls],
                           "inprocess_call_wall_s": [round(r["wall_s"], 2) for r in polls],
                           "inprocess_cpu_s": [round(r["cpu_s"], 2) for r in polls],
                           "inprocess_peak_tree_rss_mb": [round(r["peak_tree_rss_mb"]) for r in polls],
                           "inprocess_requests": [r["requests"] for r in polls],
                           "inprocess_totals": polls[-1]["totals"]}
    print(f"N={n} mode {mode}: minimal loop {loop:.2f} s ({1000 * loop / n:.2f} ms/feed); "
          f"in-process poll {poll:.2f} s ({1000 * poll / n:.2f} ms/feed, {poll / loop:.1f} × the loop; "
          f"process CPU {statistics.median(r['cpu_s'] for r in polls):.1f} s, "
          f"peak tree RSS {max(r['peak_tree_rss_mb'] for r in polls):.0f} MB, "
          f"{polls[-1]['requests']} requests); totals {polls[-1]['totals']}", flush=True)
    if flows:
        flow = statistics.median(r["flow_s"] for r in flows)
        row |= {"prefect_flow_s": [round(r["flow_s"], 3) for r in flows],
                "prefect_command_wall_s": [round(r["wall_s"], 2) for r in flows],
                "prefect_cpu_s": [round(r["cpu_s"], 2) for r in flows],
                "prefect_peak_tree_rss_mb": [round(r["peak_tree_rss_mb"]) for r in flows],
                "prefect_requests": [r["requests"] for r in flows]}
        print(f"N={n} mode {mode}: Prefect flow {flow:.2f} s ({1000 * flow / n:.2f} ms/feed, {flow / loop:.1f} × "
              f"the loop; whole command {statistics.median(r['wall_s'] for r in flows):.1f} s, "
              f"peak tree RSS {max(r['peak_tree_rss_mb'] for r in flows):.0f} MB)", flush=True)
    return row


if __name__ == "__main__":
    main()
