"""Story clusters in the archive: the LSH index, title dedup, cluster membership and merges.

Each archived article gets a MinHash signature (``article_state.signature``), one ``lsh_bands`` row
per text band and per lead band (the lead index: truncated copies), and a story, decided by
:mod:`ingest.analyse.stories` from its links to earlier articles: near-duplicate text, containment
(checked exactly on the candidates' stored texts), or a re-post of the same normalised title by the same
source inside the title window with some text similarity. An article that links to several stories
merges them into the oldest: a ``story_merges`` row per merged story, whose members then carry the
surviving id (members are never deleted; ``resolve`` maps an old story id to the surviving one). A
revision adds its new bands (so copies of the new text find it) and keeps its story.

Concurrent runs: on SQLite writers are serialised (BEGIN IMMEDIATE). On PostgreSQL a placement first
takes transaction-scoped advisory locks on its LSH keys and title key, so two near-duplicates placed at
the same time are placed one after the other (the second sees the first's bands once it gets the lock),
then locks the linked stories' rows in id order and re-reads their merges, so two runs never merge the
same story twice or into different stories. The primary key and the check of ``story_merges`` make a
second merge of one story, or a cycle, an error rather than a silent inconsistency. A lock wait that
ends in a deadlock aborts the transaction, which the archive runs again (store/retry.py).

Candidate lookup is one indexed query on (band, bucket) pairs: its cost depends on the number of bands
and on how many articles share a bucket, not on the archive's size.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy import and_, bindparam, insert, or_, select, text, update
from sqlmodel import Session

from ingest.analyse import neardup, stories
from ingest.analyse.precompute import TextFacts
from ingest.store.db import insert_ignore
from ingest.store.db import run_core as _run
from ingest.store.models import (
    Article,
    ArticleState,
    ClusterMember,
    LshBand,
    StoryCluster,
    StoryMerge,
    TitleHash,
)

MAX_CANDIDATES = 200
MAX_TITLE_CANDIDATES = 50  # earlier articles of one source under one headline, within the window
MAX_CONTAINMENT_CHECKS = 20  # candidates whose texts are read and compared exactly, best Jaccard first
MAX_MERGE_DEPTH = 64  # a chain of merges is at most this long (each merge goes to a lower id)


@dataclass(frozen=True, slots=True)
class Placement:
    cluster_id: int
    similarity: float  # to the cluster's first article
    method: str  # first | minhash | containment | title
    matched_article_id: int | None
    merged: tuple[int, ...] = ()  # stories merged into ``cluster_id`` by this placement


@functools.cache
def _candidates_query(n_keys: int) -> Any:
    # One (band = ? AND bucket = ?) term per band: both engines answer each from the primary-key index
    # (a row-value IN list made SQLite scan the table). Built once per band count and executed with
    # parameters: building this 42-term statement per article cost more CPU than the database's work.
    match = or_(*[and_(LshBand.band == bindparam(f"b{i}"), LshBand.bucket == bindparam(f"k{i}"))  # type: ignore[arg-type]
                  for i in range(n_keys)])
    return select(LshBand.article_id).where(match, LshBand.article_id != bindparam("exclude")  # type: ignore[arg-type]
                                            ).distinct().limit(MAX_CANDIDATES)


@functools.cache
def _statements(dialect: str) -> SimpleNamespace:
    """The per-article statements, built once per dialect and executed with parameters."""
    state = ArticleState.__table__  # type: ignore[attr-defined]
    members = ClusterMember.__table__  # type: ignore[attr-defined]
    merges = StoryMerge.__table__  # type: ignore[attr-defined]
    return SimpleNamespace(
        signatures=select(ArticleState.article_id, ArticleState.signature, ArticleState.cluster_id).where(
            ArticleState.article_id.in_(bindparam("ids", expanding=True))),  # type: ignore[attr-defined]
        title_owners=select(TitleHash.article_id).where(
            TitleHash.source_id == bindparam("source_id"), TitleHash.title_sha256 == bindparam("tkey"),  # type: ignore[arg-type]
            TitleHash.seen_at >= bindparam("since"),  # type: ignore[arg-type]
            TitleHash.article_id != bindparam("article_id")).order_by(TitleHash.id).limit(MAX_TITLE_CANDIDATES),  # type: ignore[arg-type]
        title_hash=insert(TitleHash.__table__),  # type: ignore[attr-defined]
        bands=insert_ignore(dialect, LshBand.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=["band", "bucket", "article_id"]),
        cluster=insert(StoryCluster.__table__).returning(StoryCluster.__table__.c.id),  # type: ignore[attr-defined]
        first_article=select(StoryCluster.first_article_id).where(StoryCluster.id == bindparam("cluster_id")),  # type: ignore[arg-type]
        member=insert_ignore(dialect, ClusterMember.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=["article_id"]),
        signed=update(state).where(state.c.article_id == bindparam("aid")).values(
            signature=bindparam("sig"), cluster_id=bindparam("cid")),
        texts=select(Article.id, Article.text).where(Article.id.in_(bindparam("ids", expanding=True))),  # type: ignore[union-attr]
        merged=select(StoryMerge.from_cluster_id, StoryMerge.into_cluster_id).where(
            StoryMerge.from_cluster_id.in_(bindparam("ids", expanding=True))),  # type: ignore[attr-defined]
        lock_clusters=select(StoryCluster.id).where(
            StoryCluster.id.in_(bindparam("ids", expanding=True))).order_by(StoryCluster.id).with_for_update(),  # type: ignore[union-attr]
        merge=insert(merges),
        move_members=update(members).where(members.c.cluster_id == bindparam("old")).values(
            cluster_id=bindparam("new")),
        move_states=update(state).where(state.c.cluster_id == bindparam("old")).values(cluster_id=bindparam("new")),
        advisory=text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS t(k)"),
    )


def _stmts(s: Session) -> SimpleNamespace:
    return _statements(s.get_bind().dialect.name)


def candidates(s: Session, keys: list[tuple[int, int]], exclude: int) -> list[int]:
    params: dict[str, int] = {"exclude": exclude}
    for i, (b, k) in enumerate(keys):
        params[f"b{i}"], params[f"k{i}"] = b, k
    return list(_run(s, _candidates_query(len(keys)), params).scalars().all())


def _signatures(s: Session, ids: list[int]) -> dict[int, tuple[np.ndarray, int | None]]:
    out = {}
    for article_id, sig, cluster_id in _run(s, _stmts(s).signatures, {"ids": ids}):
        if sig is not None:
            out[article_id] = (neardup.from_bytes(sig), cluster_id)
    return out


def index_bands(s: Session, article_id: int, keys: list[tuple[int, int]]) -> None:
    # one executemany of a prepared statement: a multi-row VALUES statement was rebuilt per article
    _run(s, _stmts(s).bands, [{"band": b, "bucket": k, "article_id": article_id} for b, k in keys])


def _sign(text: str, params: neardup.DedupParams, facts: TextFacts | None) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Signature and index keys: computed by an extractor process when it used these parameters."""
    pre = facts.signature_for(params) if facts is not None else None
    if pre is not None:
        return neardup.from_bytes(pre[0]), pre[1]
    return neardup.text_keys(text, params)


