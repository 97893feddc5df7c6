"""Versions, re-check schedule, story clusters, title dedup and rule tags in the archive (both back-ends)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_store import entry, extraction, fetched, setup_source

from ingest import decide
from ingest.analyse.tagging import load_taxonomy
from ingest.store import archive, revisions, tagstore
from ingest.store.db import open_archive, read_session, write_session
from ingest.store.enrich import Enricher
from ingest.store.models import Article, ArticleState, ArticleTag, ArticleVersion, ClusterMember
from ingest.store.query import article_records, cluster_of
from ingest.store.search import Filters
from ingest.store.stories import search_collapsed
from ingest.store.tagstore import retag

ROOT = Path(__file__).resolve().parents[1]
SEED = (ROOT.parent / "shared" / "corpus" / "seed-article.txt")
PARAS = [
    "Dmytro Ponomarenko, Ukraine's Ambassador to South Korea, clarified that Ukraine does not regard North "
    "Korean soldiers captured in the conflict as a bargaining chip, in an interview with Yonhap.",
    "Discussions are ongoing between Kyiv and Seoul about how to handle the captured North Korean personnel, "
    "and it is too early to establish a timeline for any negotiations regarding their future.",
    "The ambassador expressed concerns over North Korea's military involvement, suggesting that Pyongyang has "
    "benefited strategically from its partnership with Moscow and may test weapons on the battlefield.",
    "He urged Seoul to reconsider its stance on military-technical cooperation, which has so far included "
    "only non-lethal and humanitarian aid since the outset of the full-scale war.",
]
STORY = "\n".join(PARAS)
OTHER = ("The central bank left its key interest rate unchanged on Thursday, citing inflation that remains "
         "above target, while signalling that cuts could follow later in the year if wage growth slows and "
         "energy prices stay low through the winter months across the region.")

REWRITE = ("In a later statement the embassy added that talks with the Red Cross about access to the detained men "
           "continue, that their families have been told where they are held, and that the ministry will publish "
           "details once both governments agree on the terms of any transfer, which officials expect next month.")


@pytest.fixture
def db(database_url: str):
    engine = open_archive(database_url)
    yield engine
    engine.dispose()


def put(engine, sid: int, eid: int, url: str, text: str, title: str = "POWs", enricher=None):
    [item] = archive.store_outcomes(engine, [archive.PageOutcome((eid,), url, fetched(url), extraction(
        text, title=title))], run_id=None, source_id=sid, next_attempt=decide.next_item_attempt, enricher=enricher)
    return item


def test_versions_only_for_real_changes(db) -> None:
    sid, ids = setup_source(db, entries=[entry("g1", "https://example.org/a")])
    first = put(db, sid, ids["g1"], "https://example.org/a", STORY, "Old headline")
    assert first.status == "new"
    assert put(db, sid, ids["g1"], "https://example.org/a", STORY, "Old headline").status == "unchanged"
    punct = STORY.replace(",", "").replace("'", "’").replace("  ", " ") + " ."
    assert put(db, sid, ids["g1"], "https://example.org/a", punct, "Old headline.").status == "unchanged"
    edited = STORY.replace("too early", "much too early") + "\nUpdate: Seoul declined to comment."
    assert put(db, sid, ids["g1"], "https://example.org/a", edited, "New headline").status == "updated"
    with read_session(db) as s:
        versions = revisions.versions(s, first.article_id)
        art = s.get(Article, first.article_id)
        state = s.get(ArticleState, first.article_id)
        extraction_ids = [v["extraction_id"] for v in versions]
    assert [(v["version"], v["title"]) for v in versions] == [(1, "Old headline"), (2, "New headline")]
    assert versions[1]["text"] == edited == art.text and state.version == 2
    assert art.current_extraction_id == extraction_ids[1] and None not in extraction_ids
    assert all(v["fetch_id"] for v in versions)
    assert state.next_check_at - art.first_seen_at == timedelta(hours=1)


def test_recheck_schedule_and_due_query(db) -> None:
    sid, ids = setup_source(db, entries=[entry("g1", "https://example.org/a")])
    item = put(db, sid, ids["g1"], "https://example.org/a", STORY)
    with read_session(db) as s:
        first_seen = s.get(Article, item.article_id).first_seen_at
    with write_session(db) as s:
        assert revisions.due_rechecks(s, sid, first_seen + timedelta(minutes=59)) == []
        [due] = revisions.due_rechecks(s, sid, first_seen + timedelta(hours=2))
        assert (due.article_id, due.entry_ids, due.link) == (item.article_id, (ids["g1"],), "https://example.org/a")
        assert revisions.due_rechecks(s, sid, first_seen + timedelta(hours=3)) == []  # queued once
        [_] = revisions.due_rechecks(s, sid, first_seen + timedelta(days=2))  # 6 h and 1 d: one re-fetch
    with read_session(db) as s:
        state = s.get(ArticleState, item.article_id)
    assert (state.checks, state.next_check_at) == (3, first_seen + timedelta(days=3))


def test_schedule_is_pure() -> None:
    t = decide.REVISION_CHECKS
    assert t == (timedelta(hours=1), timedelta(hours=6), timedelta(days=1), timedelta(days=3), timedelta(days=7),
                 timedelta(days=30))
    from datetime import UTC, datetime
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert [decide.next_revision_check(t0, n) for n in range(7)] == [
        t0 + timedelta(hours=1), t0 + timedelta(hours=6), t0 + timedelta(days=1), t0 + timedelta(days=3),
        t0 + timedelta(days=7), t0 + timedelta(days=30), None]


def test_near_duplicates_join_one_story_and_title_reposts(db) -> None:
    sid, ids = setup_source(db, entries=[entry(k, f"https://example.org/{k}") for k in ("a", "b", "c", "d")])
    other_sid, other_ids = setup_source(db, "wire", entries=[entry("w", "https://wire.example/w")])
    a = put(db, sid, ids["a"], "https://example.org/a", STORY, "Ambassador: POWs are no bargaining chip")
    syndicated = "Seoul, Yonhap.\n" + "\n".join(PARAS[:3]) + "\nRead more news on our site."
    b = put(db, other_sid, other_ids["w"], "https://wire.example/w", syndicated, "Wire copy")
    c = put(db, sid, ids["c"], "https://example.org/c", OTHER, "Rates unchanged")
    # re-posted under the same headline, rewritten: half its text is new (too little for the text rules)
    rewritten = "\n".join([PARAS[0], PARAS[3], REWRITE])
    repost = put(db, sid, ids["d"], "https://example.org/d", rewritten, "Ambassador: POWs are no bargaining chip!")
    with read_session(db) as s:
        story = cluster_of(s, a.article_id)
        assert cluster_of(s, b.article_id)["id"] == story["id"]
        assert cluster_of(s, c.article_id)["id"] != story["id"]
        members = {m["article_id"]: (m["method"], m["similarity"]) for m in story["members"]}
    assert members[a.article_id] == ("first", 1.0)
    assert members[b.article_id][0] == "minhash" and 0.5 <= members[b.article_id][1] < 1.0
    assert members[repost.article_id][0] == "title"  # same source, same normalised title, within 7 days
    assert set(members) == {a.article_id, b.article_id, repost.article_id}
    hits = search_collapsed(db, None, Filters(), limit=10)
    assert [h.article_id for h in hits] == [repost.article_id, c.article_id]  # the newest of each story
    # a revision keeps the story and never removes a member
    put(db, sid, ids["a"], "https://example.org/a", STORY + "\nCorrection: the interview was on Monday.")
    with read_session(db) as s:
        assert len(s.execute(select(ClusterMember)).all()) == 4


def test_rule_tags_on_store_and_retag(db, corpus_dir: Path) -> None:
    taxonomy = load_taxonomy(ROOT / "config" / "tags.yaml")
    title, _, text = (corpus_dir / "seed-article.txt").read_text(encoding="utf-8").partition("\n")
    sid, ids = setup_source(db, entries=[entry("g1", "https://example.org/a", ("World",))])
    item = put(db, sid, ids["g1"], "https://example.org/a", text, title, enricher=Enricher(taxonomy))

    def rule_rows():
        with read_session(db) as s:
            return sorted(s.execute(select(ArticleTag.tag, ArticleTag.origin, ArticleTag.rule_version,
                                           ArticleTag.score).where(ArticleTag.article_id == item.article_id)).all())
    rows = rule_rows()
    assert [(t, o) for t, o, _, _ in rows] == [
        ("diplomacy", "rule"), ("military-cooperation", "rule"), ("north-korea", "rule"),
        ("prisoners-of-war", "rule"), ("south-korea", "rule"), ("ukraine", "rule"), ("world", "feed")]
    assert {v for _, o, v, _ in rows if o == "rule"} == {taxonomy.version}
    assert dict((t, sc) for t, o, _, sc in rows if o == "rule")["ukraine"] == 20.0
    summary = retag(db, taxonomy)
    assert (summary["articles"], summary["tagged"], summary["rule_tags"]) == (1, 1, 6)
    assert rule_rows() == rows  # idempotent
    assert retag(db, load_taxonomy(ROOT / "config" / "tags.yaml"))["rule_tags"] == 6
    with read_session(db) as s:
        assert article_records(s, [item.article_id])[0]["version"] == 1
        assert s.execute(select(ArticleVersion.version)).scalars().all() == [1]


def test_key_phrases_on_store_when_enabled_and_by_retag(db, corpus_dir: Path) -> None:
    title, _, text = (corpus_dir / "seed-article.txt").read_text(encoding="utf-8").partition("\n")
    sid, ids = setup_source(db, entries=[entry("g1", "https://example.org/a", ()), entry("g2", "https://example.org/b", ())])
    on = put(db, sid, ids["g1"], "https://example.org/a", text, title, enricher=Enricher(keyphrases=(4, 3)))
    off = put(db, sid, ids["g2"], "https://example.org/b", text + "\nA second article.", title, enricher=Enricher())

    def phrases(article_id: int) -> list[tuple[str, str, str]]:
        with read_session(db) as s:
            return list(s.execute(select(ArticleTag.tag, ArticleTag.origin, ArticleTag.rule_version).where(
                ArticleTag.article_id == article_id, ArticleTag.origin == "keyphrase").order_by(ArticleTag.score)).all())

    got = phrases(on.article_id)
    assert [t for t, _, _ in got] == ["keyword:north korean", "keyword:north korean soldiers", "keyword:north korea",
                                      "keyword:south korea"]
    assert {v for _, _, v in got} == {tagstore.keyphrase_version(4, 3)} and "yake-0.7" in got[0][2]
    assert phrases(off.article_id) == []  # off by default
    summary = retag(db, None, keyphrases=(4, 3))  # key phrases for the whole archive, rules untouched
    assert (summary["articles"], summary["keyphrase_tags"], summary["rule_tags"]) == (2, 8, 0)
    assert phrases(on.article_id) == got and len(phrases(off.article_id)) == 4
    assert retag(db, None, keyphrases=(4, 3))["keyphrase_tags"] == 8  # idempotent
    with read_session(db) as s:
        assert s.execute(select(func.count()).select_from(ArticleTag).where(ArticleTag.origin == "keyphrase")).scalar_one() == 8
