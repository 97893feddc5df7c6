"""Stories independent of arrival order: merges, containment (truncated copies), the title rule's text
floor with recurring headlines, concurrent placements, and the 0008 upgrade (both back-ends)."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from test_store import entry, extraction, fetched, setup_source

from ingest import decide
from ingest.analyse import stories
from ingest.analyse.neardup import DedupParams, shingles, text_signature
from ingest.analyse.neardup import similarity as jaccard
from ingest.store import archive, clusters
from ingest.store.db import open_archive, open_engine, read_session, upgrade, write_session
from ingest.store.models import ArticleState, ClusterMember, StoryCluster, StoryMerge
from ingest.store.query import cluster_of

_SYLLABLES = ["ka", "lo", "mi", "ne", "sho", "ru", "ta", "vi", "den", "gar", "pol", "sun", "tor", "el", "an", "is"]
_VOCAB = sorted({"".join(random.Random(i).choices(_SYLLABLES, k=2 + i % 3)) for i in range(3000)})


def prose(seed: int, paragraphs: int, words: int = 45) -> list[str]:
    """Paragraphs of made-up words (a vocabulary of ~2,000): different seeds share no 3-word shingle
    but by chance, like two real articles on different subjects."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(_VOCAB) for _ in range(words)).capitalize() + "." for _ in range(paragraphs)]


def typos(text: str, seed: int, n: int = 4) -> str:
    rng = random.Random(seed)
    words = text.split(" ")
    for _ in range(n):
        i = rng.randrange(len(words))
        words[i] = words[i][::-1]
    return " ".join(words)


ORIGINAL = prose(1, 12)
BRIEFING = "Morning Briefing: what you need to know today"
BOILERPLATE_IN = "Good morning. Here is what you need to know to start your day, in five minutes."
BOILERPLATE_OUT = "Sign up to receive this briefing in your inbox every weekday morning."


def briefing(seed: int) -> str:
    return "\n".join([BOILERPLATE_IN, *prose(seed, 6), BOILERPLATE_OUT])


# (source, key, title, text): one story told four times (the full text, its first 5 of 12 paragraphs with
# a "Read more" link, its last 6, an edited copy with a paragraph added), four different briefings under
# one recurring headline (one re-posted rewritten under the same headline), a letters page, an unrelated
# article.
ARTICLES: list[tuple[str, str, str, str]] = [
    ("wire", "original", "Harbour strike ends after nine days", "\n".join(ORIGINAL)),
    ("p1", "head", "Strike over at the harbour",
     "\n".join(ORIGINAL[:5]) + "\nRead more: the full story at wire.example"),
    ("p2", "tail", "Dockers return to work", "\n".join(ORIGINAL[6:])),
    ("p2", "edited", "Harbour strike ends", typos("\n".join(ORIGINAL[:7] + prose(2, 1) + ORIGINAL[7:]), 3)),
    *[("daily", f"briefing{i}", BRIEFING, briefing(10 + i)) for i in range(4)],
    ("daily", "briefing1-repost", BRIEFING,
     "\n".join([BOILERPLATE_IN, *prose(11, 6)[:3], *prose(20, 3), BOILERPLATE_OUT])),
    ("daily", "letters1", "Letters", "\n".join(prose(30, 4))),
    ("daily", "letters2", "Letters", "\n".join(prose(31, 4))),
    ("other", "unrelated", "Council approves the budget", "\n".join(prose(40, 8))),
]
EXPECTED = {frozenset({"original", "head", "tail", "edited"}), frozenset({"briefing1", "briefing1-repost"}),
            *(frozenset({k}) for k in ("briefing0", "briefing2", "briefing3", "letters1", "letters2", "unrelated"))}


def _rng_order(seed: int) -> list[str]:
    keys = [a[1] for a in ARTICLES]
    random.Random(seed).shuffle(keys)
    return keys


COPIES = ["head", "tail", "edited", "briefing1-repost"]
ORDERS = {
    "originals-first": [a[1] for a in ARTICLES],
    "copies-first": COPIES + [a[1] for a in ARTICLES if a[1] not in COPIES],
    "reversed": [a[1] for a in reversed(ARTICLES)],
    "random-1": _rng_order(1),
    "random-2": _rng_order(2),
    "random-3": _rng_order(3),
}


def setup(engine: Any) -> dict[str, tuple[int, int, str]]:
    """key -> (source id, entry id, url)."""
    out: dict[str, tuple[int, int, str]] = {}
    for source in sorted({a[0] for a in ARTICLES}):
        keys = [a[1] for a in ARTICLES if a[0] == source]
        sid, ids = setup_source(engine, source, entries=[entry(k, f"https://{source}.example/{k}") for k in keys])
        out.update({k: (sid, ids[k], f"https://{source}.example/{k}") for k in keys})
    return out


def put(engine: Any, where: dict[str, tuple[int, int, str]], key: str) -> archive.StoredItem:
    _, _, title, text = next(a for a in ARTICLES if a[1] == key)
    sid, eid, url = where[key]
    [item] = archive.store_outcomes(engine, [archive.PageOutcome((eid,), url, fetched(url, text.encode()),
                                                                 extraction(text, title=title))],
                                    run_id=None, source_id=sid, next_attempt=decide.next_item_attempt)
    assert item.status == "new", (key, item)
    return item


