"""Reads behind extraction drift: a source's observations, from the tables every poll writes, and
the stored verdicts (``source_drift``, written by ``store/driftstate.py`` when pages are stored).

The read commands (``ingest sources``, the web sources page) read the stored verdicts only: one query for
all sources (:func:`stored_verdicts`). Observations are read when a source is judged: one per page fetch
that reached the extractor, oldest first:

- an extraction row (``extractions``, the latest one of its fetch) of an article the source listed first:
  title, text length, the page's own date, authors and language (``meta``), its normalised-text hash,
  and the article's MinHash signature (``article_state``) when it is the article's current extraction
  (the signature is of the current text: an older extraction must not take a later revision's);
- an entry of the source that failed with ``empty_extraction`` or ``bot_wall``;
- an entry of the source whose page was an exact duplicate of an archived text (no extraction row is
  written for it): the length and hash of that text as it stood when the page was fetched (the
  archived article's version then), and its signature when that version is still the current one.

:func:`source_observations` reads a source's latest ``history`` of them (the backfill, and a source judged
again from scratch): the newest articles by the ``articles.source_id`` index, their extractions by
``extractions.article_id``, the newest entries by ``entries.source_id``. :func:`new_observations` reads
those of the source's page fetches after a given one (what a poll adds), by ``fetches.source_id`` and
``ix_extractions_fetch_id`` / ``ix_entries_page_fetch_id``: its cost is the new pages, not the history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ingest.analyse.drift import BOT_WALL, EMPTY, NOT_JUDGED, TEXT, Observation, Thresholds
from ingest.store.reads import rows as _rows
from ingest.store.textcopies import EXTRACTION_TEXT, VERSION_TEXT

FAILED_KINDS = (EMPTY, BOT_WALL)
DEFAULTS = Thresholds()


def _has(value: Any) -> bool:
    return bool(value.strip()) if isinstance(value, str) else bool(value)


def _meta_date(meta: dict[str, Any]) -> Any:
    # the page's own date, under the name the extractor records it by (newer extractors may add more)
    return meta.get("date") or meta.get("published") or meta.get("published_at")


_EXTRACTIONS = ("SELECT x.id, x.article_id, x.fetch_id, x.title, x.meta, x.content_sha256, x.created_at, "
                f"LENGTH({EXTRACTION_TEXT}) AS chars, f.started_at, a.current_extraction_id, st.signature FROM extractions x "
                "JOIN articles a ON a.id = x.article_id LEFT JOIN fetches f ON f.id = x.fetch_id "
                "LEFT JOIN article_state st ON st.article_id = x.article_id ")
_ENTRIES = ("SELECT e.id, e.status, e.error_kind, e.article_id, f.started_at, st.signature, "
            "st.version FROM entries e JOIN fetches f ON f.id = e.page_fetch_id "
            "LEFT JOIN article_state st ON st.article_id = e.article_id AND e.status = 'duplicate' "
            "WHERE e.source_id = :s AND (e.status = 'duplicate' OR "
            "(e.status = 'failed' AND e.error_kind IN :kinds)) ")


def source_observations(s: Any, source_id: int, limit: int) -> list[Observation]:
    """The source's latest ``limit`` observations, oldest first."""
    articles = [r.id for r in _rows(s, "SELECT id FROM articles WHERE source_id = :s ORDER BY id DESC LIMIT :n",
                                    {"s": source_id, "n": limit})]
    extractions = _rows(s, _EXTRACTIONS + "WHERE x.article_id IN :ids", {"ids": articles},
                        expanding=["ids"]) if articles else []
    entries = _rows(s, _ENTRIES + "ORDER BY e.id DESC LIMIT :n",
                    {"s": source_id, "kinds": list(FAILED_KINDS), "n": limit}, expanding=["kinds"])
    return _observations(s, extractions, entries)[-limit:]


def last_fetch_id(s: Any, source_id: int) -> int:
    """The source's newest fetch (the bound of what a judgement made now has read)."""
    found = _rows(s, "SELECT MAX(id) AS id FROM fetches WHERE source_id = :s", {"s": source_id})
    return int(found[0].id or 0) if found else 0


def new_observations(s: Any, source_id: int, after: int, upto: int) -> list[Observation]:
    """The observations of the source's page fetches ``after`` < id <= ``upto``, oldest first."""
    bounds = {"s": source_id, "lo": after, "hi": upto}
    extractions = _rows(s, _EXTRACTIONS + "WHERE x.fetch_id IN (SELECT id FROM fetches WHERE source_id = :s "
                           "AND id > :lo AND id <= :hi)", bounds)
    entries = _rows(s, _ENTRIES + "AND e.page_fetch_id IN (SELECT id FROM fetches WHERE source_id = :s "
                       "AND id > :lo AND id <= :hi)", {**bounds, "kinds": list(FAILED_KINDS)}, expanding=["kinds"])
    return _observations(s, extractions, entries)


