"""What an article is, computed from its text: exact-duplicate hashes, MinHash near-duplicates and
revision keys, rule tags, YAKE key phrases, and the per-page facts the extractor processes precompute.
Pure functions on data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest._lazy import lazy_exports

if TYPE_CHECKING:
    from ingest.analyse.dedup import content_sha256, normalize_text
    from ingest.analyse.keyphrases import Keyphrase, extract_keyphrases
    from ingest.analyse.neardup import DedupParams, headline_core, similarity, text_signature
    from ingest.analyse.precompute import Precompute, TextFacts, text_facts
    from ingest.analyse.tagging import RuleTag, Taxonomy, load_taxonomy, tag_article

_PUBLIC = {
    "normalize_text": "dedup",
    "content_sha256": "dedup",
    "DedupParams": "neardup",
    "text_signature": "neardup",
    "similarity": "neardup",
    "headline_core": "neardup",
    "Taxonomy": "tagging",
    "RuleTag": "tagging",
    "load_taxonomy": "tagging",
    "tag_article": "tagging",
    "Keyphrase": "keyphrases",
    "extract_keyphrases": "keyphrases",
    "Precompute": "precompute",
    "TextFacts": "precompute",
    "text_facts": "precompute",
}
__all__ = [
    "DedupParams",
    "Keyphrase",
    "Precompute",
    "RuleTag",
    "Taxonomy",
    "TextFacts",
    "content_sha256",
    "extract_keyphrases",
    "headline_core",
    "load_taxonomy",
    "normalize_text",
    "similarity",
    "tag_article",
    "text_facts",
    "text_signature",
]
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
