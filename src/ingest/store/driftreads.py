"""Reads behind extraction drift: each source's recent observations, from the tables that already exist.

No table of its own: drift is computed when it is read (``ingest sources``, the web sources page, the
poll summary), from what every poll writes anyway. One observation per page fetch that reached the
extractor, oldest first:

- an extraction row (``extractions``, the latest one of its fetch) of an article the source listed first:
  title, text length, the page's own date, authors and language (``meta``), its normalised-text hash,
  and the article's MinHash signature (``article_state``) when it is the article's current extraction
  (the signature is of the current text: an older extraction must not take a later revision's);
- an entry of the source that failed with ``empty_extraction`` or ``bot_wall``;
- an entry of the source whose page was an exact duplicate of an archived text (no extraction row is
  written for it): the length and hash of that text as it stood when the page was fetched (the
  archived article's version then), and its signature when that version is still the current one.

Each read is bounded by the history asked for: the newest articles by the ``articles.source_id`` index,
their extractions by ``extractions.article_id``, the newest entries by ``entries.source_id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ingest.analyse.drift import BOT_WALL, EMPTY, TEXT, DriftState, Observation, Thresholds, scan
from ingest.store.reads import rows as _rows

FAILED_KINDS = (EMPTY, BOT_WALL)
DEFAULTS = Thresholds()


def _has(value: Any) -> bool:
    return bool(value.strip()) if isinstance(value, str) else bool(value)


def _meta_date(meta: dict[str, Any]) -> Any:
    # the page's own date, under the name the extractor records it by (newer extractors may add more)
    return meta.get("date") or meta.get("published") or meta.get("published_at")


def source_observations(s: Any, source_id: int, limit: int) -> list[Observation]:
    """The source's latest ``limit`` observations, oldest first."""
    out: list[tuple[datetime, int, Observation]] = []
    articles = [r.id for r in _rows(s, "SELECT id FROM articles WHERE source_id = :s ORDER BY id DESC LIMIT :n",
                                    {"s": source_id, "n": limit})]
    if articles:
        latest: dict[Any, Any] = {}
        for x in _rows(s, "SELECT x.id, x.article_id, x.fetch_id, x.title, x.meta, x.content_sha256, x.created_at, "
                          "LENGTH(x.text) AS chars, f.started_at, a.current_extraction_id, st.signature FROM extractions x "
                          "JOIN articles a ON a.id = x.article_id LEFT JOIN fetches f ON f.id = x.fetch_id "
                          "LEFT JOIN article_state st ON st.article_id = x.article_id "
                          "WHERE x.article_id IN :ids", {"ids": articles}, expanding=["ids"]):
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
                signature=bytes(signature) if signature is not None else None, text_key=x.content_sha256)))
    entries = _rows(s, "SELECT e.id, e.status, e.error_kind, e.article_id, f.started_at, st.signature, "
                       "st.version FROM entries e JOIN fetches f ON f.id = e.page_fetch_id "
                       "LEFT JOIN article_state st ON st.article_id = e.article_id AND e.status = 'duplicate' "
                       "WHERE e.source_id = :s AND (e.status = 'duplicate' OR "
                       "(e.status = 'failed' AND e.error_kind IN :kinds)) ORDER BY e.id DESC LIMIT :n",
                    {"s": source_id, "kinds": list(FAILED_KINDS), "n": limit}, expanding=["kinds"])
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
                              text_key=v.content_sha256 if v is not None else None)
        else:
            obs = Observation(at=e.started_at, outcome=e.error_kind, item=f"entry:{e.id}")
        # (ordered after extractions of the same instant: a tie has no meaning, but must be stable)
        out.append((e.started_at, 1 << 40 | e.id, obs))
    out.sort(key=lambda t: (t[0], t[1]))
    return [o for _, _, o in out[-limit:]]


def _versions(s: Any, article_ids: set[int]) -> dict[int, list[Any]]:
    """Every version (number, hash, length, fetch time) of these articles, oldest first."""
    out: dict[int, list[Any]] = {}
    ids = sorted(article_ids)
    for i in range(0, len(ids), 500):
        for v in _rows(s, "SELECT article_id, version, content_sha256, LENGTH(text) AS chars, fetched_at "
                          "FROM article_versions WHERE article_id IN :ids ORDER BY article_id, version",
                       {"ids": ids[i:i + 500]}, expanding=["ids"]):
            out.setdefault(v.article_id, []).append(v)
    return out


def drift_by_source(s: Any, thresholds: Thresholds = DEFAULTS,
                    names: Iterable[str] | None = None) -> dict[str, DriftState]:
    """Each source's drift verdict (all sources, or those named)."""
    wanted = None if names is None else set(names)
    out = {}
    for src in _rows(s, "SELECT id, name FROM sources ORDER BY name"):
        if wanted is not None and src.name not in wanted:
            continue
        out[src.name] = scan(source_observations(s, src.id, thresholds.history), thresholds)
    return out


def with_drift(s: Any, sources: Sequence[dict[str, Any]], thresholds: Thresholds = DEFAULTS) -> list[dict[str, Any]]:
    """``sources_status`` rows with their drift: ``drift`` (the verdict as a dict), ``drifting``, and the
    state ``drifting since …`` for a source that is otherwise healthy (a failing state says more)."""
    states = drift_by_source(s, thresholds, [r["source"] for r in sources])
    out = []
    for row in sources:
        state = states.get(row["source"])
        drift = state.as_dict() if state is not None else None
        drifting = bool(state and state.drifting)
        new = {**row, "drift": drift, "drifting": drifting}
        if drifting and row.get("state") == "healthy":
            new["state"] = state.describe()  # type: ignore[union-attr]
        out.append(new)
    return out


def drifting_sources(engine: Any, names: Iterable[str], thresholds: Thresholds = DEFAULTS) -> list[dict[str, Any]]:
    """The named sources that drift, each as ``{source, since, moved, describe}``: what a poll's summary
    carries (its table artifact, its ``ingest.source.drift`` events)."""
    with engine.connect() as s:
        states = drift_by_source(s, thresholds, names)
    out = []
    for name, state in sorted(states.items()):
        if state.drifting:
            d = state.as_dict()
            out.append({"source": name, "since": d["since"], "moved": d["moved"], "describe": d["describe"]})
    return out
