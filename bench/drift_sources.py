"""Benchmark: `ingest sources` with extraction drift, on an archive of 1,000 sources × 1,000 extractions.

    .venv/bin/python bench/drift_sources.py [--dir /tmp/drift-bench] [--sources 1000] [--pages 1000] [--runs 5]

Builds (once, kept in --dir) a SQLite archive in bulk: per source ``--pages`` page fetches, each with
its extraction (title, 200-3,000 chars of text, date/authors/language in meta), its article and its
archived entry; no signatures (the near-duplicate measure then rests on text hashes). Then:

- before: what ``ingest sources`` did per call until migration 0010 (each source's latest ``history``
  observations read and walked: ``driftreads.source_observations`` + ``driftwalk.scan``), all sources;
- the backfill the migration makes once (the same walk, and the rows written);
- after: ``ingest sources`` (whole process, median of ``--runs``), which reads the stored verdicts;
- a poll's share: 10 new pages on each of 100 sources, judged by ``driftstate.update_sources``.

Writes bench/results/drift_sources.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
T0 = datetime(2026, 1, 1, tzinfo=UTC)
WORDS = ["news", "report", "city", "council", "minister", "election", "market", "storm", "police", "court", "school", "health", "football", "weather", "energy", "price", "water", "road", "train"]


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite storage format (naive UTC)


def _filler(conn: sqlite3.Connection, table: str, given: dict[str, object]) -> tuple[str, list[str]]:
    """An INSERT for ``table`` naming the given columns and a neutral value for every other NOT NULL one."""
    cols = conn.execute(f"PRAGMA table_info({table})").fetchall()
    names = list(given)
    for _, name, type_, notnull, default, pk in cols:
        if name in given or pk or not notnull or default is not None:
            continue
        type_ = type_.upper()
        given[name] = (0 if "INT" in type_ or "BOOL" in type_ or "FLOAT" in type_ else
                       "{}" if "JSON" in type_ else _stamp(T0) if "DATE" in type_ else "")
        names.append(name)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", names


def build(path: Path, n_sources: int, n_pages: int) -> None:
    from ingest.store.db import open_archive

    open_archive(f"sqlite:///{path}").dispose()  # the schema, at head
    rng = random.Random(7)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    text = " ".join(rng.choice(WORDS) for _ in range(800))
    ids = {"f": 0, "a": 0, "x": 0, "e": 0}
    for s in range(1, n_sources + 1):
        name = f"src{s:05d}"
        given = {"id": s, "name": name, "feed_url": f"https://{name}.example/feed", "created_at": _stamp(T0)}
        sql, cols = _filler(conn, "sources", dict(given))
        conn.execute(sql, _values(conn, "sources", given, cols))
        rows: dict[str, list[list[object]]] = {"fetches": [], "articles": [], "extractions": [], "entries": []}
        for p in range(n_pages):
            at = _stamp(T0 + timedelta(minutes=30 * p, seconds=s))
            url = f"https://{name}.example/{p}"
            chars = rng.randint(200, 3000)
            body = text[:chars]
            sha = hashlib.sha256(f"{name}/{p}".encode()).hexdigest()
            ids["f"] += 1
            ids["a"] += 1
            ids["x"] += 1
            ids["e"] += 1
            meta = json.dumps({"date": "2026-01-01", "authors": ["A. Writer"], "language": "en"})
            rows["fetches"].append([ids["f"], s, "page", url, at, 200])
            rows["articles"].append([ids["a"], url, url, s, f"Title {p}", "", sha, at, at, at, ids["x"]])
            rows["extractions"].append([ids["x"], ids["a"], ids["f"], "trafilatura", "2", at, url, f"Title {p}",
                                        body, sha, meta])
            rows["entries"].append([ids["e"], s, url, f"https://{name}.example/feed", at, at, "archived",
                                    ids["a"], ids["f"]])
        for table, names in (
                ("fetches", ["id", "source_id", "kind", "url", "started_at", "status"]),
                ("articles", ["id", "canonical_url", "url", "source_id", "title", "text", "content_sha256",
                              "first_seen_at", "fetched_at", "updated_at", "current_extraction_id"]),
                ("extractions", ["id", "article_id", "fetch_id", "extractor", "extractor_version", "created_at",
                                 "url", "title", "text", "content_sha256", "meta"]),
                ("entries", ["id", "source_id", "entry_key", "feed_url", "first_seen_at", "last_seen_at",
                             "status", "article_id", "page_fetch_id"])):
            sql, cols = _filler(conn, table, dict.fromkeys(names))
            extra = [_neutral(conn, table, c) for c in cols[len(names):]]
            conn.executemany(sql, [r + extra for r in rows[table]])
        if s % 100 == 0:
            conn.commit()
            print(f"built {s} sources", file=sys.stderr)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _neutral(conn: sqlite3.Connection, table: str, column: str) -> object:
    type_ = {c[1]: c[2].upper() for c in conn.execute(f"PRAGMA table_info({table})")}[column]
    return 0 if "INT" in type_ or "BOOL" in type_ or "FLOAT" in type_ else \
        "{}" if "JSON" in type_ else _stamp(T0) if "DATE" in type_ else ""


def _values(conn: sqlite3.Connection, table: str, given: dict[str, object], cols: list[str]) -> list[object]:
    return [given[c] if c in given else _neutral(conn, table, c) for c in cols]


def add_pages(path: Path, sources: range, per_source: int) -> None:
    """``per_source`` new page fetches with extractions on each of ``sources`` (what a poll adds)."""
    conn = sqlite3.connect(path)
    f0, a0, x0 = (conn.execute(f"SELECT MAX(id) FROM {t}").fetchone()[0] for t in ("fetches", "articles", "extractions"))
    n = 0
    text = " ".join(WORDS * 40)
    for s in sources:
        for p in range(per_source):
            n += 1
            at = _stamp(datetime(2027, 1, 1) + timedelta(minutes=p, seconds=s))
            url = f"https://src{s:05d}.example/new/{f0 + n}"
            sha = hashlib.sha256(url.encode()).hexdigest()
            for table, given in (
                    ("fetches", {"id": f0 + n, "source_id": s, "kind": "page", "url": url, "started_at": at, "status": 200}),
                    ("articles", {"id": a0 + n, "canonical_url": url, "url": url, "source_id": s, "title": "T",
                                  "text": "", "content_sha256": sha, "first_seen_at": at, "fetched_at": at,
                                  "updated_at": at, "current_extraction_id": x0 + n}),
                    ("extractions", {"id": x0 + n, "article_id": a0 + n, "fetch_id": f0 + n, "extractor": "t",
                                     "extractor_version": "2", "created_at": at, "url": url, "title": "T",
                                     "text": text[:1500], "content_sha256": sha,
                                     "meta": json.dumps({"date": "2027-01-01", "authors": ["B"], "language": "en"})})):
                sql, cols = _filler(conn, table, dict(given))
                conn.execute(sql, _values(conn, table, given, cols))
    conn.commit()
    conn.close()


def timed(cmd: list[str], runs: int) -> dict[str, float]:
    """Median wall time and median CPU time (user + system, of the child process) of ``runs`` runs: the
    machine is shared, so CPU says more than wall time."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=REPO)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {"wall": round(statistics.median(walls), 3), "cpu": round(statistics.median(cpus), 3)}


