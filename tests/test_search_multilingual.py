"""Search across inflection and inside CJK runs, on both back-ends (issue 10): the multilingual test set
of tests/search_cases.py (real corpus articles, Ukrainian articles), each query a different inflected
form or a sub-word of its article's text, must find that article; both engines return the same
articles; phrases, OR, exclusions and the ranking of exact forms keep working; Datasette's detection
of the FTS table; an archive made before migration 0007 is re-indexed by it."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
from search_cases import CASES, Doc, corpus_docs, old_tokens, ukrainian_docs
from sqlalchemy import text
from test_store import entry, extraction, fetched, setup_source

from ingest import decide
from ingest.analyse.searchtext import words
from ingest.store import archive
from ingest.store.db import open_archive, open_engine, upgrade, write_session
from ingest.store.search import search

LIMIT = 10


def build(url: str, docs: list[Doc]) -> dict[int, str]:
    """An archive holding ``docs`` through the real write path; article id -> doc key."""
    engine = open_archive(url)
    links = {d.key: f"https://news.example/{i}" for i, d in enumerate(docs)}
    sid, ids = setup_source(engine, entries=[entry(d.key, links[d.key]) for d in docs])
    outcomes = [archive.PageOutcome((ids[d.key],), links[d.key], fetched(links[d.key], d.key.encode()),
                                    dataclasses.replace(extraction(d.text, d.title), language=d.language))
                for d in docs]
    stored = archive.store_outcomes(engine, outcomes, run_id=None, source_id=sid,
                                    next_attempt=decide.next_item_attempt)
    assert [s.status for s in stored] == ["new"] * len(docs)
    engine.dispose()
    return {s.article_id: d.key for s, d in zip(stored, docs, strict=True)}


@pytest.fixture(scope="module")
def docs(corpus_dir: Path) -> list[Doc]:
    return corpus_docs(corpus_dir) + ukrainian_docs()


def ranks(url: str, keys: dict[int, str]) -> dict[str, int | None]:
    engine = open_engine(url)
    out = {}
    for case in CASES:
        found = [keys[h.article_id] for h in search(engine, case.query, limit=LIMIT)]
        out[case.query] = found.index(case.doc) + 1 if case.doc in found else None
    engine.dispose()
    return out


def test_the_set_is_made_of_inflected_forms_and_sub_words(docs: list[Doc]) -> None:
    """At least 30 queries over ru, uk, de, fr, es, it, ja, zh, ko and en, each with a word the old
    index (exact word forms; a CJK run as one token) did not hold: the set can fail."""
    by_key = {d.key: d for d in docs}
    assert len(CASES) >= 30 and len({c.query for c in CASES}) == len(CASES)
    assert {by_key[c.doc].language for c in CASES} >= {"ru", "uk", "de", "fr", "es", "it", "ja", "zh", "ko", "en"}
    for case in CASES:
        held = old_tokens(by_key[case.doc].title + "\n" + by_key[case.doc].text)
        query_words = {w for _, _, w in words(case.query.replace("OR", " "))}
        assert query_words - held, f"{case.query!r}: every word is in the text as written"


def test_every_query_finds_its_article(database_url: str, docs: list[Doc], capsys) -> None:
    found = ranks(database_url, build(database_url, docs))
    with capsys.disabled():
        print(f"\n{database_url.split(':')[0]}: {len(docs)} articles")
        for case in CASES:
            print(f"  rank {found[case.query] or '-':>2}  {case.query}  ({case.why})")
    missed = [q for q, rank in found.items() if rank is None]
    assert missed == []
    assert sum(rank == 1 for rank in found.values()) >= 0.9 * len(CASES)


@pytest.mark.postgres
def test_both_engines_return_the_same_articles(sqlite_url: str, postgres_url: str, docs: list[Doc]) -> None:
    keys = {url: build(url, docs) for url in (sqlite_url, postgres_url)}
    queries = [c.query for c in CASES] + ["Кремль -Малайзия", '"gravité de la situation"', "ukrain*",
                                          "波", "the", "Ukraine OR Україна OR Украина"]
    for q in queries:
        got = []
        for url in (sqlite_url, postgres_url):
            engine = open_engine(url)
            got.append({keys[url][h.article_id] for h in search(engine, q, limit=1000)})
            engine.dispose()
        assert got[0] == got[1], q


def small(url: str) -> tuple[object, dict[str, int]]:
    docs = [Doc("a", "Переговоры", "Переговоры прошли в Зеленой гостиной Кремля вчера.", "ru"),
            Doc("b", "Визит", "Делегация приехала в Кремль. Зеленая гостиная закрыта.", "ru"),
            Doc("c", "Seoul", "북한군 포로 류화영의 증언이 공개됐다. 高知と宮崎に1メートルの津波注意報", "ko"),
            Doc("d", "Київ", "Делегація Північної Кореї прибула до Києва.", "uk")]
    keys = build(url, docs)
    return open_engine(url), {v: k for k, v in keys.items()}


def hits(engine: object, q: str) -> list[int]:
    return [h.article_id for h in search(engine, q)]  # type: ignore[arg-type]


def test_syntax_and_ranking_across_forms(database_url: str) -> None:
    engine, ids = small(database_url)
    a, b, c, d = ids["a"], ids["b"], ids["c"], ids["d"]
    assert hits(engine, "Кремля")[0] == a and set(hits(engine, "Кремля")) == {a, b}  # exact form first
    assert hits(engine, "Кремль")[0] == b
    assert hits(engine, '"зеленая гостиная"') == [b, a] or hits(engine, '"зеленая гостиная"')[0] == b
    assert hits(engine, '"гостиная зеленая"') == []  # a phrase keeps its order
    assert hits(engine, "Кремль -делегация") == [a]  # the exclusion meets its forms too (Делегация)
    assert set(hits(engine, "류화영 OR Києв*")) == {c, d}
    assert hits(engine, "津波") == [c] and hits(engine, "注意") == [c] and hits(engine, "波") == [c]
    assert hits(engine, "류화영") == [c] and hits(engine, "류화영의") == [c] and hits(engine, "북한군") == [c]
    assert hits(engine, "Північна Корея") == [d] and hits(engine, '"Північна Корея"') == [d]
    assert hits(engine, '"Корея Північна"') == []
    [hit] = search(engine, "Зеленая гостиная", limit=5)[:1]  # type: ignore[arg-type]
    assert hit.snippet and "[Зеленая] [гостиная]" in hit.snippet
    [hit] = search(engine, "津波")  # type: ignore[arg-type]
    assert "[津波]注意報" in (hit.snippet or "")
    engine.dispose()  # type: ignore[attr-defined]


def test_a_changed_text_is_indexed_again(database_url: str) -> None:
    """Whoever changes title, text or language (here: plain SQL), the trigger empties the index
    columns, and the next write path's index_pending fills them."""
    engine, ids = small(database_url)
    from ingest.store import searchindex

    with write_session(engine) as s:  # type: ignore[arg-type]
        s.execute(text("UPDATE articles SET text = 'Встреча прошла в Берлине.' WHERE id = :i"), {"i": ids["a"]})
        assert searchindex.index_pending(s) == 1
        assert searchindex.index_pending(s) == 0
    assert hits(engine, "Кремля") == [ids["b"]] and hits(engine, "встречи Берлин") == [ids["a"]]
    engine.dispose()  # type: ignore[attr-defined]


