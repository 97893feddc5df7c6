"""Benchmark: months of scheduled operation against the simulated news world, on SQLite and PostgreSQL,
with two schedulers at once and kill -9 at random ticks; the invariants checked after every tick.

    .venv/bin/python bench/soak.py [--days 90] [--backend sqlite|postgresql|both] [--schedulers 2]
                                   [--kill-rate 0.02] [--seed 7] [--postgres URL]

The world, the checks and the driver are the soak test's (tests/soakworld.py, soakcheck.py,
soakrun.py): six sources on six host names served from 127.0.0.1, feeds that change, edits, deletions,
syndicated copies, a feed that moves, lying ETags, a garbage day, 5xx and 429 storms, a host down for
six hours, and a schedule across a DST change (the faults are spread over the run's length). With
``--schedulers 2`` two scheduler processes run every tick at once against one archive; with
``--kill-rate`` one of them is killed with SIGKILL (its whole process group) at a random moment of that
share of ticks, and a new one takes its place for the next tick.

Prints one row per back-end and writes bench/results/soak.json. Violations must be 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests"), str(REPO / "bench")]

from pgschema import postgres_schema  # noqa: E402
from soakrun import Soak  # noqa: E402

COLUMNS = ("backend", "days", "schedulers", "ticks", "polls", "stories_published", "edits_published",
           "deletions_published", "faults_injected", "kills", "requests", "articles", "versions", "gone_events",
           "min_start_gap_ms", "violations", "wall_s", "ms_per_tick")


def row(report: dict[str, Any]) -> dict[str, Any]:
    return {**{k: report.get(k) for k in COLUMNS}, **{k: report["archive"].get(k) for k in
                                                       ("articles", "versions", "gone_events")},
            "violations": len(report["violations"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--schedulers", type=int, default=2)
    parser.add_argument("--kill-rate", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("INGEST_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not args.postgres:
        parser.error("PostgreSQL needs --postgres URL or INGEST_TEST_POSTGRES_URL")
    reports = []
    for backend in backends:
        def run(url: str, backend: str = backend) -> dict[str, Any]:
            soak = Soak(args.days, url, seed=args.seed, schedulers=args.schedulers, kill_rate=args.kill_rate,
                        progress=lambda line: print(f"{backend}: {line}", file=sys.stderr, flush=True))
            return soak.run().as_dict()

        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                reports.append(run(f"sqlite:///{tmp}/soak.db"))
        else:
            with postgres_schema(args.postgres, "ingest_soak") as url:
                reports.append(run(url))
        for v in reports[-1]["violations"][:20]:
            print(f"{backend}: VIOLATION {v}", file=sys.stderr)
    rows = [row(r) for r in reports]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS}
    print("  ".join(c.ljust(widths[c]) for c in COLUMNS))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in COLUMNS))
    out = REPO / "bench" / "results" / "soak.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args) | {"postgres": bool(args.postgres)}, "reports": reports},
                              indent=1, default=str) + "\n", encoding="utf-8")
    return 1 if any(r["violations"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