def partition(engine: Any, ids: dict[int, str]) -> set[frozenset[str]]:
    with read_session(engine) as s:
        rows = s.execute(select(ClusterMember.article_id, ClusterMember.cluster_id)).all()
    groups: dict[int, set[str]] = {}
    for article_id, cluster_id in rows:
        groups.setdefault(cluster_id, set()).add(ids[article_id])
    return {frozenset(g) for g in groups.values()}


@pytest.fixture
def db(database_url: str):
    engine = open_archive(database_url)
    yield engine
    engine.dispose()


def test_the_fixture_is_what_it_says() -> None:
    """The links the test relies on (so a change of the texts cannot make it pass vacuously)."""
    p = DedupParams()
    text = {a[1]: a[3] for a in ARTICLES}

    def jac(a: str, b: str) -> float:
        return jaccard(text_signature(text[a], p), text_signature(text[b], p))

    def cont(a: str, b: str) -> float:
        return stories.containment(shingles(text[a], p), shingles(text[b], p), p.containment_min_shingles)

    assert jac("original", "head") < p.similarity <= cont("head", "original")  # only containment links them
    assert jac("head", "tail") == 0.0 and cont("head", "tail") == 0.0  # only the original bridges them
    assert all(jac(f"briefing{i}", f"briefing{j}") < 0.1 for i in range(4) for j in range(i))
    assert p.title_similarity <= jac("briefing1", "briefing1-repost") < p.similarity
    assert cont("briefing1", "briefing1-repost") < p.containment


@pytest.mark.parametrize("order", list(ORDERS))
def test_any_arrival_order_gives_the_same_stories(db: Any, order: str) -> None:
    where = setup(db)
    ids = {put(db, where, key).article_id: key for key in ORDERS[order]}
    assert partition(db, ids) == EXPECTED
    with read_session(db) as s:
        merges = s.execute(select(StoryMerge)).scalars().all()
        n_members = s.execute(select(func.count()).select_from(ClusterMember)).scalar_one()
        n_clusters = s.execute(select(func.count()).select_from(StoryCluster)).scalar_one()
        states = dict(s.execute(select(ArticleState.article_id, ArticleState.cluster_id)).all())
        members = dict(s.execute(select(ClusterMember.article_id, ClusterMember.cluster_id)).all())
        roots = clusters.resolve(s, {m.from_cluster_id for m in merges} | set(members.values()))
    assert n_members == len(ARTICLES) and states == members  # nobody lost; article_state follows
    assert n_clusters == len(EXPECTED) + len(merges)  # a merged story's row stays
    assert all(m.into_cluster_id < m.from_cluster_id and m.members >= 1 for m in merges)
    assert all(roots[c] == c for c in members.values())  # members carry surviving ids only
    assert all(roots[m.from_cluster_id] in members.values() for m in merges)  # old ids resolve
    if order == "copies-first":  # head and tail started two stories; the edited full copy merged them
        [merge] = merges
        by_key = {v: k for k, v in ids.items()}
        assert merge.article_id == by_key["edited"] and merge.reason == "containment"
        with read_session(db) as s:
            story = cluster_of(s, by_key["tail"])
        assert story is not None and story["id"] == merge.into_cluster_id
        assert story["merged"] == [{"from": merge.from_cluster_id, "into": merge.into_cluster_id,
                                    "reason": "containment", "similarity": merge.similarity,
                                    "by_article_id": by_key["edited"]}]
        assert {m["article_id"] for m in story["members"]} == {by_key[k] for k in ("original", "head", "tail", "edited")}
        methods = {ids[m["article_id"]]: m["method"] for m in story["members"]}
        assert (methods["head"], methods["edited"], methods["original"]) == ("first", "containment", "minhash")


def test_recurring_headlines_need_similar_texts(db: Any) -> None:
    """Six different briefings under one headline stay six stories; a rewritten re-post joins its own."""
    sid, ids = setup_source(db, "daily", entries=[entry(f"b{i}", f"https://daily.example/b{i}") for i in range(7)])
    texts = [briefing(100 + i) for i in range(6)]
    texts.append("\n".join([BOILERPLATE_IN, *prose(103, 6)[:3], *prose(200, 3), BOILERPLATE_OUT]))
    placed = []
    for i, text in enumerate(texts):
        url = f"https://daily.example/b{i}"
        [item] = archive.store_outcomes(db, [archive.PageOutcome((ids[f"b{i}"],), url, fetched(url, text.encode()),
                                                                 extraction(text, title=BRIEFING))],
                                        run_id=None, source_id=sid, next_attempt=decide.next_item_attempt)
        placed.append(item.article_id)
    with read_session(db) as s:
        story = {a: cluster_of(s, a) for a in placed}
    assert len({story[a]["id"] for a in placed[:6]}) == 6
    assert story[placed[6]]["id"] == story[placed[3]]["id"]
    assert {m["article_id"]: m["method"] for m in story[placed[6]]["members"]}[placed[6]] == "title"


