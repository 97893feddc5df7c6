"""Story clusters in the archive: the LSH index, title dedup, and cluster membership.

Each archived article gets a MinHash signature (``article_state.signature``), one ``lsh_bands`` row
per band, and a story: the story of its most similar earlier article when the estimated similarity
reaches the threshold, or else a re-post of the same normalised title by the same source inside the
title window; otherwise it starts a story of its own. Members are never deleted or moved: a revision
adds its new bands (so copies of the new text find it) and keeps its story.

Candidate lookup is one indexed query on (band, bucket) pairs: its cost depends on the number of bands
and on how many articles share a bucket, not on the archive's size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlmodel import Session

from ingest.analyse import neardup
from ingest.analyse.precompute import TextFacts
from ingest.store.db import insert_ignore
from ingest.store.db import run_core as _run
from ingest.store.models import ArticleState, ClusterMember, LshBand, StoryCluster, TitleHash

MAX_CANDIDATES = 200




@dataclass(frozen=True, slots=True)
class Placement:
    cluster_id: int
    similarity: float  # to the cluster's first article
    method: str  # first | minhash | title
    matched_article_id: int | None


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
    return SimpleNamespace(
        signatures=select(ArticleState.article_id, ArticleState.signature, ArticleState.cluster_id).where(
            ArticleState.article_id.in_(bindparam("ids", expanding=True))),  # type: ignore[attr-defined]
        title_owner=select(TitleHash.article_id).where(
            TitleHash.source_id == bindparam("source_id"), TitleHash.title_sha256 == bindparam("tkey"),  # type: ignore[arg-type]
            TitleHash.seen_at >= bindparam("since"),  # type: ignore[arg-type]
            TitleHash.article_id != bindparam("article_id")).order_by(TitleHash.id).limit(1),  # type: ignore[arg-type]
        title_hash=insert(TitleHash.__table__),  # type: ignore[attr-defined]
        bands=insert_ignore(dialect, LshBand.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=["band", "bucket", "article_id"]),
        cluster=insert(StoryCluster.__table__).returning(StoryCluster.__table__.c.id),  # type: ignore[attr-defined]
        first_article=select(StoryCluster.first_article_id).where(StoryCluster.id == bindparam("cluster_id")),  # type: ignore[arg-type]
        member=insert_ignore(dialect, ClusterMember.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=["article_id"]),
        signed=update(state).where(state.c.article_id == bindparam("aid")).values(
            signature=bindparam("sig"), cluster_id=bindparam("cid")),
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
    """Signature and band keys: computed by an extractor process when it used these parameters."""
    pre = facts.signature_for(params) if facts is not None else None
    if pre is not None:
        return neardup.from_bytes(pre[0]), pre[1]
    sig = neardup.text_signature(text, params)
    return sig, neardup.band_keys(sig, params)


def place_article(s: Session, article_id: int, *, text: str, title: str | None, source_id: int,
                  params: neardup.DedupParams, title_window: timedelta, now: datetime,
                  facts: TextFacts | None = None) -> Placement:
    """Sign, index and cluster a newly archived article. ``facts``: the text's keys if computed
    already (ingest.analyse.precompute)."""
    st = _stmts(s)
    sig, keys = _sign(text, params, facts)
    best: tuple[float, int, int | None] | None = None
    cands = candidates(s, keys, article_id)
    sigs = _signatures(s, cands) if cands else {}
    for cand, (cand_sig, cluster_id) in sigs.items():
        sim = neardup.similarity(sig, cand_sig)
        if sim >= params.similarity and (best is None or (sim, -cand) > (best[0], -best[1])):
            best = (sim, cand, cluster_id)
    method = "minhash"
    tkey = facts.title_key if facts is not None else neardup.title_key(title)
    if best is None and tkey is not None and title_window > timedelta(0):
        owner = _run(s, st.title_owner, {"source_id": source_id, "tkey": tkey, "since": now - title_window,
                                         "article_id": article_id}).scalar()
        if owner is not None:
            owner_state = _signatures(s, [owner]).get(owner)
            best = (neardup.similarity(sig, owner_state[0]) if owner_state else 0.0, owner,
                    owner_state[1] if owner_state else None)
            method = "title"
    if tkey is not None:
        _run(s, st.title_hash, {"source_id": source_id, "title_sha256": tkey, "article_id": article_id,
                                "seen_at": now})
    index_bands(s, article_id, keys)
    cluster_id = best[2] if best is not None else None
    if cluster_id is None:
        cluster_id = int(_run(s, st.cluster, {"first_article_id": article_id, "created_at": now}).scalar_one())
        placement = Placement(cluster_id, 1.0, "first", None)
    else:
        first = _run(s, st.first_article, {"cluster_id": cluster_id}).scalar_one()
        first_sig = _signatures(s, [first]).get(first)
        sim = neardup.similarity(sig, first_sig[0]) if first_sig else 0.0
        placement = Placement(cluster_id, sim, method, best[1] if best else None)
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
