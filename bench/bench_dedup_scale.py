"""Dedup lookup cost per article at 10k and 100k archived articles, on SQLite and PostgreSQL, and
retag speed.

    .venv/bin/python bench/bench_dedup_scale.py [--sizes 10000 100000] [--postgres URL | --no-postgres]

PostgreSQL runs in a schema of its own, dropped afterwards, when ``--postgres`` or
``INGEST_TEST_POSTGRES_URL`` names a server (e.g. postgresql://postgres@127.0.0.1:5432/test).

The archive is filled directly with synthetic articles (bulk inserts of article rows, random MinHash
signatures, i.e. unrelated bodies, and their LSH band rows). Then 200 new articles with real-sized
synthetic bodies are placed with ``clusters.place_article`` (signature, candidate lookup by band,
similarity, index, cluster) and timed. The figure must stay flat as the archive grows. Retag: the
shipped taxonomy over the whole archive (``tagstore.retag``), articles per second.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
from pgschema import postgres_schema
from sqlalchemy import insert

from ingest.analyse.neardup import DedupParams, band_keys, to_bytes
from ingest.analyse.tagging import load_taxonomy
from ingest.config import SourceConfig
from ingest.store import archive, clusters
from ingest.store.db import open_archive, write_session
from ingest.store.models import Article, ArticleState, LshBand
from ingest.store.tagstore import retag

WORDS = ['government', 'minister', 'said', 'talks', 'would', 'continue', 'after', 'the', 'meeting', 'in', 'the', 'capital', 'where', 'officials', 'discussed', 'energy', 'prices', 'trade', 'security', 'aid', 'elections', 'reform', 'court', 'police', 'weather', 'market', 'school', 'hospital', 'city', 'council', 'budget', 'report', 'week', 'year', 'people', 'country', 'region', 'border', 'army']


def body(rng: random.Random, n: int = 600) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def fill(engine, sid: int, start: int, count: int, params: DedupParams, rng: np.random.RandomState) -> None:
    now = datetime.now(UTC)
    text_rng = random.Random(start)
    for off in range(start, start + count, 5000):
        n = min(5000, start + count - off)
        arts, states, bands = [], [], []
        for i in range(off, off + n):
            sig = rng.randint(0, 2**32 - 1, size=params.num_perm, dtype=np.uint64).astype(np.uint32)
            arts.append({"id": i, "canonical_url": f"https://s.example/{i}", "url": f"https://s.example/{i}",
                         "source_id": sid, "title": f"Story {i}", "text": body(text_rng, 80), "authors": [],
                         "content_sha256": f"{i:064x}", "text_chars": 500, "first_seen_at": now,
                         "fetched_at": now, "updated_at": now})
            states.append({"article_id": i, "version": 1, "checks": 0, "signature": to_bytes(sig)})
            bands += [{"band": b, "bucket": k, "article_id": i} for b, k in band_keys(sig, params)]
        with write_session(engine) as s:
            conn = s.connection()
            conn.execute(insert(Article), arts)
            conn.execute(insert(ArticleState), states)
            conn.execute(insert(LshBand), bands)


def measure(engine, sid: int, first_id: int, params: DedupParams, n: int = 200) -> float:
    rng = random.Random(first_id)
    times = []
    now = datetime.now(UTC)
    for j in range(n):
        i = first_id + j
        text = body(rng)
        with write_session(engine) as s:
            conn = s.connection()
            conn.execute(insert(Article).values(id=i, canonical_url=f"https://new.example/{i}", url="u", source_id=sid,
                                                title=f"New {i}", text=text, authors=[], content_sha256=f"n{i:063x}",
                                                text_chars=len(text), first_seen_at=now, fetched_at=now,
                                                updated_at=now))
            conn.execute(insert(ArticleState).values(article_id=i, version=1, checks=0))
            t = time.perf_counter()
            clusters.place_article(s, i, text=text, title=f"New {i}", source_id=sid, params=params,
                                   title_window=timedelta(days=7), now=now)
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


@contextlib.contextmanager
def sqlite_archive() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/scale.db"


def run(label: str, url: str, sizes: list[int], tax) -> None:
    params = DedupParams()
    rng = np.random.RandomState(3)
    print(f"== {label}")
    engine = open_archive(url)
    sid = archive.ensure_sources(engine, [SourceConfig(name="s", feed="https://s.example/feed")])["s"]
    have = 0
    for size in sorted(sizes):
        t = time.perf_counter()
        fill(engine, sid, have + 1, size - have, params, rng)
        have = size
        fill_s = time.perf_counter() - t
        ms = measure(engine, sid, 10_000_000 + size, params)
        print(f"{size:>7} archived articles: dedup placement (sign + LSH lookup + similarity + index + cluster) "
              f"median {ms:.2f} ms/article  (filled in {fill_s:.0f} s)")
    r = retag(engine, tax)
    print(f"retag: {r['articles']} articles in {r['seconds']} s = {r['articles'] / r['seconds']:.0f} articles/s "
          f"({r['rule_tags']} rule tags)")
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--postgres", default=os.environ.get("INGEST_TEST_POSTGRES_URL"),
                    help="a PostgreSQL URL to run on too (default: $INGEST_TEST_POSTGRES_URL)")
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    tax = load_taxonomy("config/tags.yaml")
    with sqlite_archive() as url:
        run("SQLite", url, args.sizes, tax)
    if args.postgres and not args.no_postgres:
        with postgres_schema(args.postgres) as url:
            run("PostgreSQL", url, args.sizes, tax)


if __name__ == "__main__":
    main()
