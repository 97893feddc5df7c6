"""Page extraction: decoding HTML bytes to text, trafilatura in a pool of worker processes
(trafilatura is not thread-safe; the pool uses every core), with the store's pure per-page work done
there too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest._lazy import lazy_exports

if TYPE_CHECKING:
    from ingest.extract.decode import charset_from_content_type, decode_html
    from ingest.extract.pages import Extraction, ExtractionFailure, ExtractorPool, PageInput, extract_page

_PUBLIC = {
    "ExtractorPool": "pages",
    "Extraction": "pages",
    "ExtractionFailure": "pages",
    "PageInput": "pages",
    "extract_page": "pages",
    "decode_html": "decode",
    "charset_from_content_type": "decode",
}
__all__ = [
    "Extraction",
    "ExtractionFailure",
    "ExtractorPool",
    "PageInput",
    "charset_from_content_type",
    "decode_html",
    "extract_page",
]
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
