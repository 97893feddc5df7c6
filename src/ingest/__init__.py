"""ingest: scheduled news ingestion and archiving with full provenance.

    import ingest
    archive = ingest.Archive("sqlite:///data/demo.db")
    archive.search("North Korean soldiers")
    ingest.poll("config/feeds.yaml")

The library holds all logic; ``flows/`` wires it into Prefect and :mod:`ingest.cli` into a command.
The names below load on first use (PEP 562), so ``import ingest`` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

PROJECT_URL = "https://github.com/ingest-news/ingest"

if TYPE_CHECKING:
    from ingest.api import Archive, Article, Hit, poll
    from ingest.pipeline.results import PollResult, SourceResult

_LAZY = {"Archive": "ingest.api", "Article": "ingest.api", "Hit": "ingest.api", "poll": "ingest.api",
         "PollResult": "ingest.pipeline.results", "SourceResult": "ingest.pipeline.results"}

__all__ = ["PROJECT_URL", "Archive", "Article", "Hit", "PollResult", "SourceResult", "__version__", "poll"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # ~30 ms: not at every import

    try:
        return version("ingest")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0.0.0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()["__version__"] = found = _version()
        return found
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")