def _lock_keys(s: Session, keys: list[tuple[int, int]], title: tuple[int, str] | None) -> None:
    """PostgreSQL: wait for concurrent placements sharing an LSH key or the (source, title) key."""
    if s.get_bind().dialect.name != "postgresql":
        return  # SQLite: one writer at a time already
    # bucket values are signed 64-bit hashes; the band in the high bits keeps bands apart (stays in range)
    ints = {bucket ^ (band << 48) for band, bucket in keys}
    if title is not None:
        ints.add(int.from_bytes(hashlib.blake2b(f"{title[0]}:{title[1]}".encode(), digest_size=8).digest(),
                                "big", signed=True))
    _run(s, _stmts(s).advisory, {"keys": sorted(ints)})  # one order for every run: fewer deadlocks


def resolve(s: Session, cluster_ids: set[int]) -> dict[int, int]:
    """Each story id -> the surviving story it was merged into (itself when never merged)."""
    st = _stmts(s)
    root = {c: c for c in cluster_ids}
    frontier = set(cluster_ids)
    for _ in range(MAX_MERGE_DEPTH):
        if not frontier:
            break
        step = dict(_run(s, st.merged, {"ids": sorted(frontier)}).all())
        for c, r in root.items():
            if r in step:
                root[c] = step[r]
        frontier = set(step.values())
    return root


def _locked_roots(s: Session, cluster_ids: set[int]) -> dict[int, int]:
    """:func:`resolve`, with the surviving stories' rows locked (PostgreSQL: FOR UPDATE, in id order)
    and resolved again after the lock, until no locked story turns out to have been merged meanwhile."""
    st = _stmts(s)
    locked: set[int] = set()
    roots = resolve(s, cluster_ids)
    if s.get_bind().dialect.name != "postgresql":
        return roots  # SQLite: no other writer until this transaction ends
    for _ in range(MAX_MERGE_DEPTH):
        todo = set(roots.values()) - locked
        if not todo:
            return roots
        _run(s, st.lock_clusters, {"ids": sorted(todo)}).all()
        locked |= todo
        roots = resolve(s, cluster_ids)  # a statement after the lock sees what the lock waited for
    return roots


