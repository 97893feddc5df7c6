"""Which story a new article belongs to (pure): links to earlier articles, and which stories merge.

A new article *links* to an earlier one when their texts are near-duplicates (estimated Jaccard
similarity of word shingles at or above ``similarity``), when most of the shorter text is found in the
longer (``containment``: a copy truncated to its first paragraphs under a "Read more" link has a
Jaccard similarity of only its share of the original), or when the same source re-posted the same
normalised headline within the title window *and* the texts are similar enough (``title_similarity``:
recurring headlines such as "Morning Briefing" or "Letters" head different texts).

Every link is symmetric (the same two texts link whichever came first), and a new article joins every
story it links to: when it links to several, they merge into the oldest (lowest id). So stories are the
connected parts of the link graph, the same whatever the order the articles arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ingest.analyse.neardup import DedupParams

# A match by text outranks a match by title; a higher score outranks a lower one.
_RANK = {"minhash": 2, "containment": 1, "title": 0}


@dataclass(frozen=True, slots=True)
class Candidate:
    """An earlier article that may share the new article's story."""

    article_id: int
    cluster_id: int | None  # its story, as stored (may have been merged since: resolve it)
    jaccard: float  # estimated Jaccard similarity of the two texts' shingles
    containment: float | None = None  # share of the shorter text's shingles in the longer, when checked
    same_title: bool = False  # same source, same normalised title, within the title window


@dataclass(frozen=True, slots=True)
class Link:
    article_id: int
    cluster_id: int
    method: str  # minhash | containment | title
    score: float  # the Jaccard estimate (minhash, title) or the containment


@dataclass(frozen=True, slots=True)
class StoryDecision:
    """Join ``cluster_id`` (None: start a story) and merge the ``merges`` (cluster id, method, score:
    the best link into that story) into it."""

    cluster_id: int | None
    method: str  # first | minhash | containment | title
    matched_article_id: int | None
    merges: tuple[tuple[int, str, float], ...] = ()


def containment(a: set[int], b: set[int], min_shingles: int = 0) -> float:
    """Share of the smaller shingle set found in the larger; 0 when the smaller has fewer than
    ``min_shingles`` shingles."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if not small or len(small) < min_shingles:
        return 0.0
    return len(small & large) / len(small)


def wants_containment(jaccard: float, params: DedupParams) -> bool:
    """Whether a candidate's containment is worth checking: only when the Jaccard rule did not link."""
    return params.containment <= 1.0 and jaccard < params.similarity


def link_method(c: Candidate, params: DedupParams) -> tuple[str, float] | None:
    """How ``c`` links to the new article (method, score), or None."""
    if c.jaccard >= params.similarity:
        return "minhash", c.jaccard
    if c.containment is not None and c.containment >= params.containment:
        return "containment", c.containment
    if c.same_title and c.jaccard >= params.title_similarity:
        return "title", c.jaccard
    return None


def links(cands: Iterable[Candidate], params: DedupParams) -> list[Link]:
    """The candidates the new article links to (those with a story)."""
    out = []
    for c in cands:
        m = link_method(c, params)
        if m is not None and c.cluster_id is not None:
            out.append(Link(c.article_id, c.cluster_id, m[0], m[1]))
    return out


def _best(ls: Iterable[Link]) -> Link:
    return max(ls, key=lambda x: (_RANK[x.method], x.score, -x.article_id))


def decide(found: list[Link], roots: Mapping[int, int]) -> StoryDecision:
    """Join the oldest of the linked stories (``roots``: stored cluster id -> surviving cluster id) and
    merge the others into it; with no link, start a story."""
    if not found:
        return StoryDecision(None, "first", None)
    by_root: dict[int, list[Link]] = {}
    for ln in found:
        by_root.setdefault(roots.get(ln.cluster_id, ln.cluster_id), []).append(ln)
    target = min(by_root)
    best = _best(by_root[target])
    merges = []
    for root in sorted(by_root):
        if root != target:
            b = _best(by_root[root])
            merges.append((root, b.method, round(b.score, 4)))
    return StoryDecision(target, best.method, best.article_id, tuple(merges))
