"""The archive on both back-ends: schema management, exact dedup by unique keys, search, queries."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from ingest import decide
from ingest.config import SourceConfig
from ingest.errors import DatabaseError, ErrorKind, FetchError, SchemaMismatchError, UsageError
from ingest.extract.pages import Extraction, ExtractionFailure
from ingest.feeds.parse import FeedEntry
from ingest.fetch.client import FetchRecord, FetchResult
from ingest.store import archive
from ingest.store.archive import read_blob
from ingest.store.db import (
    check_schema,
    current_revision,
    head_revision,
    open_archive,
    open_engine,
    read_session,
    write_session,
)
from ingest.store.models import Article, Entry, TextHash, UrlAlias
from ingest.store.query import article_records, provenance, sources_status, stats
from ingest.store.search import Filters, fts5_query, search

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TEXT = ("Ukraine's Ambassador Dmytro Ponomarenko declared that captured North Korean soldiers are not to be "
        "used as bargaining chips, emphasizing the need for compliance with international law.")


def fetched(url: str, body: bytes = b"<html>page</html>", final_url: str | None = None) -> FetchResult:
    sha = hashlib.sha256(body).hexdigest()
    rec = FetchRecord(url=url, final_url=final_url or url, redirects=(), status=200,
                      headers={"content-type": "text/html"}, n_bytes=len(body), sha256=sha, started_at=T0,
                      duration_ms=12, attempt=1, error_kind=None, error_detail=None)
    return FetchResult(url=url, final_url=final_url or url, status=200, headers={"content-type": "text/html"},
                       body=body, records=(rec,), not_modified=False, error=None, retry_after_s=None)


def failed_fetch(url: str, kind: ErrorKind, status: int | None = None) -> FetchResult:
    rec = FetchRecord(url=url, final_url=url, redirects=(), status=status, headers={}, n_bytes=0, sha256=None,
                      started_at=T0, duration_ms=3, attempt=1, error_kind=kind, error_detail="boom")
    return FetchResult(url=url, final_url=url, status=status, headers={}, body=b"", records=(rec,),
                       not_modified=False, error=FetchError(kind, url, "boom", status), retry_after_s=None)


def extraction(text_: str = TEXT, title: str = "POWs", canonical: str | None = None,
               categories: tuple[str, ...] = ()) -> Extraction:
    return Extraction(text=text_, title=title, authors=("A. Writer",), published="2025-02-01", language="en",
                      language_source="page", sitename="Site", description=None, hostname="example.org",
                      categories=categories, tags=(), canonical_url=canonical, image=None, encoding="utf-8",
                      extractor="trafilatura", extractor_version="2.3.1", options={"include_comments": True})


def entry(key: str, link: str | None, categories: tuple[str, ...] = ()) -> FeedEntry:
    return FeedEntry(key=key, guid=key, link=link, link_error=None if link else "missing", title=f"t {key}",
                     summary=None, authors=(), published=T0, updated=None, categories=categories)


@pytest.fixture
def db(database_url: str):
    engine = open_archive(database_url)
    yield engine
    engine.dispose()


def setup_source(engine, name: str = "src", entries=()) -> tuple[int, dict[str, int]]:
    sid = archive.ensure_sources(engine, [SourceConfig(name=name, feed=f"https://example.org/{name}.rss")])[name]
    with write_session(engine) as s:
        archive.upsert_entries(s, source_id=sid, feed_url=f"https://example.org/{name}.rss", feed_fetch_id=None,
                               entries=entries, run_id=None, now=T0)
    with read_session(engine) as s:
        ids = dict(s.execute(select(Entry.entry_key, Entry.id).where(Entry.source_id == sid)).all())
    return sid, ids


def store(engine, sid: int, *outcomes: archive.PageOutcome) -> list[archive.StoredItem]:
    return archive.store_outcomes(engine, outcomes, run_id=None, source_id=sid, next_attempt=decide.next_item_attempt)


def count(engine, model) -> int:
    with read_session(engine) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_new_database_is_created_at_head(db) -> None:
    assert current_revision(db) == head_revision()
    check_schema(db)  # idempotent


def test_old_schema_is_not_migrated_silently(database_url: str) -> None:
    engine = open_archive(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(SchemaMismatchError, match="which this ingest does not know .* upgrade ingest"):
        check_schema(engine)
    engine.dispose()


def test_foreign_tables_are_refused(tmp_path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE something (x int)"))
    with pytest.raises(SchemaMismatchError, match="has tables but no ingest schema version"):
        check_schema(engine)


def test_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(DatabaseError, match="cannot open database"):
        open_archive("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(DatabaseError, match="not a database URL"):
        open_archive("::not a url::")


def test_new_article_with_full_provenance(db) -> None:
    sid, ids = setup_source(db, entries=[entry("g1", "https://example.org/a?utm_source=rss", ("World",))])
    [item] = store(db, sid, archive.PageOutcome((ids["g1"],), "https://example.org/a?utm_source=rss",
                                                fetched("https://example.org/a?utm_source=rss",
                                                        final_url="https://www.example.org/a"),
                                                extraction(canonical="/a-canonical", categories=("Politics",))))
    assert item.status == "new"
    with read_session(db) as s:
        art = s.get(Article, item.article_id)
        assert art.canonical_url == "https://www.example.org/a-canonical"
        assert art.url == "https://www.example.org/a"
        assert art.published_at == datetime(2025, 2, 1, tzinfo=UTC)
        p = provenance(s, item.article_id)
        assert read_blob(s, p["sightings"][0]["page_fetch"]["sha256"]) == b"<html>page</html>"
    assert sorted(a["url"] for a in p["aliases"]) == sorted(
        ["https://example.org/a", "https://www.example.org/a", "https://www.example.org/a-canonical"])
    assert p["sightings"][0]["source"] == "src" and p["sightings"][0]["status"] == "archived"
    assert p["sightings"][0]["page_fetch"]["raw_bytes_kept"] is True
    assert p["extractions"][0]["extractor"] == "trafilatura" and p["extractions"][0]["current"] is True
    assert p["tags"] == ["politics", "world"]
    assert {(t["tag"], t["origin"]) for t in p["tags_detail"]} == {("world", "feed"), ("politics", "page")}


def test_same_canonical_url_is_one_article_and_refetch_with_same_text_changes_nothing(db) -> None:
    sid, ids = setup_source(db, entries=[entry("g1", "https://example.org/a"), entry("g2", "https://example.org/a/")])
    first = store(db, sid, archive.PageOutcome((ids["g1"],), "https://example.org/a",
                                               fetched("https://example.org/a"), extraction(canonical="/story")))
    again = store(db, sid, archive.PageOutcome((ids["g2"],), "https://example.org/a/",
                                               fetched("https://example.org/a/"), extraction(canonical="/story")))
    assert [first[0].status, again[0].status] == ["new", "known"]  # g2 first lists an archived URL
    assert first[0].article_id == again[0].article_id
    assert count(db, Article) == 1


def test_identical_text_at_another_url_is_a_duplicate_of_the_first(db) -> None:
    sid, ids = setup_source(db, entries=[entry("g1", "https://example.org/a"), entry("g2", "https://other.net/b")])
    a = store(db, sid, archive.PageOutcome((ids["g1"],), "https://example.org/a", fetched("https://example.org/a"),
                                           extraction()))
    b = store(db, sid, archive.PageOutcome((ids["g2"],), "https://other.net/b", fetched("https://other.net/b"),
                                           extraction(text_=TEXT.upper() + "  ", title="Other headline")))
    assert b[0].status == "duplicate" and b[0].article_id == a[0].article_id
    assert count(db, Article) == 1
    with read_session(db) as s:
        assert s.get(UrlAlias, "https://other.net/b").kind == "duplicate"
        assert s.execute(select(Entry.status).where(Entry.id == ids["g2"])).scalar() == "duplicate"


def test_changed_text_is_a_new_extraction_nothing_overwritten(db) -> None:
    sid, ids = setup_source(db, entries=[entry("g1", "https://example.org/a")])
    store(db, sid, archive.PageOutcome((ids["g1"],), "https://example.org/a", fetched("https://example.org/a"),
                                       extraction()))
    [item] = store(db, sid, archive.PageOutcome((ids["g1"],), "https://example.org/a",
                                                fetched("https://example.org/a", b"<html>v2</html>"),
                                                extraction(text_=TEXT + " Updated with a new paragraph.")))
    assert item.status == "updated"
    with read_session(db) as s:
        p = provenance(s, item.article_id)
    assert [x["current"] for x in p["extractions"]] == [False, True]
    assert p["text"].endswith("Updated with a new paragraph.")


def test_failures_are_recorded_on_the_entry_with_retry_time(db) -> None:
    sid, ids = setup_source(db, entries=[entry("g1", "https://example.org/gone"), entry("g2", "https://example.org/slow"),
                                         entry("g3", "https://example.org/wall"), entry("g4", None)])
    items = store(db, sid,
                  archive.PageOutcome((ids["g1"],), "https://example.org/gone",
                                      failed_fetch("https://example.org/gone", ErrorKind.HTTP_4XX, 404), None),
                  archive.PageOutcome((ids["g2"],), "https://example.org/slow",
                                      failed_fetch("https://example.org/slow", ErrorKind.TIMEOUT), None),
                  archive.PageOutcome((ids["g3"],), "https://example.org/wall", fetched("https://example.org/wall"),
                                      ExtractionFailure(ErrorKind.BOT_WALL, "cloudflare")))
    assert [(i.status, i.error_kind) for i in items] == [("failed", "http_4xx"), ("failed", "timeout"),
                                                          ("failed", "bot_wall")]
    with read_session(db) as s:
        rows = {e.entry_key: e for e in s.execute(select(Entry)).scalars()}
    assert rows["g1"].next_attempt_at is None  # a 404 is final for automatic polling
    assert rows["g2"].next_attempt_at is not None and rows["g2"].attempts == 1
    assert rows["g4"].status == "failed" and rows["g4"].error_kind == "unsupported_url"
    assert count(db, Article) == 0


def test_entries_are_unique_per_source_and_key(db) -> None:
    sid, _ = setup_source(db, entries=[entry("g1", "https://example.org/a")])
    with write_session(db) as s:
        written = archive.upsert_entries(s, source_id=sid, feed_url="f", feed_fetch_id=None,
                                         entries=[entry("g1", "https://example.org/a"), entry("g2", None)],
                                         run_id=None, now=T0)
    assert (written.new, written.unusable, written.rejected) == (1, 1, ())
    assert count(db, Entry) == 2


def test_concurrent_writers_never_duplicate(db) -> None:
    """Eight threads store the same canonical URL and the same text under other URLs at once."""
    sid, ids = setup_source(db, entries=[entry(f"g{i}", f"https://example.org/{i}") for i in range(8)])
    barrier = threading.Barrier(8)
    results: list[archive.StoredItem] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            # half of them share one canonical URL, the other half share only the text
            canonical = "https://example.org/story" if i % 2 else None
            results.extend(store(db, sid, archive.PageOutcome(
                (ids[f"g{i}"],), f"https://example.org/{i}", fetched(f"https://example.org/{i}"),
                extraction(canonical=canonical))))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(db, Article) == 1 and count(db, TextHash) == 1
    assert sorted(r.status for r in results).count("new") == 1
    assert {r.article_id for r in results} == {results[0].article_id}
    with read_session(db) as s:
        assert s.execute(select(func.count()).select_from(Entry).where(Entry.article_id.is_(None))).scalar() == 0


def test_fulltext_search_ranks_title_and_filters(db) -> None:
    sid, ids = setup_source(db, entries=[entry("g1", "https://example.org/1", ("Asia",)),
                                         entry("g2", "https://example.org/2")])
    other = "Markets rallied on Tuesday as investors weighed new data on inflation and jobs. " * 3
    store(db, sid,
          archive.PageOutcome((ids["g1"],), "https://example.org/1", fetched("https://example.org/1"),
                              extraction(title="North Korean soldiers captured")),
          archive.PageOutcome((ids["g2"],), "https://example.org/2", fetched("https://example.org/2", b"x"),
                              extraction(text_=other, title="Markets")))
    hits = search(db, "North Korean soldiers")
    assert len(hits) == 1 and hits[0].snippet
    assert search(db, '"north korean" -markets')[0].article_id == hits[0].article_id
    assert search(db, "korean OR inflation", limit=5) and len(search(db, "korean OR inflation")) == 2
    assert search(db, "soldiers", Filters(tags=("asia",)))[0].article_id == hits[0].article_id
    assert search(db, "soldiers", Filters(sources=("nope",))) == []
    assert search(db, "soldiers", Filters(since=datetime(2026, 1, 1, tzinfo=UTC))) == []
    assert len(search(db, None)) == 2
    # hostile input is data, never SQL
    assert search(db, "'; DROP TABLE articles; --") == []
    assert search(db, 'AND OR NOT ( ) * " NEAR') == [] or True
    assert count(db, Article) == 2


def test_fts5_query_translation() -> None:
    """Each word: its exact form OR its stem in each stemmed language of the archive (tagged); phrases
    keep their words together in both forms (tests/test_search_multilingual.py has the rest)."""
    no_stems: tuple[str, ...] = ()
    assert fts5_query("North Korean soldiers", no_stems) == '"north" AND "korean" AND "soldiers"'
    assert fts5_query('"north korea" -nuclear', no_stems) == '"north korea" NOT "nuclear"'
    assert fts5_query("kyiv OR kiev seoul", no_stems) == '("kyiv" OR "kiev") AND "seoul"'
    assert fts5_query("ukrain*", ["en"]) == '"ukrain"*'
    assert fts5_query('say "hi', no_stems) == '"say" AND "hi"'
    assert fts5_query("soldiers", ["en", "ru"]) == '("soldiers" OR "en0soldier")'
    assert fts5_query('"north korea" -nuclear', ["en"]) == \
        '("north korea" OR "en0north en0korea") NOT ("nuclear" OR "en0nuclear")'
    with pytest.raises(UsageError):
        fts5_query('"" -')


def test_raw_fts_syntax_errors_are_usage_errors(db) -> None:
    with pytest.raises(UsageError, match="bad search query"):
        search(db, 'NEAR(("a" "b"', raw=True)


def test_queries(db) -> None:
    sid, ids = setup_source(db, entries=[entry("g1", "https://example.org/1")])
    [item] = store(db, sid, archive.PageOutcome((ids["g1"],), "https://example.org/1",
                                                fetched("https://example.org/1"), extraction()))
    with read_session(db) as s:
        [rec] = article_records(s, [item.article_id])
        assert rec == {
            "id": item.article_id, "url": "https://example.org/1", "canonical_url": "https://example.org/1",
            "source": "src", "feed_urls": ["https://example.org/src.rss"], "title": "POWs",
            "authors": ["A. Writer"], "published_at": "2025-02-01", "language": "en", "text": TEXT,
            "tags": [], "content_sha256": rec["content_sha256"], "fetched_at": rec["fetched_at"],
            "extractor": "trafilatura", "extractor_version": "2.3.1", "first_seen_at": rec["first_seen_at"],
            "sitename": "Site", "version": 1, "gone_since": None, "gone_status": None, "events": [],
            # a day-only page date: exported as the day, with its precision (no source: built by hand)
            "published_source": None, "published_precision": "date", "published_local": "2025-02-01",
            "modified_at": None, "title_raw": None, "organisations": [], "language_declared": None,
            "comments": None}
        st = stats(s)
        assert (st["articles"], st["entries"], st["entries_by_status"]) == (1, 1, {"archived": 1})
        assert sources_status(s)[0]["articles"] == 1


def test_redacted_url_hides_the_password() -> None:
    from ingest.store.db import redacted

    assert redacted("postgresql://u:secret@h:5432/db") == "postgresql+psycopg://u:***@h:5432/db"
    assert redacted("sqlite:///data/archive.db") == "sqlite:///data/archive.db"


def test_migrations_from_scratch_build_the_schema_the_models_declare(database_url: str) -> None:
    """0001 -> head, run one by one on an empty database, gives what the models declare (a new archive
    is created from the models directly): a migration that forgets a column or an index fails here.
    Full-text search objects (and the expression index of "newest first") are made by raw SQL in the
    migrations and are left out of the comparison."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    from ingest.store.db import upgrade

    engine = open_engine(database_url)
    assert upgrade(engine, "head") == (None, head_revision())

    def is_search(diff: tuple) -> bool:
        names = " ".join(str(getattr(part, "name", part)) for part in diff[1:])
        return any(n in names for n in ("articles_fts", "search_vector", "search_title", "search_text",
                                        "ix_articles_search_pending", "search_changes", "search_archive", "search_log_state",
                                        "ix_articles_newest"))

    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert [d for d in diffs if not is_search(d)] == []
    engine.dispose()