def _containments(s: Session, text: str, ids: list[int], params: neardup.DedupParams) -> dict[int, float]:
    if not ids:
        return {}
    mine = neardup.shingles(text, params)
    return {aid: stories.containment(mine, neardup.shingles(other or "", params), params.containment_min_shingles)
            for aid, other in _run(s, _stmts(s).texts, {"ids": ids})}


def _merge(s: Session, into: int, merges: tuple[tuple[int, str, float], ...], *, article_id: int,
           now: datetime) -> None:
    st = _stmts(s)
    for old, reason, score in merges:
        moved = _run(s, st.move_members, {"old": old, "new": into}).rowcount
        _run(s, st.move_states, {"old": old, "new": into})
        # a plain INSERT: the primary key refuses a second merge of one story (locks make it impossible)
        _run(s, st.merge, {"from_cluster_id": old, "into_cluster_id": into, "at": now, "reason": reason,
                           "similarity": score, "article_id": article_id, "members": moved})


def place_article(s: Session, article_id: int, *, text: str, title: str | None, source_id: int,
                  params: neardup.DedupParams, title_window: timedelta, now: datetime,
                  facts: TextFacts | None = None) -> Placement:
    """Sign, index and cluster a newly archived article (merging the stories it links). ``facts``: the
    text's keys if computed already (ingest.analyse.precompute)."""
    st = _stmts(s)
    sig, keys = _sign(text, params, facts)
    tkey = facts.title_key if facts is not None else neardup.title_key(title)
    use_title = tkey is not None and title_window > timedelta(0)
    _lock_keys(s, keys, (source_id, tkey) if use_title and tkey is not None else None)
    cand_ids = set(candidates(s, keys, article_id))
    title_ids: set[int] = set()
    if use_title:
        title_ids = set(_run(s, st.title_owners, {"source_id": source_id, "tkey": tkey, "since": now - title_window,
                                                  "article_id": article_id}).scalars())
    sigs = _signatures(s, sorted(cand_ids | title_ids)) if cand_ids or title_ids else {}
    jac = {aid: neardup.similarity(sig, cand_sig) for aid, (cand_sig, _) in sigs.items()}
    check = sorted((aid for aid in sigs if stories.wants_containment(jac[aid], params)),
                   key=lambda aid: (-jac[aid], aid))[:MAX_CONTAINMENT_CHECKS]
    contained = _containments(s, text, check, params)
    found = stories.links([stories.Candidate(aid, cluster_id, jac[aid], contained.get(aid), aid in title_ids)
                           for aid, (_, cluster_id) in sigs.items()], params)
    roots = _locked_roots(s, {ln.cluster_id for ln in found}) if found else {}
    decision = stories.decide(found, roots)
    if tkey is not None:
        _run(s, st.title_hash, {"source_id": source_id, "title_sha256": tkey, "article_id": article_id,
                                "seen_at": now})
    index_bands(s, article_id, keys)
    if decision.cluster_id is None:
        cluster_id = int(_run(s, st.cluster, {"first_article_id": article_id, "created_at": now}).scalar_one())
        placement = Placement(cluster_id, 1.0, "first", None)
    else:
        _merge(s, decision.cluster_id, decision.merges, article_id=article_id, now=now)
        first = _run(s, st.first_article, {"cluster_id": decision.cluster_id}).scalar_one()
        first_sig = sigs.get(first) or _signatures(s, [first]).get(first)
        sim = neardup.similarity(sig, first_sig[0]) if first_sig else 0.0
        placement = Placement(decision.cluster_id, sim, decision.method, decision.matched_article_id,
                              tuple(m[0] for m in decision.merges))
    _run(s, st.member, {"article_id": article_id, "cluster_id": placement.cluster_id,
                        "similarity": round(placement.similarity, 4), "method": placement.method, "created_at": now})
    # signature and story in one UPDATE (nothing above reads this article's own state row)
    _run(s, st.signed, {"aid": article_id, "sig": neardup.to_bytes(sig), "cid": placement.cluster_id})
    return placement


def resign_article(s: Session, article_id: int, *, text: str, params: neardup.DedupParams,
                   facts: TextFacts | None = None) -> None:
    """A revision: new signature and bands (old bands stay, so copies of either text find it)."""
    sig, keys = _sign(text, params, facts)
    index_bands(s, article_id, keys)
    _run(s, update(ArticleState).where(ArticleState.article_id == article_id).values(  # type: ignore[arg-type]
        signature=neardup.to_bytes(sig)))
