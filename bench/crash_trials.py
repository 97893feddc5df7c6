"""Benchmark: kill -9 a poll at random moments, run it again, and check the archive; then race two polls.

    .venv/bin/python bench/crash_trials.py [--trials 20] [--pairs 5] [--scale 60] [--postgres URL]

Serves the crash site of tests/crashpoll.py (two feeds: ``scale`` articles, overlaps, exact duplicates,
a 404 and a PDF) on 127.0.0.1. For each back-end (SQLite, and PostgreSQL when ``--postgres`` or
INGEST_TEST_POSTGRES_URL is given):

* crash trials: a fresh archive; a poll killed with SIGKILL (its whole process group) after a random
  delay drawn from the length of an uninterrupted poll; the phase it was in (feed / fetch / extract /
  store, from the poll's trace) is recorded; then a poll to completion; then the integrity checks of
  tests/crashpoll.py and a comparison with the outcome of an uninterrupted poll. A trial whose poll
  finished before the kill is not counted; trials continue until ``--trials`` kills happened.
* concurrency: ``--pairs`` times, two polls of the same sources started at once on a fresh archive:
  exit codes, "database is locked" in their output, integrity, outcome.

Prints one table per part and writes bench/results/crash_trials.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from crashpoll import CLEAN, check_archive, crash_site_routes, expected_outcome, run_poll, write_config  # noqa: E402
from faultsite import FaultSite  # noqa: E402
from pgschema import postgres_schema  # noqa: E402

from ingest.store.db import open_archive  # noqa: E402


@contextmanager
def fresh_database(backend: str, workdir: Path, pg_base: str | None) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    assert pg_base is not None
    with postgres_schema(pg_base) as url:
        yield url


def _normalised(rows: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """As in test_concurrency: the copy pair may resolve either way round."""
    pair = ("guid:a4", "guid:a5", "guid:bc4", "guid:bc5")
    return sorted((s, k, "archived|duplicate" if k in pair else st, e, c.replace("/copy?", "/article?"))
                  for s, k, st, e, c in rows)


def _verdict(url: str, expected: list[tuple[str, ...]], *, race: bool = False) -> tuple[str, dict[str, Any]]:
    engine = open_archive(url)
    state = check_archive(engine)
    engine.dispose()
    bad = {k: v for k, v in state["violations"].items() if v != CLEAN[k]}
    same = (_normalised(state["outcome"]) == _normalised(expected)) if race else state["outcome"] == expected
    if bad:
        return "VIOLATION " + ", ".join(f"{k}={v}" for k, v in bad.items()), state
    return ("ok" if same else "DIFFERENT OUTCOME"), state


def _phase(trace: Path) -> str:
    lines = trace.read_text().split() if trace.exists() else []
    return lines[-1] if lines else "startup"


def crash_trials(backend: str, site: FaultSite, scale: int, trials: int, workdir: Path, pg: str | None,
                 rng: random.Random) -> list[dict[str, Any]]:
    expected = expected_outcome(site, scale)
    with fresh_database(backend, workdir, pg) as url:
        config = write_config(workdir / "timing.json", site, url)
        t0 = time.monotonic()
        assert run_poll(config, timeout=600).returncode == 0
        full = time.monotonic() - t0
    rows: list[dict[str, Any]] = []
    n = 0
    while sum(r["killed"] for r in rows) < trials and n < trials * 3:
        n += 1
        delay = rng.uniform(min(1.5, full / 2), full)  # mostly after start-up (imports, extractor pool)
        with fresh_database(backend, workdir, pg) as url:
            config = write_config(workdir / f"trial{n}.json", site, url)
            trace = workdir / f"trial{n}.trace"
            killed = run_poll(config, "--trace", str(trace), kill_after=delay)
            phase = _phase(trace)
            was_killed = killed.returncode == -9
            t0 = time.monotonic()
            again = run_poll(config, timeout=600)
            recovery = time.monotonic() - t0
            verdict, state = _verdict(url, expected)
            if again.returncode != 0:
                verdict = f"RERUN EXIT {again.returncode}"
            rows.append({"backend": backend, "trial": n, "kill_after_s": round(delay, 2), "killed": was_killed,
                         "phase": phase if was_killed else "finished first", "rerun_s": round(recovery, 2),
                         "articles": state["articles"], "outcome": verdict})
            print(f"  {backend:10} #{n:<3} kill at {delay:5.2f}s  {rows[-1]['phase']:15} -> {verdict}",
                  flush=True)
    return rows


def _poll_into(results: dict[str, Any], tag: str, config: Path) -> None:
    results[tag] = run_poll(config, tag=tag, timeout=600)


def race_pairs(backend: str, site: FaultSite, scale: int, pairs: int, workdir: Path,
               pg: str | None) -> list[dict[str, Any]]:
    expected = expected_outcome(site, scale)
    rows = []
    for n in range(1, pairs + 1):
        with fresh_database(backend, workdir, pg) as url:
            open_archive(url).dispose()
            config = write_config(workdir / f"race{n}.json", site, url)
            results: dict[str, Any] = {}
            t0 = time.monotonic()
            threads = [threading.Thread(target=_poll_into, args=(results, t, config)) for t in ("one", "two")]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - t0
            verdict, state = _verdict(url, expected, race=True)
            locked = any("locked" in r.stderr.lower() for r in results.values())
            rows.append({"backend": backend, "pair": n, "exit_codes": [results[t].returncode for t in ("one", "two")],
                         "database_locked": locked, "wall_s": round(wall, 2), "articles": state["articles"],
                         "outcome": verdict})
            print(f"  {backend:10} pair {n}: exits {rows[-1]['exit_codes']}, locked={locked}, {wall:.1f}s -> {verdict}",
                  flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--scale", type=int, default=60)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("INGEST_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    trials: list[dict[str, Any]] = []
    races: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="crash-trials-") as tmp, FaultSite() as site:
        site.routes |= crash_site_routes(site, args.scale)
        for backend in backends:
            print(f"crash trials, {backend}:", flush=True)
            trials += crash_trials(backend, site, args.scale, args.trials, Path(tmp), args.postgres, rng)
            print(f"two polls at once, {backend}:", flush=True)
            races += race_pairs(backend, site, args.scale, args.pairs, Path(tmp), args.postgres)

    print("\ncrash trials (kill -9 at a random moment, then run again)")
    print(f"{'backend':10} {'killed':>6} {'phase at kill':40} {'ok':>4} {'bad':>4}")
    for backend in backends:
        mine = [r for r in trials if r["backend"] == backend and r["killed"]]
        phases = Counter(r["phase"] for r in mine)
        shown = ", ".join(f"{p} {c}" for p, c in sorted(phases.items()))
        ok = sum(r["outcome"] == "ok" for r in mine)
        print(f"{backend:10} {len(mine):>6} {shown:40} {ok:>4} {len(mine) - ok:>4}")
    print("\ntwo polls of the same sources at once")
    print(f"{'backend':10} {'pairs':>5} {'both exit 0':>11} {'locked':>6} {'ok':>4} {'mean wall s':>11}")
    for backend in backends:
        mine = [r for r in races if r["backend"] == backend]
        both = sum(r["exit_codes"] == [0, 0] for r in mine)
        locked = sum(r["database_locked"] for r in mine)
        ok = sum(r["outcome"] == "ok" for r in mine)
        wall = sum(r["wall_s"] for r in mine) / max(len(mine), 1)
        print(f"{backend:10} {len(mine):>5} {both:>11} {locked:>6} {ok:>4} {wall:>11.1f}")
    out = REPO / "bench" / "results" / "crash_trials.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"scale": args.scale, "seed": args.seed, "trials": trials, "races": races}, indent=1))
    print(f"\nwritten to {out.relative_to(REPO)}")
    failed = [r for r in trials if r["killed"] and r["outcome"] != "ok"] + [r for r in races if r["outcome"] != "ok"
                                                                         or r["exit_codes"] != [0, 0]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