def test_datasette_and_sqlite_utils_detect_the_fts_table(sqlite_url: str) -> None:
    sqlite_utils = pytest.importorskip("sqlite_utils")
    engine, ids = small(sqlite_url)
    engine.dispose()  # type: ignore[attr-defined]
    path = sqlite_url.removeprefix("sqlite:///")
    db = sqlite_utils.Database(path)
    assert db["articles"].detect_fts() == "articles_fts"
    # Datasette's own detection query (datasette.utils.detect_fts_sql) and its search query
    conn = sqlite3.connect(path)
    [[name]] = conn.execute("select name from sqlite_master where rootpage = 0 and (sql like "
                            "'%VIRTUAL TABLE%USING FTS%content=[articles]%' or sql like "
                            "'%VIRTUAL TABLE%USING FTS%content=\"articles\"%')").fetchall()
    assert name == "articles_fts"
    rows = conn.execute("select id from articles where rowid in (select rowid from articles_fts where "
                        "articles_fts match ?)", ('"кремля"',)).fetchall()
    assert rows == [(ids["a"],)]
    assert conn.execute("insert into articles_fts(articles_fts, rank) values('integrity-check', 1)") is not None


def test_migration_0007_reindexes_an_existing_archive(database_url: str) -> None:
    """An archive at 0006 with articles (indexed the old way) upgrades: its articles are found by stems
    and bigrams afterwards."""
    engine = open_engine(database_url)
    upgrade(engine, "0006")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sources (name, feed_url, created_at, error_count) "
                          "VALUES ('old', 'https://old.example/rss', '2026-01-01', 0)"))
        sid = conn.execute(text("SELECT id FROM sources")).scalar_one()
        for i, (title, body, lang) in enumerate([("Кремль", "Встреча в Зеленой гостиной Кремля.", "ru"),
                                                  ("津波", "高知と宮崎に1メートルの津波注意報", "ja")]):
            conn.execute(text(
                "INSERT INTO articles (canonical_url, url, source_id, title, text, authors, language, "
                "content_sha256, text_chars, first_seen_at, fetched_at, updated_at) VALUES (:u, :u, :s, :t, :x, "
                "'[]', :l, :h, 10, '2026-01-01', '2026-01-01', '2026-01-01')"),
                {"u": f"https://old.example/{i}", "s": sid, "t": title, "x": body, "l": lang, "h": f"{i:064d}"})
    assert upgrade(engine, "0007")[1] == "0007"
    assert len(search(engine, "Зеленая гостиная Кремль")) == 1 and len(search(engine, "注意報")) == 1
    upgrade(engine, "head")
    engine.dispose()
