"""The drift walk as a state that goes on (pure): a source's verdict carried from one batch of
observations to the next, so that judging new pages costs the new pages plus the stored sets, never the
whole history again.

:func:`scan` walks a history from nothing; :func:`advance` walks on from a
:class:`Walk` (the latest ``window`` observations with their "kept out of the baseline" flags, the
``baseline`` observations before them, the verdict so far), which is what ``store/driftstate.py``
keeps per source. Both are the same loop, so a source judged page by page over months and one judged
from its history at once agree (``tests/test_drift.py`` checks it).

What ``scan`` gets from reading only ``history`` observations (a lasting change becomes the baseline once
it is older than that) the walk gets by counting: after ``history`` observations of one drift, the pages
of the drift that left the window (the latest ``baseline`` of them, kept aside meanwhile as ``shadow``)
become the baseline and the flag falls.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from ingest.analyse.drift import (
    NOT_JUDGED,
    DriftState,
    Moved,
    Observation,
    Thresholds,
    _Rolling,
    compare,
    near_duplicate_partners,
)

TEXT_KEY_CHARS = 16  # of a normalised-text hash: 64 bits say "equal" well enough, and the state stays small


@dataclass(slots=True)
class Walk:
    """Where a source's drift walk stands after its latest observation."""

    window: list[Observation] = field(default_factory=list)  # the latest, oldest first (at most ``window``)
    excluded: list[bool] = field(default_factory=list)  # per window member: never enters the baseline
    base: list[Observation] = field(default_factory=list)  # the baseline, oldest first (at most ``baseline``)
    shadow: list[Observation] = field(default_factory=list)  # the drift's pages that left the window
    drifting: bool = False
    since: datetime | None = None
    moved: tuple[Moved, ...] = ()
    judged: bool = False
    seen: int = 0  # observations walked, all told
    drift_run: int = 0  # observations since the current drift began

    def members(self) -> list[Observation]:
        """Every observation the walk holds (whose signatures the next step compares)."""
        return [*self.base, *self.window, *self.shadow]


def advance(walk: Walk, new: Sequence[Observation], t: Thresholds) -> tuple[Walk, DriftState]:
    """The walk after ``new`` (oldest first, all after the walk's latest), and the verdict then."""
    obs = [*walk.base, *walk.window, *short_keys(new)]
    nb, nw = len(walk.base), len(walk.window)
    partners = near_duplicate_partners(obs, t.near_duplicate_similarity) if obs else []
    window, base = _Rolling(obs, partners), _Rolling(obs, partners)
    base_order = deque(range(nb))
    win_order = deque(range(nb, nb + nw))
    for i in base_order:
        base.add(i)
    for i in win_order:
        window.add(i)
    excluded = {nb + k for k, flag in enumerate(walk.excluded) if flag}
    shadow = list(walk.shadow)
    drifting, since, moved, judged, run = walk.drifting, walk.since, walk.moved, walk.judged, walk.drift_run
    seen = walk.seen
    for i in range(nb + nw, len(obs)):
        seen += 1
        window.add(i)
        win_order.append(i)
        if len(win_order) > t.window:
            leaving = win_order.popleft()
            window.remove(leaving)
            if not drifting and leaving not in excluded:
                base.add(leaving)
                base_order.append(leaving)
                if len(base_order) > t.baseline:
                    base.remove(base_order.popleft())
            elif drifting:
                shadow.append(obs[leaving])
                del shadow[:-t.baseline]
        if drifting:
            run += 1
            if run >= t.history:
                # a drift older than the history is the source's new normal: its pages are the baseline
                accepted = Walk(window=[obs[j] for j in win_order], excluded=[False] * len(win_order),
                                base=shadow[-t.baseline:], judged=judged, seen=seen)
                return advance(accepted, obs[i + 1:], t)
        if len(window) < t.min_sample or len(base) < t.min_sample:
            continue
        judged = True
        w_values = window.values(t.min_sample)
        found = compare(w_values, base.values(t.min_sample), t)
        if found and not drifting:
            drifting, since, moved, run = True, obs[i].at, found, 0
            excluded.update(window.members)
            shadow = []
        elif found:
            moved = found
            excluded.add(i)
        elif drifting and all(w_values.get(m.measure) is not None for m in moved):
            drifting, since, moved, run = False, None, (), 0  # recovered: the measures that moved say so again
            shadow = []
        elif drifting:
            excluded.add(i)  # no verdict on what moved (too few pages that say): not a recovery
    after = Walk(window=[obs[j] for j in win_order], excluded=[j in excluded for j in win_order],
                 base=[obs[j] for j in base_order], shadow=shadow, drifting=drifting, since=since,
                 moved=moved if drifting else (), judged=judged, seen=seen, drift_run=run)
    state = DriftState(drifting=drifting, since=since, moved=after.moved, window=window.values(t.min_sample),
                       baseline=base.values(t.min_sample), observations=seen, judged=judged)
    return after, state


