"""Benchmark: the multilingual search test set on both back-ends, against the index ingest had before.

    INGEST_CORPUS_DIR=/work/shared/corpus [INGEST_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test] \
        .venv/bin/python bench/search_multilingual.py [--copies 10]

The archive: every expected parse of the corpus (shared/corpus/news-pages, 181 publishers; the language
of a publisher not listed in tests/search_cases.py is detected with py3langid) plus the Ukrainian
articles of tests/search_cases.py, ``--copies`` times (distinct URLs) for the size and cost figures.
Reports, per query of the set: the rank of its article on SQLite and on PostgreSQL, and with the old
index (FTS5 ``unicode61`` over the raw title and text, every query word quoted: what ingest did before
migration 0007); the number of hits, and the share of hits in the article's language (a rough precision
signal: stems are language-tagged, so other-language hits come from exact forms and CJK bigrams only).
Then the index size per article (FTS5 shadow tables and the token columns; tsvector column and GIN
index), the indexing cost per article (analysis alone, and analysis plus the database writes), and
query latency. Writes bench/results/search_multilingual.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from search_cases import CASES, PUBLISHERS, Doc, corpus_docs, ukrainian_docs  # noqa: E402
from sqlalchemy import text  # noqa: E402

from ingest.analyse.searchtext import index_fields  # noqa: E402
from ingest.config import SourceConfig  # noqa: E402
from ingest.store import archive, searchindex  # noqa: E402
from ingest.store.db import open_archive, write_session  # noqa: E402
from ingest.store.search import search  # noqa: E402

LIMIT = 1000


def all_docs(corpus: Path) -> list[Doc]:
    """The test set's documents and every other publisher's pages (language detected)."""
    import py3langid

    docs = corpus_docs(corpus)
    listed = set(PUBLISHERS)
    for parses in sorted((corpus / "news-pages").glob("*/*.json")):
        publisher = f"{parses.parent.name}/{parses.stem}"
        if publisher in listed:
            continue
        for key, parse in json.loads(parses.read_text(encoding="utf-8")).items():
            body = parse.get("body") or {}
            paras = [p for part in [body.get("summary") or []] + [s.get("paragraphs") or []
                                                                 for s in body.get("sections") or []] for p in part]
            if paras:
                txt = "\n".join(paras)
                docs.append(Doc(f"{publisher}#{key}", (parse.get("title") or "").strip(), txt,
                                py3langid.classify(txt)[0]))
    return docs + ukrainian_docs()


def build(url: str, docs: list[Doc], copies: int) -> tuple[Any, dict[int, Doc], dict[str, float]]:
    """Articles inserted as rows, then indexed by index_pending (what the write path runs per batch)."""
    engine = open_archive(url)
    sid = archive.ensure_sources(engine, [SourceConfig(name="bench", feed="https://bench.example/rss")])["bench"]
    rows = []
    for c in range(copies):
        for i, d in enumerate(docs):
            rows.append({"u": f"https://bench.example/{c}/{i}", "s": sid, "t": d.title, "x": d.text, "l": d.language,
                         "h": f"{c:08d}{i:056d}", "n": len(d.text)})
    with write_session(engine) as s:
        s.execute(text("INSERT INTO articles (canonical_url, url, source_id, title, text, authors, language, "
                       "content_sha256, text_chars, first_seen_at, fetched_at, updated_at) VALUES (:u, :u, :s, :t, "
                       ":x, '[]', :l, :h, :n, '2026-01-01', '2026-01-01', '2026-01-01')"), rows)
    with write_session(engine) as s:
        searchindex.mark_all_pending(s)
    t0, c0 = time.perf_counter(), time.process_time()
    with write_session(engine) as s:
        n = searchindex.index_pending(s)
    cost, cpu = (time.perf_counter() - t0) / n, (time.process_time() - c0) / n
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT id FROM articles ORDER BY id"))]
    by_id = {aid: docs[k % len(docs)] for k, aid in enumerate(ids)}
    return engine, by_id, {"index_ms_per_article": round(cost * 1000, 3),
                           "index_cpu_ms_per_article": round(cpu * 1000, 3), "articles": n}


def sizes(engine: Any, n: int) -> dict[str, float]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            fts = conn.execute(text("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'articles_fts%'")).scalar()
            cols = conn.execute(text("SELECT SUM(LENGTH(CAST(search_title AS BLOB)) + "
                                     "LENGTH(CAST(search_text AS BLOB))) FROM articles")).scalar()
            body = conn.execute(text("SELECT SUM(LENGTH(CAST(text AS BLOB))) FROM articles")).scalar()
            return {"fts5_bytes_per_article": round(fts / n), "token_columns_bytes_per_article": round(cols / n),
                    "text_bytes_per_article": round(body / n)}
        gin = conn.execute(text("SELECT pg_relation_size('ix_articles_search_vector')")).scalar()
        vec = conn.execute(text("SELECT SUM(pg_column_size(search_vector)) FROM articles")).scalar()
        return {"gin_bytes_per_article": round(gin / n), "tsvector_bytes_per_article": round(vec / n)}


def old_sqlite(docs: list[Doc], copies: int, path: Path) -> sqlite3.Connection:
    """The index of migration 0001: FTS5 unicode61 remove_diacritics 2 over the raw title and text."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, text TEXT)")
    conn.executemany("INSERT INTO articles (title, text) VALUES (?, ?)",
                     [(d.title, d.text) for _ in range(copies) for d in docs])
    conn.execute("CREATE VIRTUAL TABLE articles_fts USING FTS5 (title, text, content=articles, "
                 "tokenize='unicode61 remove_diacritics 2')")
    conn.execute("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')")
    conn.commit()
    return conn


