"""The search engine's index (store/searchengine.py, issue 13) against the SQL index it follows, on
both back-ends: the same hits for the multilingual set, the syntax and every filter; newest first;
changes made by any writer (plain SQL included) seen by the next search; a transaction that commits
after a later one is not lost (PostgreSQL's commit order); an index of another archive at the same
address is rebuilt; a busy index hands the search to SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from search_cases import CASES, Doc
from sqlalchemy import text
from test_search_multilingual import build

from ingest.store import searchengine
from ingest.store.db import open_engine, write_session
from ingest.store.search import Filters, search

QUERIES = [c.query for c in CASES] + ["Кремль -Малайзия", '"gravité de la situation"', "ukrain*", "波",
                                      "the", "Ukraine OR Україна OR Украина", "Кремля OR Кремль -визит"]


def both(engine: Any, q: str | None, filters: Filters | None = None, **kw: Any) -> tuple[list[int], list[int]]:
    """(index, SQL) hit ids of one search."""
    filters = filters or Filters()
    indexed = [h.article_id for h in search(engine, q, filters, **kw)]
    sql = [h.article_id for h in search(engine, q, filters, use_index=False, **kw)]
    return indexed, sql


def test_the_index_answers_with_the_sql_hits(database_url: str, corpus_dir: Path) -> None:
    from search_cases import corpus_docs, ukrainian_docs

    docs = corpus_docs(corpus_dir) + ukrainian_docs()
    build(database_url, docs)
    engine = open_engine(database_url)
    assert searchengine.open_index(engine) is not None
    for q in QUERIES:
        indexed, sql = both(engine, q, limit=1000)
        assert set(indexed) == set(sql) and len(indexed) == len(sql), q
    # top results: the exact-form article first on both (the multilingual set's own check, ranks)
    for case in CASES[:10]:
        indexed, sql = both(engine, case.query, limit=3)
        assert indexed[:1] == sql[:1] or set(indexed[:1]) <= set(both(engine, case.query, limit=10)[1]), case.query
    engine.dispose()


def _small(url: str) -> tuple[Any, dict[str, int]]:
    docs = [Doc("a", "Переговоры", "Переговоры прошли в Зеленой гостиной Кремля вчера.", "ru"),
            Doc("b", "Визит", "Делегация приехала в Кремль. Зеленая гостиная закрыта.", "ru"),
            Doc("c", "Seoul", "북한군 포로 류화영의 증언이 공개됐다. 高知と宮崎に1メートルの津波注意報", "ko"),
            Doc("d", "Київ", "Делегація Північної Кореї прибула до Києва.", "uk"),
            Doc("e", "Kremlin talks", "Talks at the Kremlin went on late into the night.", "en")]
    keys = build(url, docs)
    return open_engine(url), {v: k for k, v in keys.items()}


def test_filters_and_newest_first_match_sql(database_url: str) -> None:
    engine, ids = _small(database_url)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    with write_session(engine) as s:
        for n, key in enumerate("abcde"):  # distinct publication times; tags on two
            s.execute(text("UPDATE articles SET published_at = :t WHERE id = :i"),
                      {"t": (base + timedelta(days=n)).replace(tzinfo=None), "i": ids[key]})
        s.execute(text("INSERT INTO article_tags (article_id, tag, origin, created_at) VALUES "
                       "(:a, 'kremlin', 'rule', :t), (:b, 'kremlin', 'rule', :t)"),
                  {"a": ids["a"], "b": ids["e"], "t": base.replace(tzinfo=None)})
    cases = [("Кремль", Filters()), ("Кремль OR Kremlin", Filters(language="ru")),
             (None, Filters(tags=("kremlin",))), (None, Filters(tags=("KREMLIN",))),
             ("Кремль OR Kremlin", Filters(since=base + timedelta(days=1), until=base + timedelta(days=4))),
             (None, Filters(sources=("src",))), (None, Filters(sources=("nope",))), (None, Filters()),
             ("Кремль", Filters(article_ids=(ids["b"],)))]
    for q, f in cases:
        for order in ("relevance", "newest"):
            indexed, sql = both(engine, q, f, order=order, limit=50)
            if order == "newest" or q is None:
                assert indexed == sql, (q, f, order)  # the same order: distinct times
            else:
                assert sorted(indexed) == sorted(sql), (q, f)
    assert both(engine, None, Filters(), limit=2, offset=1)[0] == [ids["d"], ids["c"]]  # newest first, paged
    engine.dispose()


def test_any_writer_is_seen_by_the_next_search(database_url: str) -> None:
    engine, ids = _small(database_url)
    assert search(engine, "Берлин") == []
    from ingest.store import searchindex

    with write_session(engine) as s:  # plain SQL: the triggers log it, index_pending fills the tokens
        s.execute(text("UPDATE articles SET text = 'Встреча прошла в Берлине.' WHERE id = :i"), {"i": ids["a"]})
        searchindex.index_pending(s)
    assert [h.article_id for h in search(engine, "Берлина")] == [ids["a"]]
    assert [h.article_id for h in search(engine, "Кремля")] == [ids["b"]]
    with write_session(engine) as s:
        s.execute(text("INSERT INTO article_tags (article_id, tag, origin, created_at) VALUES (:a, 'x', 'rule', :t)"),
                  {"a": ids["c"], "t": datetime(2025, 1, 1)})
    assert [h.article_id for h in search(engine, None, Filters(tags=("x",)))] == [ids["c"]]
    with write_session(engine) as s:
        s.execute(text("DELETE FROM article_tags WHERE tag = 'x'"))
    assert search(engine, None, Filters(tags=("x",))) == []
    engine.dispose()


@pytest.mark.postgres
def test_a_transaction_that_commits_late_is_not_lost(postgres_url: str) -> None:
    """T1 starts and writes first, T2 writes and commits, a search catches up, then T1 commits: T1's
    change has the smaller sequence number but became visible later; the txid horizon still reads it."""
    engine, ids = _small(postgres_url)
    late, early = engine.connect(), engine.connect()
    t = datetime(2025, 1, 1)
    tag = "INSERT INTO article_tags (article_id, tag, origin, created_at) VALUES (:a, :g, 'rule', :t)"
    late.begin()
    late.execute(text(tag), {"a": ids["a"], "g": "late", "t": t})
    with early.begin():
        early.execute(text(tag), {"a": ids["b"], "g": "early", "t": t})
    assert [h.article_id for h in search(engine, None, Filters(tags=("early",)))] == [ids["b"]]
    assert search(engine, None, Filters(tags=("late",))) == []
    late.commit()
    assert [h.article_id for h in search(engine, None, Filters(tags=("late",)))] == [ids["a"]]
    late.close()
    early.close()
    engine.dispose()


def test_an_index_of_another_archive_is_rebuilt(sqlite_url: str) -> None:
    engine, ids = _small(sqlite_url)
    assert [h.article_id for h in search(engine, "류화영")] == [ids["c"]]
    engine.dispose()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    for p in path.parent.glob(path.name + "*"):
        if p.is_file():
            p.unlink()  # the archive goes; its index directory stays
    assert (path.parent / (path.name + ".search")).is_dir()
    build(sqlite_url, [Doc("z", "Other", "Nothing about Korea here, only Lisbon.", "en")])
    engine = open_engine(sqlite_url)
    assert search(engine, "류화영") == []
    assert len(search(engine, "Lisbon")) == 1
    engine.dispose()


def test_a_busy_index_hands_the_search_to_sql(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, ids = _small(sqlite_url)
    search(engine, "Кремль")  # built
    index = searchengine.open_index(engine)
    assert index is not None
    monkeypatch.setattr(searchengine, "LOCK_WAIT_S", 0.1)
    held = index.index.writer(heap_size=20_000_000, num_threads=1)  # another writer holds the lock
    try:
        with write_session(engine) as s:
            s.execute(text("INSERT INTO article_tags (article_id, tag, origin, created_at) VALUES (:a, 'y', 'rule', :t)"),
                      {"a": ids["d"], "t": datetime(2025, 1, 1)})
        assert searchengine.search_ids(engine, None, Filters(tags=("y",)), limit=5, offset=0, order="newest") is None
        assert [h.article_id for h in search(engine, None, Filters(tags=("y",)))] == [ids["d"]]  # from SQL
    finally:
        del held
    engine.dispose()


def test_sql_only_when_turned_off(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_SEARCH_ENGINE", "sql")
    engine, ids = _small(sqlite_url)
    assert [h.article_id for h in search(engine, "津波")] == [ids["c"]]
    assert not Path(sqlite_url.removeprefix("sqlite:///") + ".search").exists()
    engine.dispose()


def test_a_large_archive_is_indexed_by_db_index_and_answered_by_sql_until_then(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from click.testing import CliRunner

    from ingest.cli import main

    engine, ids = _small(sqlite_url)
    monkeypatch.setattr(searchengine, "INLINE_BUILD_MAX", 2)  # "large": more articles than a search builds
    assert searchengine.search_ids(engine, None, Filters(), limit=5, offset=0, order="newest") is None
    assert "ingest db index" in caplog.text
    assert [h.article_id for h in search(engine, "津波")] == [ids["c"]]  # the SQL index answers meanwhile
    result = CliRunner().invoke(main, ["db", "index", "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    assert "5 articles" in result.output
    assert searchengine.search_ids(engine, None, Filters(), limit=5, offset=0, order="newest") is not None
    engine.dispose()


def test_an_index_of_an_older_schema_is_made_again(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import tantivy

    engine, ids = _small(sqlite_url)
    path = searchengine.index_dir(engine)
    assert path is not None
    path.mkdir()
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("text")
    tantivy.Index(sb.build(), path=str(path))  # another schema in the directory
    searchengine._OPEN.clear()
    assert [h.article_id for h in search(engine, "津波")] == [ids["c"]]
    assert searchengine.search_ids(engine, None, Filters(), limit=1, offset=0, order="newest") is not None
    engine.dispose()


def test_the_change_log_is_trimmed_and_an_index_behind_it_is_rebuilt(database_url: str) -> None:
    """store/searchtrim.py: the log keeps its newest changes only, and an index whose watermark is
    behind what was trimmed rebuilds, so a trimmed change is never missed."""
    from ingest.store import searchtrim

    engine, ids = _small(database_url)
    assert [h.article_id for h in search(engine, "류화영")] == [ids["c"]]  # the index is at the log's end
    tag = "INSERT INTO article_tags (article_id, tag, origin, created_at) VALUES (:a, :g, 'rule', :t)"
    with write_session(engine) as s:  # changes the index has not seen
        for n, key in enumerate("abcde"):
            s.execute(text(tag), {"a": ids[key], "g": f"t{n}", "t": datetime(2025, 1, 1)})
    with write_session(engine) as s:
        before = s.execute(text("SELECT COUNT(*) FROM search_changes")).scalar_one()
        assert searchtrim.trim(s, keep=2) > 0
        assert s.execute(text("SELECT COUNT(*) FROM search_changes")).scalar_one() == 2 < before
        assert searchtrim.trim(s, keep=2) == 0  # nothing more to trim
    # the index missed trimmed changes: it is built again, and answers with all of them
    for n, key in enumerate("abcde"):
        assert [h.article_id for h in search(engine, None, Filters(tags=(f"t{n}",)))] == [ids[key]]
    with write_session(engine) as s:  # an index at the log's end is not rebuilt by a later trim
        mark = searchengine.searchlog.position(s.connection())
        searchtrim.trim(s, keep=0)
        assert not searchengine.searchlog.trimmed_past(s.connection(), mark)
    assert [h.article_id for h in search(engine, "류화영")] == [ids["c"]]
    engine.dispose()
