"""Benchmark: the Parquet writer's memory stays flat with the number of rows.

    .venv/bin/python bench/parquet_export.py [--rows 100000 1000000] [--text-chars 2000]
    .venv/bin/python bench/parquet_export.py --db sqlite:///data/archive.db   # a real archive, once

Each size runs in a fresh process that streams synthetic export records (every field of
``store.query.EXPORT_FIELDS``, shaped as the archive gives them: ISO times, lists, tags as
``{tag, origin, label, score}``, events) through ``ingest.exports.parquet.write_parquet`` and reports
its peak RSS, the time and the file size. Flat memory: the peak at a million rows is the peak at a
hundred thousand, give or take the allocator. With ``--db`` it exports that archive as
``ingest export --format parquet`` does (peak RSS then includes the id list: 8 bytes an article, plus
Python's int objects). Writes bench/results/parquet_export.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORDS = ("kyiv", "minister", "said", "on", "tuesday", "that", "the", "talks", "would", "continue", "army", "report",
         "energy", "prices", "rose", "across", "europe", "as", "winter", "began", "council", "vote", "law", "court")


def _texts(text_chars: int, seed: int, n: int = 997) -> list[list[str]]:
    """A pool of word lists, so that making the records costs little next to writing them."""
    rng = random.Random(seed)
    pool = []
    for _ in range(n):
        words: list[str] = []
        size = 0
        while size < text_chars:
            w = rng.choice(WORDS)
            words.append(w)
            size += len(w) + 1
        pool.append(words)
    return pool


def records(n: int, text_chars: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    pool = _texts(text_chars, seed)
    for i in range(1, n + 1):
        words = [str(i), *pool[i % len(pool)]]  # every text differs (its first word)
        day = 1 + i % 28
        yield {
            "id": i, "url": f"https://news.example/{i}?utm_source=rss", "canonical_url": f"https://news.example/{i}",
            "source": f"source-{i % 40}", "feed_urls": [f"https://news.example/feed-{i % 3}.xml"],
            "title": " ".join(words[:9]).capitalize(), "authors": ["Olena Kovalenko"] if i % 3 else [],
            "published_at": f"2025-01-{day:02d}T{i % 24:02d}:15:00Z", "language": "en", "text": " ".join(words),
            "tags": [{"tag": "ukraine", "origin": "rule", "label": "Ukraine", "score": None},
                     {"tag": f"topic-{i % 50}", "origin": "feed", "label": f"Topic {i % 50}", "score": None}],
            "content_sha256": f"{i:064x}", "fetched_at": f"2025-01-{day:02d}T{i % 24:02d}:20:00Z",
            "extractor": "trafilatura", "extractor_version": "2.3.1", "version": 1 + (i % 7 == 0),
            "gone_since": None, "gone_status": None,
            "events": [{"kind": "recheck", "at": f"2025-02-{day:02d}T00:00:00Z", "http_status": 200,
                        "url": f"https://news.example/{i}", "fetch_id": i}] if i % 5 == 0 else [],
        }


def one(rows: int, text_chars: int) -> dict[str, Any]:
    from ingest.exports.parquet import write_parquet
    from ingest.store.query import EXPORT_FIELDS

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.parquet"
        t0 = time.perf_counter()
        result = write_parquet(records(rows, text_chars), out, EXPORT_FIELDS)
        seconds = time.perf_counter() - t0
        size = out.stat().st_size
    return {"rows": result.rows, "row_groups": result.row_groups, "seconds": round(seconds, 1),
            "rows_per_s": round(result.rows / seconds), "file_mb": round(size / 2**20, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def archive(db: str) -> dict[str, Any]:
    from ingest.exports.parquet import export_parquet
    from ingest.store.db import open_archive
    from ingest.store.query import export_ids
    from ingest.store.search import Filters

    engine = open_archive(db, create_if_empty=False)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = export_parquet(engine, export_ids(engine, None, Filters()), Path(tmp) / "archive.parquet")
        seconds = time.perf_counter() - t0
        size = (Path(tmp) / "archive.parquet").stat().st_size
    return {"db": db, "rows": result.rows, "row_groups": result.row_groups, "seconds": round(seconds, 1),
            "file_mb": round(size / 2**20, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--text-chars", type=int, default=2000)
    ap.add_argument("--db", help="Export this archive instead (one run).")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(archive(args.db) if args.db else one(args.rows[0], args.text_chars)))
        return
    runs = []
    sizes = [None] if args.db else args.rows
    for rows in sizes:
        cmd = [sys.executable, __file__, "--child", "--text-chars", str(args.text_chars)]
        cmd += ["--db", args.db] if args.db else ["--rows", str(rows)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]))
    out = REPO / "bench" / "results" / "parquet_export.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"text_chars": args.text_chars, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