def old_query(user: str) -> str:
    """The pre-0007 translation (store/search.py's fts5_query then): every term quoted as typed."""
    parts: list[str] = []
    pending_or = False
    for tok in re.findall(r'-?"[^"]*"?|\S+', user):
        if tok == "OR" and parts:
            pending_or = True
            continue
        negate = tok.startswith("-") and len(tok) > 1
        tok = tok[1:] if negate else tok
        term = tok.strip('"').rstrip("*").replace('"', "")
        expr = '"' + term + '"' + ("*" if tok.endswith("*") and not tok.startswith('"') else "")
        if negate:
            if parts:
                parts[-1] = f"{parts[-1]} NOT {expr}"
            continue
        if pending_or and parts:
            parts[-1] = f"({parts[-1]} OR {expr})"
        else:
            parts.append(expr)
        pending_or = False
    return " AND ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1, help="the article set this many times")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query")
    args = parser.parse_args()
    corpus = Path(os.environ.get("INGEST_CORPUS_DIR", REPO.parent / "shared" / "corpus"))
    docs = all_docs(corpus)
    n = len(docs) * args.copies
    t0 = time.process_time()  # CPU time: the machine may be loaded
    for d in docs:
        index_fields(d.title, d.text, d.language)
    analysis_ms = (time.process_time() - t0) / len(docs) * 1000
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    urls = {"sqlite": f"sqlite:///{tmp / 'archive.db'}"}
    if os.environ.get("INGEST_TEST_POSTGRES_URL"):
        urls["postgresql"] = os.environ["INGEST_TEST_POSTGRES_URL"]
    report: dict[str, Any] = {"articles": n, "copies": args.copies, "analysis_ms_per_article": round(analysis_ms, 3),
                              "engines": {}, "queries": []}
    ranks: dict[str, dict[str, Any]] = {c.query: {"query": c.query, "why": c.why} for c in CASES}
    for name, url in urls.items():
        if name == "postgresql":
            import psycopg

            with psycopg.connect(url, autocommit=True) as pg:
                pg.execute("DROP SCHEMA IF EXISTS bench_search CASCADE")
                pg.execute("CREATE SCHEMA bench_search")
            url = url + ("&" if "?" in url else "?") + "options=-csearch_path%3Dbench_search"
        engine, by_id, built = build(url, docs, args.copies)
        stats = {**built, **sizes(engine, n)}
        times = []
        for case in CASES:
            hits = search(engine, case.query, limit=LIMIT)
            keys = [by_id[h.article_id].key for h in hits]
            target = next(d for d in docs if d.key == case.doc)
            rank = keys.index(case.doc) + 1 if case.doc in keys else None
            same = sum(by_id[h.article_id].language == target.language for h in hits)
            ranks[case.query].update({f"rank_{name}": rank, f"hits_{name}": len(hits),
                                      f"same_language_{name}": round(same / len(hits), 3) if hits else None})
            for _ in range(args.runs):
                t = time.process_time()
                search(engine, case.query, limit=20)
                times.append((time.process_time() - t) * 1000)
        stats["query_cpu_ms_p50"] = round(statistics.median(times), 2)
        stats["query_cpu_ms_p95"] = round(sorted(times)[int(len(times) * 0.95)], 2)
        report["engines"][name] = stats
        engine.dispose()
    old = old_sqlite(docs, args.copies, tmp / "old.db")
    old_fts = old.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'articles_fts%'").fetchone()[0]
    report["engines"]["sqlite_before_0007"] = {"fts5_bytes_per_article": round(old_fts / n)}
    for case in CASES:
        try:
            found = [r[0] for r in old.execute("SELECT rowid FROM articles_fts WHERE articles_fts MATCH ? "
                                               "ORDER BY bm25(articles_fts, 10.0, 1.0) LIMIT ?",
                                               (old_query(case.query), LIMIT))]
        except sqlite3.OperationalError:
            found = []
        keys = [docs[(rowid - 1) % len(docs)].key for rowid in found]
        ranks[case.query]["rank_before_0007"] = keys.index(case.doc) + 1 if case.doc in keys else None
    report["queries"] = list(ranks.values())
    print(f"{n} articles ({len(docs)} x {args.copies}); analysis {analysis_ms:.2f} ms CPU per article")
    for name, stats in report["engines"].items():
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    cols = [c for c in ("rank_sqlite", "rank_postgresql", "rank_before_0007") if any(c in q for q in report["queries"])]
    print("  " + "  ".join(f"{c.removeprefix('rank_'):>11}" for c in cols) + "   hits  same-lang  query")
    for q in report["queries"]:
        print("  " + "  ".join(f"{q.get(c) or '-':>11}" for c in cols)
              + f"  {q.get('hits_sqlite', 0):>5}  {q.get('same_language_sqlite') or 0:>9.2f}  {q['query']}")
    for c in cols:
        got = [q.get(c) for q in report["queries"]]
        print(f"  {c}: found {sum(r is not None for r in got)}/{len(got)}, first {sum(r == 1 for r in got)}/{len(got)}")
    out = REPO / "bench" / "results" / "search_multilingual.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
