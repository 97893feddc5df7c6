"""The bulk path of ``bench/archive_scale.py``: a synthetic archive of N articles, written straight into
the tables the pipeline fills, on SQLite or PostgreSQL, quickly (about 10,000 articles a second).

The text is real: paragraphs and headlines of the shared corpus (Fundus' expected parses of 258 pages
from 181 publishers in 41 countries, plus the seed article), each article a random draw of paragraphs of
one language until 1,500-4,500 characters (3 kB on average), its headline a sentence of that language.
Each paragraph is analysed once by the project's own search analyser (``analyse.searchtext``); an
article's index tokens are its paragraphs' tokens in order, which is what ``index_fields`` gives for the
whole text (paragraphs are separated by newlines, where no CJK run or word continues).

Per article, as a poll writes them: the article (with its index: FTS5 token columns on SQLite, the
tsvector on PostgreSQL), its page fetch, its extraction and its first version (the two further copies
of the text the archive keeps today), its state (a 128 × 4-byte signature), its text hash, its URL
alias, 1-2 feed entries (5 % of articles are listed by a second source), 0-3 rule tags, and for 10 % of
articles a story cluster of 2-4 members. 42 LSH band rows per article are written too (random buckets,
the size of real ones). Sources: 1,000, polled and healthy, a few failing.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

T0 = datetime(2024, 1, 1)
SPAN_S = 3 * 365 * 86400  # publication times over three years
N_SOURCES = 1000
TAGS = ["politics", "economy", "war", "sport", "culture", "science", "health", "climate", "technology", "crime",
        "elections", "energy", "migration", "education", "transport"]
BANDS = 42
CHUNK = 5000


@dataclass
class Pool:
    """Paragraphs and headlines per language, with their analysed token streams."""
    languages: list[str]
    weights: list[int]
    paragraphs: dict[str, list[tuple[str, list[str], list[str]]]]  # text, exact, stems
    titles: dict[str, list[tuple[str, list[str]]]]  # text, tokens


def corpus_dir() -> Path:
    return Path(os.environ.get("INGEST_CORPUS_DIR") or REPO.parent / "shared" / "corpus")


def load_pool() -> Pool:
    from ingest.analyse.searchtext import analyse, index_fields
    from ingest.extract.language import detect

    root = corpus_dir() / "news-pages"
    if not root.is_dir():
        raise SystemExit(f"the shared corpus is not at {root}: set INGEST_CORPUS_DIR")
    paras: dict[str, list[str]] = {}
    heads: dict[str, list[str]] = {}
    for path in sorted(root.glob("*/*.json")):
        versions = json.loads(path.read_text())
        for key in sorted(versions):
            for rec in versions[key] if isinstance(versions[key], list) else [versions[key]]:
                body = rec.get("body") or {}
                ps = [p for p in (body.get("summary") or []) if p.strip()]
                for sec in body.get("sections") or []:
                    ps += [p for p in sec.get("paragraphs") or [] if p.strip()]
                text = "\n".join(ps)
                if len(text) < 200:
                    continue
                lang = detect(text)[0] or "en"
                paras.setdefault(lang, []).extend(ps)
                if rec.get("title"):
                    heads.setdefault(lang, []).append(rec["title"])
    seed = corpus_dir() / "seed-article.txt"
    if seed.exists():
        paras.setdefault("en", []).extend(p for p in seed.read_text().split("\n") if p.strip())
    languages = sorted(lang for lang in paras if len(paras[lang]) >= 10 and heads.get(lang))
    pool = Pool(languages, [len(paras[lang]) for lang in languages], {}, {})
    for lang in languages:
        pool.paragraphs[lang] = [(p, *_streams(analyse(p, lang))) for p in dict.fromkeys(paras[lang])]
        # headlines: the corpus's own, and its sentences of 5-14 words (many more distinct ones)
        sentences = [s for p in paras[lang] for s in re.split(r"(?<=[.!?。！？])\s*", p)
                     if 5 <= len(s.split()) <= 14 or (lang in ("ja", "zh") and 12 <= len(s) <= 40)]
        pool.titles[lang] = [(t, index_fields(t, None, lang)[0]) for t in dict.fromkeys(heads[lang] + sentences)]
    return pool


def _streams(s: Any) -> tuple[list[str], list[str]]:
    return list(s.exact), list(s.stems)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's storage of a naive UTC timestamp on SQLite


_POOL: Pool | None = None


def _init(pool: Pool) -> None:
    global _POOL
    _POOL = pool


def articles(pool: Pool, start: int, count: int, seed: int, backend: str, n: int) -> list[dict[str, Any]]:
    """The rows of articles ``start`` … ``start + count - 1`` (ids from 1), reproducible from ``seed``."""
    from ingest.store.searchindex import tsvector_literal

    out = []
    for i in range(start, start + count):
        rng = random.Random(seed * 1_000_003 + i)
        lang = rng.choices(pool.languages, pool.weights)[0]
        title, title_tokens = rng.choice(pool.titles[lang])
        target = rng.randint(1500, 4500)
        chosen, size = [], 0
        paragraphs = pool.paragraphs[lang]
        while size < target:
            p = paragraphs[rng.randrange(len(paragraphs))]
            chosen.append(p)
            size += len(p[0]) + 1
        text = "\n".join(p[0] for p in chosen)
        exact = [t for p in chosen for t in p[1]]
        stems = [t for p in chosen for t in p[2]]
        published = T0 + timedelta(seconds=int(SPAN_S * (i - 1) / n) + rng.randrange(3600))
        row: dict[str, Any] = {
            "id": i, "lang": lang, "title": title, "text": text, "published": published,
            "source": rng.randrange(1, N_SOURCES + 1), "second": rng.randrange(1, N_SOURCES + 1)
            if rng.random() < 0.05 else None, "tags": rng.sample(TAGS, rng.choice((0, 1, 1, 2, 2, 3))),
            "sha": hashlib.sha256(f"{i}\n{text}".encode()).hexdigest(),
            "signature": struct.pack("<128I", *(rng.getrandbits(32) for _ in range(128))),
            "buckets": [rng.getrandbits(62) for _ in range(BANDS)],
        }
        title_index = title_tokens
        text_index = exact + stems
        if backend == "sqlite":
            row["search_title"], row["search_text"] = " ".join(title_index), " ".join(text_index)
        else:
            row["search_vector"] = tsvector_literal(title_index, text_index)
        out.append(row)
    return out


def _work(args: tuple[int, int, int, str, int]) -> list[dict[str, Any]]:
    assert _POOL is not None
    return articles(_POOL, *args)


def chunks(pool: Pool, n: int, seed: int, backend: str, start: int = 1) -> Iterator[list[dict[str, Any]]]:
    """Rows in chunks of ``CHUNK``, made by two processes (the analyser's tokens, the tsvector literal)."""
    jobs = [(s, min(CHUNK, n + 1 - s), seed, backend, n) for s in range(start, n + 1, CHUNK)]
    with get_context("fork").Pool(2, initializer=_init, initargs=(pool,)) as workers:
        # at most 4 chunks made ahead of the writer (imap alone would queue them all in memory)
        pending = [workers.apply_async(_work, (job,)) for job in jobs[:4]]
        for k in range(len(jobs)):
            rows = pending.pop(0).get()
            if k + 4 < len(jobs):
                pending.append(workers.apply_async(_work, (jobs[k + 4],)))
            yield rows


# --- the rows of each table ------------------------------------------------------------------------------

def table_rows(rows: list[dict[str, Any]], ts: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Per table, the value tuples (columns as in COLUMNS) for a chunk. ``ts``: the timestamp encoder."""
    out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in COLUMNS}
    for r in rows:
        i, at = r["id"], r["published"]
        seen = at + timedelta(minutes=7)
        host = f"src{r['source']:04d}.example"
        url = f"https://{host}/news/{at:%Y/%m/%d}/{i}"
        meta = json.dumps({"authors": ["A. Writer"], "language": r["lang"], "date": at.isoformat()})
        out["fetches"].append((i, r["source"], "page", url, 1, 200, json.dumps({"content-type": "text/html"}),
                               3 * len(r["text"]), r["sha"], ts(seen), 120))
        out["extractions"].append((i, i, i, "trafilatura", "2.0.0", json.dumps({"include_comments": False}),
                                   ts(seen), url, r["title"], None, r["sha"], meta))  # None: the article's text
        search = ((r["search_title"], r["search_text"]) if "search_text" in r else (r["search_vector"],))
        out["articles"].append((i, url, url, r["source"], r["title"], r["text"], json.dumps(["A. Writer"]),
                                ts(at), r["lang"], host, r["sha"], len(r["text"]), ts(seen), ts(seen), ts(seen),
                                i, "jsonld", "datetime", at.isoformat() + "+00:00", "[]", r["lang"], *search))
        out["article_versions"].append((i, i, 1, r["title"], None, r["sha"], ts(seen), i, i))  # (textcopies.py)
        out["article_state"].append((i, 1, r["sha"][:32], 0, r["signature"]))
        out["text_hashes"].append((r["sha"], i, ts(seen)))
        out["url_aliases"].append((url, i, "canonical", ts(seen)))
        for n, src in enumerate([r["source"]] + ([r["second"]] if r["second"] and r["second"] != r["source"] else [])):
            out["entries"].append((2 * i + n, src, url, f"https://src{src:04d}.example/feed.xml", url, r["title"],
                                   "[]", "[]", ts(at), ts(seen), ts(seen), "archived", i, i, 1))
        for k, t in enumerate(r["tags"]):
            out["article_tags"].append((i * 4 + k, i, t, t.title(), "rule", "v1", ts(seen)))
        for band, bucket in enumerate(r["buckets"]):
            out["lsh_bands"].append((band, bucket, i))
        if i % 10 == 1:  # a story: this article and the next 1-3
            size = 2 + i % 3
            out["story_clusters"].append((i, i, ts(seen)))
            for k in range(size):
                out["cluster_members"].append((i + k, i, 0.9 if k else 1.0, "near" if k else "first", ts(seen)))
    return out


COLUMNS: dict[str, tuple[str, ...]] = {
    "fetches": ("id", "source_id", "kind", "url", "attempt", "status", "headers", "n_bytes", "sha256",
                "started_at", "duration_ms"),
    "extractions": ("id", "article_id", "fetch_id", "extractor", "extractor_version", "options", "created_at",
                    "url", "title", "text", "content_sha256", "meta"),
    "articles": ("id", "canonical_url", "url", "source_id", "title", "text", "authors", "published_at", "language",
                 "sitename", "content_sha256", "text_chars", "first_seen_at", "fetched_at", "updated_at",
                 "current_extraction_id", "published_source", "published_precision", "published_local",
                 "organisations", "language_declared"),
    "article_versions": ("id", "article_id", "version", "title", "text", "content_sha256", "fetched_at",
                         "fetch_id", "extraction_id"),
    "article_state": ("article_id", "version", "version_key", "checks", "signature"),
    "text_hashes": ("sha256", "article_id", "created_at"),
    "url_aliases": ("url", "article_id", "kind", "created_at"),
    "entries": ("id", "source_id", "entry_key", "feed_url", "link", "title", "authors", "categories",
                "published_at", "first_seen_at", "last_seen_at", "status", "article_id", "page_fetch_id",
                "attempts"),
    "article_tags": ("id", "article_id", "tag", "label", "origin", "rule_version", "created_at"),
    "lsh_bands": ("band", "bucket", "article_id"),
    "story_clusters": ("id", "first_article_id", "created_at"),
    "cluster_members": ("article_id", "cluster_id", "similarity", "method", "created_at"),
}
PG_ORDER = ("fetches", "articles", "extractions", "article_versions", "article_state", "text_hashes", "url_aliases",
            "entries", "article_tags", "lsh_bands", "story_clusters", "cluster_members")
ORDER = ("fetches", "extractions", "articles", "article_versions", "article_state", "text_hashes", "url_aliases",
         "entries", "article_tags", "lsh_bands", "story_clusters", "cluster_members")


def source_rows(now: datetime) -> list[tuple[Any, ...]]:
    rows = []
    for s in range(1, N_SOURCES + 1):
        failing = s % 97 == 0
        rows.append((s, f"src{s:04d}", f"https://src{s:04d}.example/feed.xml", now - timedelta(minutes=s % 60),
                     "error" if failing else "ok", now - timedelta(hours=30 if failing else 1),
                     "http_5xx" if failing else None, 3 if failing else 0, now + timedelta(minutes=30), 1800,
                     now - timedelta(days=400)))
    return rows


SOURCE_COLUMNS = ("id", "name", "feed_url", "last_polled_at", "last_status", "last_success_at", "error_kind",
                  "error_count", "next_poll_at", "poll_interval_s", "created_at")


# --- SQLite ----------------------------------------------------------------------------------------------

def build_sqlite(path: Path, n: int, seed: int, pool: Pool, log: Any = print) -> None:
    import sqlite3

    from ingest.store.db import open_archive

    open_archive(f"sqlite:///{path}").dispose()  # the schema at head, by the project's own migrations
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    now = T0 + timedelta(seconds=SPAN_S)
    conn.execute("BEGIN")
    _insert_sqlite(conn, "sources", SOURCE_COLUMNS, [tuple(stamp(v) if isinstance(v, datetime) else v for v in r)
                                                     for r in source_rows(now)])
    conn.execute("INSERT INTO runs (id, kind, status, started_at, finished_at, ingest_version, parameters) "
                 "VALUES (1, 'poll', 'completed', ?, ?, 'bench', '{}')", (stamp(now), stamp(now)))
    conn.execute("COMMIT")
    done = 0
    for rows in chunks(pool, n, seed, "sqlite"):
        per_table = table_rows(rows, stamp)
        conn.execute("BEGIN")
        for table in ORDER:
            cols = COLUMNS[table] + (("search_title", "search_text") if table == "articles" else ())
            _insert_sqlite(conn, table, cols, per_table[table])
        conn.execute("COMMIT")
        done += len(rows)
        if done % 50_000 < CHUNK:
            log(f"sqlite: {done:,} articles")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _insert_sqlite(conn: Any, table: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)


# --- PostgreSQL ------------------------------------------------------------------------------------------

def build_postgresql(url: str, n: int, seed: int, pool: Pool, log: Any = print) -> None:
    """Into the (empty) database at ``url``: the schema by the project's migrations, rows by COPY, the GIN
    index (dropped for the load) built again at the end."""
    import psycopg

    from ingest.store.db import open_archive

    open_archive(url).dispose()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("DROP INDEX IF EXISTS ix_articles_search_vector")
        # articles and extractions name each other: the article's link is checked once, after the load
        conn.execute("ALTER TABLE articles DROP CONSTRAINT fk_articles_current_extraction")
        now = T0 + timedelta(seconds=SPAN_S)
        with conn.transaction():
            _copy(conn, "sources", SOURCE_COLUMNS, [tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v
                                                          for v in r) for r in source_rows(now)])
            conn.execute("INSERT INTO runs (id, kind, status, started_at, finished_at, ingest_version, parameters) "
                         "VALUES (1, 'poll', 'completed', %s, %s, 'bench', '{}')", (now, now))
        done = 0
        for rows in chunks(pool, n, seed, "postgresql"):
            per_table = table_rows(rows, lambda v: v)
            with conn.transaction():
                for table in PG_ORDER:
                    cols = COLUMNS[table] + (("search_vector",) if table == "articles" else ())
                    _copy(conn, table, cols, per_table[table])
            done += len(rows)
            if done % 50_000 < CHUNK:
                log(f"postgresql: {done:,} articles")
        log("postgresql: building the GIN index")
        conn.execute("ALTER TABLE articles ADD CONSTRAINT fk_articles_current_extraction FOREIGN KEY "
                     "(current_extraction_id) REFERENCES extractions (id)")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("CREATE INDEX ix_articles_search_vector ON articles USING GIN (search_vector)")
        for table in ("sources", "runs", "articles", "entries", "story_clusters", "fetches", "extractions",
                      "article_versions"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        conn.execute("VACUUM ANALYZE")


def _copy(conn: Any, table: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row(r)


if __name__ == "__main__":  # a quick look at the pool
    p = load_pool()
    print({lang: (len(p.paragraphs[lang]), len(p.titles[lang])) for lang in p.languages})
