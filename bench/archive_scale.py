"""Benchmark: the archive at a million articles, on SQLite and PostgreSQL.

    INGEST_CORPUS_DIR=/work/shared/corpus .venv/bin/python bench/archive_scale.py \\
        [--articles 1000000] [--backend sqlite postgresql] [--dir /tmp/archive-scale] \\
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--runs 5]

Builds (once; kept in --dir, and in the PostgreSQL database ``ingest_scale_<N>``) a synthetic archive of
N articles with real multilingual text by the bulk path in ``bench/scalebuild.py``, then measures:

- **search**: a mix of 20 queries (common and rare words in several languages, inflected forms, CJK,
  phrases, OR, exclusions, filters by language, source, tag and date, ``--collapse``), each by relevance
  and newest first, in-process (``store.search.search`` with snippets, then the export records of the
  hits, which is what ``ingest search`` does): median of ``--runs`` per query, then p50/p95 over the mix;
  and the whole ``ingest search`` process for three of them;
- **export**: ``ingest export`` (JSON lines, CSV, Parquet) of the first 100,000 articles (a date window),
  articles per second and peak RSS;
- ``ingest sources`` and ``ingest stats``, whole process, median of ``--runs``;
- **disk** per 100,000 articles, and per table.

Writes bench/results/archive_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import scalebuild  # noqa: E402

BIN = Path(sys.executable).parent
SEED = 11

# (label, query, filters, collapse): words the corpus text holds, at several frequencies
MIX: list[tuple[str, str | None, dict[str, Any], bool]] = [
    ("common en", "the", {}, False),
    ("common de", "und", {}, False),
    ("en word", "government", {}, False),
    ("en inflected", "elections", {}, False),
    ("de inflected", "Regierungen", {}, False),
    ("ru inflected", "Путина", {}, False),
    ("two words", "police city", {}, False),
    ("phrase", '"prime minister"', {}, False),
    ("OR", "ukraine OR russia", {}, False),
    ("exclusion", "election -trump", {}, False),
    ("ja bigram", "日本", {}, False),
    ("ko word", "대통령", {}, False),
    ("rare word", "Wertediktatur", {}, False),
    ("rare pair", "islamfeindliche Medienberichterstattung", {}, False),
    ("language filter", "police", {"language": "en"}, False),
    ("source filter", "market", {"sources": ("src0042",)}, False),
    ("tag filter", "energy", {"tags": ("energy",)}, False),
    ("date filter", "war", {"since": "2026-06-01"}, False),
    ("collapse", "minister", {}, True),
    ("no query", None, {}, False),
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sqlite_url(args: argparse.Namespace) -> str:
    return f"sqlite:///{Path(args.dir) / f'scale-{args.articles}.db'}"


def pg_url(args: argparse.Namespace) -> str:
    base = args.postgres.rsplit("/", 1)[0]
    return f"{base}/ingest_scale_{args.articles}"


def ensure_built(backend: str, args: argparse.Namespace) -> str:
    marker = Path(args.dir) / f"built-{backend}-{args.articles}.json"
    url = sqlite_url(args) if backend == "sqlite" else pg_url(args)
    if marker.exists() and not args.rebuild:
        return url
    pool = scalebuild.load_pool()
    t0 = time.perf_counter()
    if backend == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        scalebuild.build_sqlite(path, args.articles, SEED, pool, log)
    else:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        scalebuild.build_postgresql(url, args.articles, SEED, pool, log)
    built = time.perf_counter() - t0
    log(f"{backend}: built {args.articles:,} articles in {built:.0f} s; now the search engine's index")
    from ingest.store.db import open_engine
    from ingest.store.searchengine import build

    t1 = time.perf_counter()
    engine = open_engine(url)
    build(engine)  # what `ingest db index` does
    engine.dispose()
    indexed = time.perf_counter() - t1
    log(f"{backend}: search index built in {indexed:.0f} s")
    marker.write_text(json.dumps({"articles": args.articles, "build_s": round(built), "index_s": round(indexed)}))
    return url


def filters_of(spec: dict[str, Any]) -> Any:
    from ingest.api import _when  # the API's own date parsing
    from ingest.store.search import Filters

    return Filters(sources=tuple(spec.get("sources", ())), tags=tuple(spec.get("tags", ())),
                   since=_when(spec.get("since"), "since"), language=spec.get("language"))


def time_search(url: str, runs: int) -> dict[str, Any]:
    from ingest.store.db import open_engine
    from ingest.store.query import article_records
    from ingest.store.search import search
    from ingest.store.stories import search_collapsed

    engine = open_engine(url)
    out: dict[str, Any] = {"queries": {}}
    for order in ("relevance", "newest"):
        medians = []
        for label, query, spec, collapse in MIX:
            if order == "newest" and query is None:
                continue
            run = search_collapsed if collapse else search
            times, n = [], 0
            for _ in range(runs):
                t0 = time.perf_counter()
                hits = run(engine, query, filters_of(spec), limit=20, order=order)
                with engine.connect() as s:
                    article_records(s, [h.article_id for h in hits])
                times.append(time.perf_counter() - t0)
                n = len(hits)
            med = statistics.median(times)
            medians.append(med)
            out["queries"][f"{order}: {label}"] = {"median_ms": round(med * 1000, 1), "hits": n}
            log(f"  {order:9} {label:16} {med * 1000:8.1f} ms  {n} hits")
        medians.sort()
        out[order] = {"p50_ms": round(statistics.median(medians) * 1000, 1),
                      "p95_ms": round(medians[min(len(medians) - 1, round(0.95 * (len(medians) - 1)))] * 1000, 1),
                      "max_ms": round(medians[-1] * 1000, 1)}
    engine.dispose()
    return out


def whole(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3)


def time_commands(url: str, runs: int) -> dict[str, Any]:
    # the commands as an installed copy runs them, with bytecode (``make install`` compiles it; without
    # it, where PYTHONDONTWRITEBYTECODE is set, every run compiles the project's modules again: ~50 ms)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], check=True)
    ingest = str(BIN / "ingest")
    out = {name: whole([ingest, *cmd, "--db", url], runs) for name, cmd in (
        ("sources", ["sources"]), ("stats", ["stats"]),
        ("search the", ["search", "the"]), ("search government", ["search", "government"]),
        ("search Путина --language ru", ["search", "Путина", "--language", "ru"]))}
    for k, v in out.items():
        log(f"  {k:28} {v:.3f} s")
    return out


def time_export(url: str, n: int, work: Path) -> dict[str, Any]:
    # the first 100,000 articles: a window of publication dates (articles are spread evenly over 3 years)
    share = min(1.0, 100_000 / n)
    until = (scalebuild.T0 + timedelta(seconds=scalebuild.SPAN_S * share)).strftime("%Y-%m-%dT%H:%M:%S")
    out: dict[str, Any] = {}
    for fmt in ("jsonl", "csv", "parquet"):
        target = work / f"export.{fmt}"
        # VmHWM, not ru_maxrss: a child's ru_maxrss keeps the parent's size at the fork
        code = ("import re, sys, time; from ingest.cli import main; t0 = time.perf_counter()\n"
                "try:\n    main(sys.argv[1:], standalone_mode=False)\n"
                "finally:\n    hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
                "    print(time.perf_counter() - t0, hwm, file=sys.stderr)")
        proc = subprocess.run([sys.executable, "-c", code, "export", "--format", fmt, "--until", until,
                               "--out", str(target), "--db", url], check=True, capture_output=True, text=True)
        seconds, rss = proc.stderr.strip().splitlines()[-1].split()
        count = int(next(line for line in proc.stderr.splitlines() if line.startswith("exported")).split()[1])
        out[fmt] = {"articles": count, "seconds": round(float(seconds), 2),
                    "per_second": round(count / float(seconds)), "peak_rss_mb": round(int(rss) / 1024),
                    "file_mb": round(target.stat().st_size / 2**20)}
        log(f"  export {fmt:8} {count:,} in {float(seconds):.1f} s = {count / float(seconds):,.0f}/s, "
            f"RSS {int(rss) / 1024:.0f} MB")
        target.unlink()
    return out


def disk(url: str, n: int) -> dict[str, Any]:
    if url.startswith("sqlite"):
        import sqlite3

        path = url.removeprefix("sqlite:///")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        total = os.path.getsize(path)
        try:
            tables = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        except sqlite3.OperationalError:
            tables = {}
        conn.close()
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            total = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            tables = dict(conn.execute(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON "
                "n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'").fetchall())
    top = dict(sorted(((k, round(v * 100_000 / n / 2**20, 1)) for k, v in tables.items()), key=lambda kv: -kv[1])[:12])
    per = total * 100_000 / n / 2**30
    log(f"  disk: {total / 2**30:.2f} GB, {per:.2f} GB per 100k; MB per 100k by table: {top}")
    return {"bytes": total, "gb_per_100k": round(per, 3), "mb_per_100k_by_table": top}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--dir", default="/tmp/archive-scale")
    parser.add_argument("--postgres", default=os.environ.get("INGEST_TEST_POSTGRES_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--only", nargs="+", default=["search", "commands", "export", "disk"])
    args = parser.parse_args()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"articles": args.articles, "load_average": os.getloadavg()}
    for backend in args.backend:
        url = ensure_built(backend, args)
        log(f"{backend} ({url})")
        r: dict[str, Any] = {"build": json.loads((Path(args.dir) / f"built-{backend}-{args.articles}.json").read_text())}
        if "disk" in args.only:
            r["disk"] = disk(url, args.articles)
        if "search" in args.only:
            r["search"] = time_search(url, args.runs)
        if "commands" in args.only:
            r["commands"] = time_commands(url, args.runs)
        if "export" in args.only:
            r["export"] = time_export(url, args.articles, Path(args.dir))
        results[backend] = r
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out = REPO / "bench" / "results" / "archive_scale.json"
    out.parent.mkdir(exist_ok=True)
    # one file for every run, keyed by back-end and size, so a SQLite 1M run and a PostgreSQL 100k run
    # made separately both stay in it
    kept: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    for backend in args.backend:
        kept[f"{backend}-{args.articles}"] = results[backend] | {
            "load_average": results["load_average"], "peak_rss_mb": results["peak_rss_mb"]}
    out.write_text(json.dumps(kept, indent=2, ensure_ascii=False))
    print(json.dumps({b: {k: v for k, v in results[b].items() if k != "search"} | (
        {"search": {o: results[b]["search"][o] for o in ("relevance", "newest")}} if "search" in results[b] else {})
        for b in args.backend}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