def test_truncated_copies_join_by_containment(db: Any) -> None:
    """Copies cut to their first 60 %, 40 % and 25 % under a "Read more" link: Jaccard similarities of
    about their share; the lead index finds the short ones, containment links them."""
    full = "\n".join(prose(7, 16))
    cuts = {f"cut{pct}": full[:int(len(full) * pct / 100)].rsplit(" ", 1)[0] + " … Read more" for pct in (60, 40, 25)}
    sid, ids = setup_source(db, "site", entries=[entry(k, f"https://site.example/{k}") for k in ["full", *cuts]])
    placed = {}
    for key, text in [*cuts.items(), ("full", full)]:
        url = f"https://site.example/{key}"
        [item] = archive.store_outcomes(db, [archive.PageOutcome((ids[key],), url, fetched(url, text.encode()),
                                                                 extraction(text, title=f"Title {key}"))],
                                        run_id=None, source_id=sid, next_attempt=decide.next_item_attempt)
        placed[key] = item.article_id
    with read_session(db) as s:
        story = cluster_of(s, placed["full"])
    assert story is not None and {m["article_id"] for m in story["members"]} == set(placed.values())
    p = DedupParams()
    assert jaccard(text_signature(cuts["cut25"], p), text_signature(full, p)) < 0.35  # not a text-band match


def _concurrently(fns: list[Any]) -> None:
    barrier = threading.Barrier(len(fns))
    errors: list[BaseException] = []

    def run(fn: Any) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as exc:  # reported below
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_concurrent_placements_make_one_story(db: Any) -> None:
    """Runs placing copies at the same moment: near-duplicates placed together, and two originals that
    each merge the same two stories at once. Whatever the interleaving: one story, merged once."""
    keys = ["c0", "c1", "c2", "head", "tail", "orig", "orig2"]
    where = {}
    for k in keys:  # one source each: the archive's per-source work is what runs in parallel
        sid, ids = setup_source(db, f"s-{k}", entries=[entry(k, f"https://{k}.example/a")])
        where[k] = (sid, ids[k], f"https://{k}.example/a")
    base = prose(50, 10)
    texts = {f"c{i}": typos("\n".join(base), 60 + i) for i in range(3)}
    texts.update(head="\n".join(base[:4]) + "\nRead more", tail="\n".join(base[5:]),
                 orig="\n".join(base), orig2="\n".join(base) + "\nUpdated at noon.")

    def store(k: str) -> Any:
        sid, eid, url = where[k]
        return lambda: archive.store_outcomes(
            db, [archive.PageOutcome((eid,), url, fetched(url, texts[k].encode()), extraction(texts[k], title=k))],
            run_id=None, source_id=sid, next_attempt=decide.next_item_attempt)
    _concurrently([store(k) for k in ("c0", "c1", "c2")])
    with read_session(db) as s:
        assert len(set(s.execute(select(ClusterMember.cluster_id)).scalars())) == 1
    _concurrently([store(k) for k in ("head", "tail")])
    _concurrently([store(k) for k in ("orig", "orig2")])
    with read_session(db) as s:
        members = s.execute(select(ClusterMember.cluster_id)).scalars().all()
        merges = s.execute(select(StoryMerge)).scalars().all()
    assert len(members) == 7 and len(set(members)) == 1
    assert len(merges) == len({m.from_cluster_id for m in merges}) and all(
        m.from_cluster_id not in members for m in merges)


def test_merge_records_are_refused_twice_and_backwards(db: Any) -> None:
    """The database itself refuses a second merge of one story and a merge into a newer one."""
    from sqlalchemy.exc import IntegrityError

    where = setup(db)
    a, b = put(db, where, "head").article_id, put(db, where, "tail").article_id
    with read_session(db) as s:
        ca, cb = (s.get(ClusterMember, a).cluster_id, s.get(ClusterMember, b).cluster_id)
    low, high = sorted((ca, cb))
    row = {"at": fetched("x").records[0].started_at, "reason": "minhash", "similarity": 0.9, "members": 1}
    with pytest.raises(IntegrityError), write_session(db) as s:
        s.add(StoryMerge(from_cluster_id=low, into_cluster_id=high, **row))
    with write_session(db) as s:
        s.add(StoryMerge(from_cluster_id=high, into_cluster_id=low, **row))
    with pytest.raises(IntegrityError), write_session(db) as s:
        s.add(StoryMerge(from_cluster_id=high, into_cluster_id=low, **row))
    with read_session(db) as s:
        assert clusters.resolve(s, {high, low}) == {high: low, low: low}


def test_an_archive_at_0007_upgrades(database_url: str) -> None:
    engine = open_engine(database_url)
    upgrade(engine, "0007")
    assert upgrade(engine, "head")[0] == "0007"
    engine.dispose()
    engine = open_archive(database_url)
    where = setup(engine)
    for key in ("head", "tail", "original"):
        put(engine, where, key)
    with read_session(engine) as s:
        assert s.execute(select(func.count()).select_from(StoryMerge)).scalar_one() == 1
    engine.dispose()
