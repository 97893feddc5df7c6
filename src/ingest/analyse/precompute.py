"""What the store would compute from each extracted page, computed in the extractor processes instead.

A poll runs on a few cores: the main process fetches and writes SQL while the worker processes
extract. Every pure per-page computation the store needs (the packed raw bytes, the normalised-text
hash, the revision key, the MinHash signature and its LSH band keys, the title key, the rule tags, the
key phrases when they are on) is
CPU taken from extraction when the main process does it, so the workers do it right after extracting,
on the bytes and text they already hold, by calling the same pure functions the store calls.

The store uses a precomputed value only when it was computed with the settings the store would use
(the same dedup parameters, the same taxonomy version); otherwise it computes the value itself. Either
way the archive holds the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.analyse import neardup
from ingest.analyse.dedup import normalize_text, normalized_sha256
from ingest.analyse.keyphrases import Keyphrase, extract_keyphrases
from ingest.analyse.neardup import DedupParams
from ingest.analyse.tagging import RuleTag, Taxonomy


@dataclass(frozen=True)
class Precompute:
    """What the workers compute besides the extraction (sent with every chunk of pages)."""

    pack_body: bool = True  # the raw bytes as the blobs table stores them
    dedup: DedupParams | None = None  # text facts (hashes, signature, bands) with these parameters
    taxonomy: Taxonomy | None = None  # rule tags with this taxonomy (only with ``dedup``)
    keyphrases: tuple[int, int] | None = None  # YAKE key phrases (top, max_words) (only with ``dedup``)


@dataclass(frozen=True, slots=True)
class TextFacts:
    """Keys of an extracted text, as :mod:`ingest.analyse.dedup`, :mod:`ingest.analyse.neardup` and
    :mod:`ingest.analyse.tagging` compute them."""

    content_sha256: str  # dedup.content_sha256(text)
    revision_key: str  # neardup.revision_key(text)
    title_key: str | None  # neardup.title_key(title)
    params: DedupParams  # signature and band keys were computed with these
    signature: bytes  # neardup.to_bytes(neardup.text_signature(text, params))
    band_keys: tuple[tuple[int, int], ...]  # neardup.normalized_keys: text bands, then lead bands
    rule_version: str | None  # the taxonomy's version; None when no rule tags were computed
    rule_tags: tuple[RuleTag, ...]  # taxonomy.tag(title, text)
    # (top, max_words, language) the key phrases were computed with; None when they were not
    keyphrase_key: tuple[int, int, str | None] | None = None
    keyphrases: tuple[Keyphrase, ...] = ()  # keyphrases.extract_keyphrases(text, language, …)

    def signature_for(self, params: DedupParams) -> tuple[bytes, list[tuple[int, int]]] | None:
        """(signature, band keys) when computed with ``params``, else None."""
        return (self.signature, list(self.band_keys)) if params == self.params else None

    def rule_tags_for(self, taxonomy: Taxonomy) -> list[RuleTag] | None:
        """The rule tags when computed with this taxonomy version (a taxonomy without a version, not
        read from a file, is never assumed to be the same one), else None."""
        if taxonomy.version and self.rule_version == taxonomy.version:
            return list(self.rule_tags)
        return None

    def keyphrases_for(self, top: int, max_words: int, language: str | None) -> list[Keyphrase] | None:
        """The key phrases when computed with these settings for the article's language, else None."""
        return list(self.keyphrases) if self.keyphrase_key == (top, max_words, language) else None


def text_facts(title: str | None, text: str, params: DedupParams, taxonomy: Taxonomy | None = None,
               keyphrases: tuple[int, int] | None = None, language: str | None = None) -> TextFacts:
    """Every key of one text; the text is normalised once for all of them."""
    normalized = normalize_text(text)
    sig, keys = neardup.normalized_keys(normalized, params)
    return TextFacts(
        content_sha256=normalized_sha256(normalized),
        revision_key=neardup.normalized_revision_key(normalized),
        title_key=neardup.title_key(title),
        params=params,
        signature=neardup.to_bytes(sig),
        band_keys=tuple(keys),
        rule_version=taxonomy.version if taxonomy is not None else None,
        rule_tags=tuple(taxonomy.tag(title, text)) if taxonomy is not None else (),
        keyphrase_key=(*keyphrases, language) if keyphrases is not None else None,
        keyphrases=tuple(extract_keyphrases(text, language, top=keyphrases[0], max_words=keyphrases[1]))
        if keyphrases is not None else (),
    )
