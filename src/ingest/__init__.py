"""ingest: scheduled news ingestion and archiving with full provenance.

The library holds all logic; ``flows/`` wires it into Prefect and ``ingest.cli`` into a command.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ingest")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

PROJECT_URL = "https://github.com/ingest-news/ingest"
