"""Extraction drift (pure): a source's recent extractions measured against its own history.

A site redesign can turn a source's archived text into navigation crumbs, or empty its dates, with no
error anywhere: every page still answers 200 and every extraction "succeeds". What moves is the shape
of what comes out, so each source is watched through its own *observations* (one per page fetch that
reached the extractor, oldest first) and compared with itself:

- the share of ``empty_extraction`` and of ``bot_wall`` outcomes;
- the median text length;
- the share of texts without a title, a date, authors;
- the share of texts that near-duplicate another text of the same set (template text: the same
  boilerplate on every page), by MinHash signature, or equal normalised-text hash;
- the language mix (total variation distance between the two distributions).

The *window* is the latest ``window`` observations; the *baseline* the ``baseline`` observations before
it. A measure moved when it differs beyond its threshold, each side holding at least ``min_sample``
observations that say something about it. :func:`scan` walks the history forward so that it can say
since when a source drifts, and it freezes the baseline while the source drifts (the observations
made during a drift never enter a later baseline): a broken template does not become "normal" after a
few hundred pages. A lasting change does become the baseline once it is older than the history read
(``history`` observations), which is how a genuine redesign is accepted.

Why hand-written: this is a few rolling counts and a median over short sequences; a change-point
library (ruptures, river) would model one numeric series at a time and know nothing of samples that
do not say anything about a measure (a page without text has no title to miss).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

TEXT = "text"
EMPTY = "empty_extraction"
BOT_WALL = "bot_wall"
OUTCOMES = (TEXT, EMPTY, BOT_WALL)

# Measure names, as shown in `ingest sources`, on the web sources page and in the poll summary.
MEASURES = ("empty_extraction", "bot_wall", "text_chars", "missing_title", "missing_date", "missing_authors",
            "near_duplicates", "languages")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The ``drift:`` section of feeds.yaml (defaults here; ``ingest.config`` validates the file)."""

    window: int = 30  # a source's latest observations (page extractions) ...
    baseline: int = 200  # ... compared with up to this many before them
    min_sample: int = 10  # no verdict on a measure with fewer observations on either side
    history: int = 1000  # observations read per source: the scan that finds "drifting since"
    failure_share: float = 0.25  # the share of empty_extraction, or of bot_wall, up by this much
    text_chars_ratio: float = 0.5  # median text length below this times the baseline's, or above 1/this
    missing_share: float = 0.3  # the share without a title, a date or authors, up by this much (each)
    near_duplicate_share: float = 0.3  # the share of near-duplicate texts up by this much
    near_duplicate_similarity: float = 0.8  # estimated Jaccard at or above which two texts are one template
    language_shift: float = 0.4  # total variation distance between the two language mixes

    def __post_init__(self) -> None:
        problems = []
        for name in ("window", "baseline", "min_sample", "history"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a whole number of at least 1")
        for name in ("failure_share", "text_chars_ratio", "missing_share", "near_duplicate_share",
                     "near_duplicate_similarity", "language_shift"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 1:
                problems.append(f"{name} must be a number above 0 and at most 1")
        if not problems and self.min_sample > self.window:
            problems.append("min_sample must not exceed window")
        if not problems and self.history < self.window + self.min_sample:
            problems.append("history must hold at least window + min_sample observations")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Thresholds:
        """From the YAML mapping as written (the read commands' light path: no pydantic). Unknown keys
        and bad values are ``ValueError`` naming the key."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError("must be a mapping of drift settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown key")
        return cls(**dict(data))


@dataclass(frozen=True, slots=True)
class Observation:
    """What one page fetch of a source gave the extractor. ``None`` fields say nothing (a duplicate page's
    own title is not kept: it is the archived article's text)."""

    at: datetime
    outcome: str  # text | empty_extraction | bot_wall
    item: str  # whose text it is: near-duplicates of the same item (an article's revisions) do not count
    chars: int | None = None
    title: bool | None = None
    date: bool | None = None
    authors: bool | None = None
    language: str | None = None
    signature: bytes | None = None  # MinHash (uint32 values), as the archive keeps it
    text_key: str | None = None  # normalised-text hash: equal keys are duplicates
    ref: str | None = None  # whose signature it is, for a stored walk (store/driftstate.py); no measure reads it


@dataclass(frozen=True, slots=True)
class Moved:
    """One measure beyond its threshold: its value in the window and in the baseline."""

    measure: str
    window: float
    baseline: float

    def describe(self) -> str:
        if self.measure == "text_chars":
            return f"median text {self.baseline:.0f} → {self.window:.0f} chars"
        if self.measure == "languages":
            return f"language mix moved {self.window:.0%}"
        return f"{self.measure.replace('_', ' ')} {self.baseline:.0%} → {self.window:.0%}"


@dataclass(frozen=True, slots=True)
class DriftState:
    """A source's drift verdict at the end of its history."""

    drifting: bool
    since: datetime | None  # when the current drift began (the observation that raised it)
    moved: tuple[Moved, ...]  # what moved at the latest observation
    window: dict[str, Any] = field(default_factory=dict)  # the measures of the latest window
    baseline: dict[str, Any] = field(default_factory=dict)  # ... and of its baseline
    observations: int = 0
    judged: bool = False  # enough observations for a verdict

    def describe(self) -> str:
        if not self.drifting:
            return "-"
        since = self.since.strftime("%Y-%m-%d %H:%M") if self.since else "-"
        return f"drifting since {since}: " + "; ".join(m.describe() for m in self.moved)

    def as_dict(self) -> dict[str, Any]:
        return {"drifting": self.drifting,
                "since": self.since.isoformat().replace("+00:00", "Z") if self.since else None,
                "moved": [{"measure": m.measure, "window": m.window, "baseline": m.baseline,
                           "describe": m.describe()} for m in self.moved],
                "window": self.window, "baseline": self.baseline, "observations": self.observations,
                "judged": self.judged, "describe": self.describe()}


NOT_JUDGED = DriftState(drifting=False, since=None, moved=())


# --- near-duplicate partners ------------------------------------------------------------------------

PARTNER_REACH = 50  # partners kept per observation on each side, nearest first (see below)


def near_duplicate_partners(observations: Sequence[Observation], similarity: float,
                            rows: int = 3) -> list[list[int]]:
    """For each observation, indices of others whose text near-duplicates it (estimated Jaccard at or
    above ``similarity``, or the same normalised-text hash), of another item. Candidates come from LSH
    bands of ``rows`` signature values (``ingest.analyse.neardup``'s scheme), so a healthy source costs
    about one dictionary look-up per band and observation. Within a group of candidates only the
    ``PARTNER_REACH`` nearest on each side (in time) are compared: "has a partner in this window" needs
    no more, and a template that makes one group of a thousand pages costs no million comparisons."""
    import numpy as np  # (here: a read command that judges no signature does not pay its import)

    n = len(observations)
    partners: list[set[int]] = [set() for _ in range(n)]
    by_key: dict[str, list[int]] = {}
    sigs: dict[int, Any] = {}
    for i, o in enumerate(observations):
        if o.outcome != TEXT:
            continue
        if o.text_key:
            by_key.setdefault(o.text_key, []).append(i)
        if o.signature and len(o.signature) % 4 == 0:
            sigs[i] = np.frombuffer(o.signature, dtype=np.uint32)
    for group in by_key.values():
        for a, i in enumerate(group):
            for j in group[a + 1:a + 1 + PARTNER_REACH]:
                _pair(i, j, observations, partners)
    buckets: dict[tuple[int, int, bytes], list[int]] = {}
    for i, sig in sigs.items():
        for band in range(len(sig) // rows):
            buckets.setdefault((len(sig), band, sig[band * rows:(band + 1) * rows].tobytes()), []).append(i)
    seen: set[tuple[int, ...]] = set()
    for members in buckets.values():
        key = tuple(members)
        if len(members) < 2 or key in seen:
            continue
        seen.add(key)
        matrix = np.stack([sigs[i] for i in members])
        for d in range(1, min(PARTNER_REACH, len(members) - 1) + 1):
            close = np.nonzero((matrix[:-d] == matrix[d:]).mean(axis=1) >= similarity)[0]
            for a in close:
                _pair(members[int(a)], members[int(a) + d], observations, partners)
    return [_nearest(i, p) for i, p in enumerate(partners)]


def _pair(i: int, j: int, observations: Sequence[Observation], partners: list[set[int]]) -> None:
    if observations[i].item != observations[j].item:
        partners[i].add(j)
        partners[j].add(i)


def _nearest(i: int, found: set[int]) -> list[int]:
    before = sorted(j for j in found if j < i)[-PARTNER_REACH:]
    after = sorted(j for j in found if j > i)[:PARTNER_REACH]
    return before + after


# --- rolling measures --------------------------------------------------------------------------------

class _Rolling:
    """The measures of a set of observations that grows and shrinks one observation at a time."""

    def __init__(self, observations: Sequence[Observation], partners: list[list[int]]) -> None:
        self._obs = observations
        self._partners = partners
        self.members: set[int] = set()
        self.outcomes: Counter[str] = Counter()
        self.known: Counter[str] = Counter()  # field -> observations that say whether it is there
        self.missing: Counter[str] = Counter()
        self.chars: list[int] = []  # sorted
        self.languages: Counter[str] = Counter()
        self._links: Counter[int] = Counter()  # member -> partners in the set
        self.near = 0  # text members with a partner in the set
        self.with_signature = 0

    def __len__(self) -> int:
        return len(self.members)

    def _change(self, i: int, step: int) -> None:
        o = self._obs[i]
        self.outcomes[o.outcome] += step
        if o.outcome != TEXT:
            return
        for name, present in (("title", o.title), ("date", o.date), ("authors", o.authors)):
            if present is not None:
                self.known[name] += step
                self.missing[name] += step * (not present)
        if o.chars is not None:
            if step > 0:
                bisect.insort(self.chars, o.chars)
            else:
                del self.chars[bisect.bisect_left(self.chars, o.chars)]
        if o.language:
            self.languages[o.language] += step
        if o.signature or o.text_key:
            self.with_signature += step

    def add(self, i: int) -> None:
        self.members.add(i)
        self._change(i, 1)
        for j in self._partners[i]:
            if j in self.members:
                self._link(j, 1)
                self._link(i, 1)

    def remove(self, i: int) -> None:
        for j in self._partners[i]:
            if j in self.members:
                self._link(j, -1)
                self._link(i, -1)
        self.members.discard(i)
        self._change(i, -1)

    def _link(self, i: int, step: int) -> None:
        before = self._links[i]
        self._links[i] += step
        if (before == 0) != (self._links[i] == 0):
            self.near += 1 if step > 0 else -1

    def values(self, min_sample: int) -> dict[str, Any]:
        """Each measure with its sample size; the value is None when the sample is below ``min_sample``."""
        n = len(self.members)
        texts = self.outcomes[TEXT]

        def share(count: int, of: int) -> float | None:
            return count / of if of >= min_sample else None

        median = None
        if len(self.chars) >= min_sample:
            mid = len(self.chars) // 2
            median = float(self.chars[mid]) if len(self.chars) % 2 else (self.chars[mid - 1] + self.chars[mid]) / 2
        n_lang = sum(self.languages.values())
        return {
            "observations": n,
            "empty_extraction": share(self.outcomes[EMPTY], n),
            "bot_wall": share(self.outcomes[BOT_WALL], n),
            "text_chars": median,
            "missing_title": share(self.missing["title"], self.known["title"]),
            "missing_date": share(self.missing["date"], self.known["date"]),
            "missing_authors": share(self.missing["authors"], self.known["authors"]),
            "near_duplicates": share(self.near, self.with_signature),
            "languages": ({k: v / n_lang for k, v in sorted(self.languages.items()) if v}
                          if n_lang >= min_sample else None),
            "texts": texts,
        }


def compare(window: Mapping[str, Any], baseline: Mapping[str, Any], t: Thresholds) -> tuple[Moved, ...]:
    """The measures of ``window`` beyond their thresholds against ``baseline`` (None values: no verdict)."""
    moved: list[Moved] = []

    def rise(measure: str, limit: float) -> None:
        w, b = window.get(measure), baseline.get(measure)
        if w is not None and b is not None and w - b > limit:
            moved.append(Moved(measure, w, b))

    rise("empty_extraction", t.failure_share)
    rise("bot_wall", t.failure_share)
    w, b = window.get("text_chars"), baseline.get("text_chars")
    if w is not None and b and (w < b * t.text_chars_ratio or w > b / t.text_chars_ratio):
        moved.append(Moved("text_chars", w, b))
    for measure in ("missing_title", "missing_date", "missing_authors"):
        rise(measure, t.missing_share)
    rise("near_duplicates", t.near_duplicate_share)
    wl, bl = window.get("languages"), baseline.get("languages")
    if wl is not None and bl is not None:
        distance = sum(abs(wl.get(k, 0.0) - bl.get(k, 0.0)) for k in set(wl) | set(bl)) / 2
        if distance > t.language_shift:
            moved.append(Moved("languages", distance, 0.0))
    return tuple(moved)