# --- the stored form ----------------------------------------------------------------------------------
# Observations as short lists without their signatures (kept by the archive already, in article_state:
# ``Observation.ref`` says whose): a source's walk is some 230 of them, ~25 KB of JSON.

def _obs_out(o: Observation) -> list[Any]:
    return [o.at.isoformat(), o.outcome, o.item, o.chars, o.title, o.date, o.authors, o.language,
            o.text_key[:TEXT_KEY_CHARS] if o.text_key else None, o.ref]


def _obs_in(v: Sequence[Any]) -> Observation:
    return Observation(at=datetime.fromisoformat(v[0]), outcome=v[1], item=v[2], chars=v[3], title=v[4],
                       date=v[5], authors=v[6], language=v[7], text_key=v[8], ref=v[9])


def short_keys(observations: Sequence[Observation]) -> list[Observation]:
    """Observations with their text keys as stored (so that a new key compares with a stored one)."""
    return [replace(o, text_key=o.text_key[:TEXT_KEY_CHARS]) if o.text_key and len(o.text_key) > TEXT_KEY_CHARS
            else o for o in observations]


def walk_to_json(walk: Walk, t: Thresholds) -> dict[str, Any]:
    return {"thresholds": asdict(t), "window": [_obs_out(o) for o in walk.window],
            "excluded": list(walk.excluded), "base": [_obs_out(o) for o in walk.base],
            "shadow": [_obs_out(o) for o in walk.shadow], "drifting": walk.drifting,
            "since": walk.since.isoformat() if walk.since else None,
            "moved": [[m.measure, m.window, m.baseline] for m in walk.moved], "judged": walk.judged,
            "seen": walk.seen, "drift_run": walk.drift_run}


def walk_from_json(data: Mapping[str, Any], t: Thresholds) -> Walk | None:
    """The stored walk, or None when it was made with other thresholds (or by an older layout): the
    source is then judged again from its history."""
    try:
        if data.get("thresholds") != asdict(t):
            return None
        return Walk(window=[_obs_in(v) for v in data["window"]], excluded=[bool(x) for x in data["excluded"]],
                    base=[_obs_in(v) for v in data["base"]], shadow=[_obs_in(v) for v in data["shadow"]],
                    drifting=bool(data["drifting"]),
                    since=datetime.fromisoformat(data["since"]) if data.get("since") else None,
                    moved=tuple(Moved(m, float(w), float(b)) for m, w, b in data["moved"]),
                    judged=bool(data["judged"]), seen=int(data["seen"]), drift_run=int(data["drift_run"]))
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def scan(observations: Sequence[Observation], t: Thresholds | None = None) -> DriftState:
    """The drift verdict after the last of ``observations`` (oldest first), walking the latest ``history``
    of them forward: at each observation the latest ``window`` are compared with the ``baseline`` before
    them. When a source starts drifting, the window that showed it and every later observation until it
    recovers are kept out of the baseline (which stays as it was meanwhile). The walk itself is
    :func:`advance` (what a stored state goes on with, batch after batch)."""
    t = t or Thresholds()
    obs = list(observations)[-t.history:]
    if not obs:
        return NOT_JUDGED
    return advance(Walk(), obs, t)[1]
