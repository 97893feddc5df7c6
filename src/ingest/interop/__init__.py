"""The field's formats and the public archives: WARC out (``warc_out``), WARC in (``warc_in``), Common
Crawl News (``ccnews``) and the Wayback Machine's CDX API (``wayback``). Readers and writers of bytes
and records; archiving what they read is the backfill story's (``ingest.pipeline.archived``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest._lazy import lazy_exports

if TYPE_CHECKING:
    from ingest.interop.captures import Capture, SiteMatcher
    from ingest.interop.warc_in import read_warc, warc_files
    from ingest.interop.warc_out import write_warc

_PUBLIC = {
    "Capture": "captures",
    "SiteMatcher": "captures",
    "read_warc": "warc_in",
    "warc_files": "warc_in",
    "write_warc": "warc_out",
}
__all__ = ["Capture", "SiteMatcher", "read_warc", "warc_files", "write_warc"]
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