def _observations(s: Any, extractions: Sequence[Any], entries: Sequence[Any]) -> list[Observation]:
    out: list[tuple[datetime, int, Observation]] = []
    latest: dict[Any, Any] = {}
    for x in extractions:
        key = x.fetch_id if x.fetch_id is not None else ("x", x.id)
        if key not in latest or latest[key].id < x.id:  # a re-extraction speaks for its page
            latest[key] = x
    for x in latest.values():
        meta = x.meta or {}
        at = x.started_at or x.created_at
        # the article's signature is of its current text: an older extraction has only its own hash
        signature = x.signature if x.current_extraction_id == x.id else None
        out.append((at, x.id, Observation(
            at=at, outcome=TEXT, item=f"article:{x.article_id}", chars=int(x.chars or 0), title=_has(x.title),
            date=_has(_meta_date(meta)), authors=_has(meta.get("authors")), language=meta.get("language"),
            signature=bytes(signature) if signature is not None else None, text_key=x.content_sha256,
            ref=f"x:{x.article_id}:{x.id}")))
    texts = _versions(s, {e.article_id for e in entries if e.status == "duplicate" and e.article_id})
    for e in entries:
        if e.status == "duplicate":
            # the archived text it duplicated: the owner's version as it stood when this page was fetched
            seen = [v for v in texts.get(e.article_id, []) if v.fetched_at <= e.started_at]
            v = seen[-1] if seen else None
            current = v is not None and v.version == (e.version or 1)
            obs = Observation(at=e.started_at, outcome=TEXT, item=f"entry:{e.id}",
                              chars=int(v.chars) if v is not None else None,
                              signature=bytes(e.signature) if current and e.signature is not None else None,
                              text_key=v.content_sha256 if v is not None else None,
                              ref=f"v:{e.article_id}:{v.version}" if v is not None else None)
        else:
            obs = Observation(at=e.started_at, outcome=e.error_kind, item=f"entry:{e.id}")
        # (ordered after extractions of the same instant: a tie has no meaning, but must be stable)
        out.append((e.started_at, 1 << 40 | e.id, obs))
    out.sort(key=lambda t: (t[0], t[1]))
    return [o for _, _, o in out]


def signatures(s: Any, refs: Iterable[str]) -> dict[str, bytes]:
    """The signature each ref names, while it is still its article's current one (``x:`` an extraction
    that is still current, ``v:`` a version that is still the latest)."""
    wanted: dict[int, list[str]] = {}
    for ref in refs:
        wanted.setdefault(int(ref.split(":")[1]), []).append(ref)
    out: dict[str, bytes] = {}
    ids = sorted(wanted)
    for i in range(0, len(ids), 500):
        for r in _rows(s, "SELECT a.id, a.current_extraction_id, st.version, st.signature FROM articles a "
                          "LEFT JOIN article_state st ON st.article_id = a.id WHERE a.id IN :ids",
                       {"ids": ids[i:i + 500]}, expanding=["ids"]):
            if r.signature is None:
                continue
            for ref in wanted[r.id]:
                kind, _, which = ref.split(":")
                if (kind == "x" and int(which) == r.current_extraction_id) or \
                        (kind == "v" and int(which) == (r.version or 1)):
                    out[ref] = bytes(r.signature)
    return out


def _versions(s: Any, article_ids: set[int]) -> dict[int, list[Any]]:
    """Every version (number, hash, length, fetch time) of these articles, oldest first."""
    out: dict[int, list[Any]] = {}
    ids = sorted(article_ids)
    for i in range(0, len(ids), 500):
        for v in _rows(s, f"SELECT v.article_id, v.version, v.content_sha256, LENGTH({VERSION_TEXT}) AS chars, "
                          "v.fetched_at FROM article_versions v JOIN articles a ON a.id = v.article_id "
                          "WHERE v.article_id IN :ids ORDER BY v.article_id, v.version",
                       {"ids": ids[i:i + 500]}, expanding=["ids"]):
            out.setdefault(v.article_id, []).append(v)
    return out


def stored_verdicts(s: Any) -> dict[str, dict[str, Any]]:
    """Every judged source's stored verdict (``DriftState.as_dict()``, plus the thresholds it was judged
    with), by name: one query."""
    return {r.name: r.verdict for r in _rows(
        s, "SELECT s.name, d.verdict FROM source_drift d JOIN sources s ON s.id = d.source_id")}


def with_drift(s: Any, sources: Sequence[dict[str, Any]], thresholds: Thresholds = DEFAULTS) -> list[dict[str, Any]]:
    """``sources_status`` rows with their drift: ``drift`` (the stored verdict as a dict; ``stale`` when it
    was judged with other thresholds than ``thresholds``: the source's next poll judges it again),
    ``drifting``, and the state ``drifting since …`` for a source that is otherwise healthy (a failing
    state says more). A source never judged has the verdict "not judged"."""
    from dataclasses import asdict

    stored = stored_verdicts(s)
    wanted = asdict(thresholds)
    out = []
    for row in sources:
        verdict = stored.get(row["source"])
        drift = dict(verdict) if verdict is not None else NOT_JUDGED.as_dict()
        drift["stale"] = verdict is not None and drift.pop("thresholds", None) != wanted
        drifting = bool(drift.get("drifting"))
        new = {**row, "drift": drift, "drifting": drifting}
        if drifting and row.get("state") == "healthy":
            new["state"] = drift["describe"]
        out.append(new)
    return out
