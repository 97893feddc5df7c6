"""Reprocess archived articles from their stored raw bytes: no network.

For each selected article, the raw bytes of the page its current extraction came from (``blobs``) go
through the current extractor again (in the extractor worker processes); the result is recorded as a
new extraction in the provenance (with this run). When the text changed beyond whitespace and
punctuation, the article gets a new version (and new LSH bands); an article without a story yet (one
archived before clusters existed) is placed in one; rule tags are re-applied. Failures are values:
they are counted per kind in the summary and the article keeps its text.

``reprocess(engine, config, *, sources=None, since=None, until=None, run_id=None) -> summary`` is the
entry point for the CLI (``ingest reprocess``) and for orchestration.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine

from ingest.clock import SYSTEM_CLOCK, Clock
from ingest.config import Config
from ingest.extract.pages import Extraction, ExtractorPool
from ingest.pipeline.results import ReprocessResult
from ingest.store import archive, reextract
from ingest.store.db import read_session, write_session
from ingest.store.enrich import Enricher
from ingest.store.runs import run_status

CHUNK = 100


def reprocess(engine: Engine, config: Config, *, sources: Sequence[str] | None = None,
              since: datetime | None = None, until: datetime | None = None, run_id: int | None = None,
              extractor: ExtractorPool | None = None, clock: Clock = SYSTEM_CLOCK) -> ReprocessResult:
    """Re-extract, re-dedup and re-tag the selected articles from stored raw bytes; returns a summary."""
    if sources:
        config.select(list(sources))  # unknown names are a usage error
    enricher = Enricher.from_config(config)
    own_run = run_id is None
    if own_run:
        run_id = archive.start_run(engine, "reprocess", {
            "sources": list(sources or []), "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None})
    counts: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    pool = extractor or ExtractorPool(config.extract)
    try:
        pool.start()
        ids = reextract.select_articles(engine, sources, since, until)
        for i in range(0, len(ids), CHUNK):
            with read_session(engine) as s:
                inputs = reextract.stored_pages(s, ids[i:i + CHUNK])
            pages = [(a, f, p) for a, f, p in inputs if p is not None]
            counts["no_raw_bytes"] += len(inputs) - len(pages)
            results = pool.extract_many([p for _, _, p in pages])
            now = clock.now()
            with write_session(engine) as s:
                for (article_id, fetch_id, page), result in zip(pages, results, strict=True):
                    assert page is not None
                    if not isinstance(result, Extraction):
                        counts["failed"] += 1
                        failures[result.kind.value] += 1
                        continue
                    with s.begin_nested():
                        counts[reextract.record_reextraction(s, enricher, article_id, fetch_id, page, result, run_id, now)] += 1
            counts["articles"] += len(inputs)
    except BaseException as exc:
        if own_run:
            archive.finish_run(engine, run_id, run_status(exc), error=f"{type(exc).__name__}: {exc}",  # type: ignore[arg-type]
                              now=clock.now())
        raise
    finally:
        if extractor is None:
            pool.close()
    _rejudge_drift(engine, config, ids, clock)
    result = ReprocessResult(run_id=run_id, articles=counts["articles"], revised=counts["revised"],
                             unchanged=counts["unchanged"], failed=counts["failed"],
                             no_raw_bytes=counts["no_raw_bytes"], failures=dict(sorted(failures.items())))
    if own_run:
        archive.finish_run(engine, run_id, "completed", result.as_dict(), now=clock.now())  # type: ignore[arg-type]
    return result


def _rejudge_drift(engine: Engine, config: Config, article_ids: Sequence[int], clock: Clock) -> None:
    """New extractions of old pages change the observations under the sources' stored drift walks: the
    sources of the reprocessed articles are judged again from their history (store/driftstate.py). A
    failure is logged: the re-extractions are stored whatever their sources' verdicts."""
    import logging

    from ingest.store import driftstate

    try:
        names = driftstate.sources_of_articles(engine, article_ids)
        driftstate.rejudge_sources(engine, config.drift.thresholds(), clock.now(), names)
    except Exception:  # noqa: BLE001
        logging.getLogger(__name__).exception("could not judge extraction drift again after reprocessing")
