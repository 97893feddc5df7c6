"""Benchmark: whole-process start-up of the read commands, next to sqlite-utils on the same archive.

    .venv/bin/python bench/startup.py [--db data/demo.db] [--runs 7]

Each command runs ``--runs`` times in a fresh process; the figure is the median wall time, and its
ratio to ``sqlite-utils search`` measured in the same run (these machines are noisy: compare ratios).
The archive defaults to the demo's (``make run`` writes it). Writes bench/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=REPO)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(REPO / "data/demo.db"))
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    db = Path(args.db)
    if not db.is_file():
        subprocess.run([str(BIN / "ingest"), "demo", "--db", f"sqlite:///{db}"], check=True, cwd=REPO)
    url = f"sqlite:///{db}"
    # an archive left by an older ingest: bring it to this schema first (a read command refuses it)
    subprocess.run([str(BIN / "ingest"), "db", "upgrade", "--db", url], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    ingest = str(BIN / "ingest")
    commands = {
        "ingest --help": [ingest, "--help"],
        "ingest search": [ingest, "search", "North Korean soldiers", "--db", url],
        "ingest show": [ingest, "show", "1", "--db", url],
        "ingest stats": [ingest, "stats", "--db", url],
        "ingest sources": [ingest, "sources", "--db", url],
        "ingest runs": [ingest, "runs", "--db", url],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    sqlite_utils = shutil.which("sqlite-utils", path=str(BIN)) or shutil.which("sqlite-utils")
    if sqlite_utils:
        # sqlite-utils imports pandas and numpy when they are installed (~0.6 s); the test extras install
        # them, a plain `pip install sqlite-utils` does not: block them for the baseline.
        plain = ("import sys; sys.modules.update(pandas=None, numpy=None); sys.argv[0] = 'sqlite-utils'; "
                 "from sqlite_utils.cli import cli; cli()")
        commands["sqlite-utils search"] = [sys.executable, "-c", plain, "search", str(db), "articles",
                                           "North Korean soldiers"]
    results = {name: wall(cmd, args.runs) for name, cmd in commands.items()}
    base = results.get("sqlite-utils search")
    print(f"{'command':22} {'median s':>9} {'÷ sqlite-utils':>15}")
    for name, t in results.items():
        print(f"{name:22} {t:9.3f} {t / base if base else float('nan'):15.2f}")
    out = REPO / "bench/results/startup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": args.runs, "median_s": results}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
