"""The stories, in-process: a poll (``pipeline.poll.poll``, :class:`PollRun`), a backfill
(``pipeline.backfill.backfill``), a reprocess (``pipeline.reprocess.reprocess``), the stages they
share (a batch of sources' feeds, one batch of pages), which sources a run claims, and their typed results.
Prefect flows (``flows/``) wrap these, nothing more. (The story functions are not re-exported here:
their names are their modules'.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest._lazy import lazy_exports

if TYPE_CHECKING:
    from ingest.pipeline.poll import PollRun
    from ingest.pipeline.results import PollResult, SourceResult
    from ingest.pipeline.scheduling import claim_sources, release_all
    from ingest.pipeline.stages import (
        PollContext,
        SourceReport,
        poll_feed,
        poll_feeds,
        poll_source,
        poll_sources,
        process_batch,
    )

_PUBLIC = {
    "PollRun": "poll",
    "PollContext": "stages",
    "SourceReport": "stages",
    "poll_source": "stages",
    "poll_feed": "stages",
    "poll_feeds": "stages",
    "poll_sources": "stages",
    "process_batch": "stages",
    "PollResult": "results",
    "SourceResult": "results",
    "claim_sources": "scheduling",
    "release_all": "scheduling",
}
__all__ = [
    "PollContext",
    "PollResult",
    "PollRun",
    "SourceReport",
    "SourceResult",
    "claim_sources",
    "poll_feed",
    "poll_feeds",
    "poll_source",
    "poll_sources",
    "process_batch",
    "release_all",
]
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