def reads(url: str, runs: int) -> dict[str, object]:
    """After: the whole command (reading the stored verdicts), and its parts in this process (median CPU
    of ``runs``): the sources' status rows, and the drift added to them (one query)."""
    from ingest.cli.commands import open_reader
    from ingest.store.driftreads import with_drift
    from ingest.store.query import sources_status

    out: dict[str, object] = {
        "after_ingest_sources_s": timed([str(BIN / "ingest"), "sources", "--db", url], runs),
        "after_ingest_sources_json_s": timed([str(BIN / "ingest"), "sources", "--db", url, "--json"], runs),
        "ingest_version_s": timed([str(BIN / "ingest"), "--version"], runs)}
    status, drift = [], []
    with open_reader(url, None).connect() as s:
        for _ in range(runs):
            c0 = time.process_time()
            rows = sources_status(s)
            c1 = time.process_time()
            with_drift(s, rows)
            status.append(c1 - c0)
            drift.append(time.process_time() - c1)
    out["in_process_cpu_s"] = {"sources_status": round(statistics.median(status), 3),
                               "with_drift": round(statistics.median(drift), 3)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/drift-bench")
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reads-only", action="store_true",
                        help="only the reads, on the archive already built and judged (merged into the results)")
    args = parser.parse_args()
    from ingest.analyse.drift import Thresholds
    from ingest.analyse.driftwalk import scan
    from ingest.clock import SYSTEM_CLOCK
    from ingest.store import driftreads, driftstate
    from ingest.store.db import open_archive

    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"drift-{args.sources}x{args.pages}.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        t0 = time.perf_counter()
        build(path, args.sources, args.pages)
        print(f"built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    t = Thresholds()
    result_file = REPO / "bench/results/drift_sources.json"
    if args.reads_only:
        results = json.loads(result_file.read_text(encoding="utf-8")) | reads(url, args.runs)
        result_file.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(results, indent=2))
        return 0
    engine = open_archive(url)
    results: dict[str, object] = {"sources": args.sources, "pages_per_source": args.pages,
                                  "date": SYSTEM_CLOCK.now().date().isoformat()}
    # before: the read-time walk of every source (what `ingest sources` did per call)
    with engine.connect() as s:
        ids = [r[0] for r in s.exec_driver_sql("SELECT id FROM sources ORDER BY id")]
        c0, w0 = time.process_time(), time.perf_counter()
        for sid in ids:
            scan(driftreads.source_observations(s, sid, t.history), t)
        results["before_read_time_walk_s"] = {"wall": round(time.perf_counter() - w0, 1),
                                              "cpu": round(time.process_time() - c0, 1)}
    print("before:", results["before_read_time_walk_s"], file=sys.stderr)
    # the migration's backfill (once)
    with engine.begin() as s:
        s.exec_driver_sql("DELETE FROM source_drift")
    c0, w0 = time.process_time(), time.perf_counter()
    with engine.begin() as s:
        driftstate.backfill(s, SYSTEM_CLOCK.now())
    results["backfill_once_s"] = {"wall": round(time.perf_counter() - w0, 1), "cpu": round(time.process_time() - c0, 1)}
    print("backfill:", results["backfill_once_s"], file=sys.stderr)
    results |= reads(url, args.runs)
    print("after:", results["after_ingest_sources_s"], file=sys.stderr)
    # a poll's share: 10 new pages on each of 100 sources
    polled = range(1, 101)
    add_pages(path, polled, 10)
    names = [f"src{s:05d}" for s in polled]
    c0, w0 = time.process_time(), time.perf_counter()
    driftstate.update_sources(engine, names, t, SYSTEM_CLOCK.now())
    wall_s, cpu_s = time.perf_counter() - w0, time.process_time() - c0
    results["update_per_source_ms"] = {"wall": round(wall_s * 1000 / len(names), 1),
                                       "cpu": round(cpu_s * 1000 / len(names), 1)}
    print("update:", results["update_per_source_ms"], file=sys.stderr)
    engine.dispose()
    (REPO / "bench/results").mkdir(exist_ok=True)
    result_file.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
