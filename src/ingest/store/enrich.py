"""What happens to an article once stored: its version, its story cluster, its rule tags and (when
enabled) its key phrases.

:class:`Enricher` carries the settings (taxonomy, dedup parameters) from the configuration to the
store; :func:`after_store` is the single hook the archive calls for each new or changed article.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, select
from sqlmodel import Session

from ingest.analyse.neardup import DedupParams
from ingest.analyse.precompute import Precompute, TextFacts
from ingest.analyse.tagging import DEFAULT_TAGS_PATH, Taxonomy, load_taxonomy
from ingest.config import Config, DedupSettings
from ingest.store import clusters, revisions, tagstore
from ingest.store.models import Article

# built once, executed with parameters: this runs for every stored article
_STORED = select(Article.title, Article.text, Article.content_sha256, Article.current_extraction_id,
                 Article.language).where(Article.id == bindparam("aid"))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Enricher:
    taxonomy: Taxonomy | None = None
    params: DedupParams = DedupParams()
    title_window: timedelta = timedelta(days=7)
    keyphrases: tuple[int, int] | None = None  # (top, max_words) when key phrases are on

    @classmethod
    def from_config(cls, config: Config) -> Enricher:
        k = config.keyphrases
        return cls(taxonomy_for(config), dedup_params(config.dedup),
                   timedelta(days=config.dedup.title_window_days),
                   (k.top, k.max_words) if k.enabled else None)

    def precompute(self) -> Precompute:
        """What the extractor processes should compute for :func:`after_store` and the archive."""
        return Precompute(pack_body=True, dedup=self.params, taxonomy=self.taxonomy, keyphrases=self.keyphrases)


def dedup_params(d: DedupSettings) -> DedupParams:
    return DedupParams(shingle_words=d.shingle_words, shingle_chars=d.shingle_chars, bands=d.lsh_bands,
                       rows=d.lsh_rows, similarity=d.similarity, containment=d.containment,
                       containment_min_shingles=d.containment_min_shingles, title_similarity=d.title_similarity,
                       lead_shingles=d.lead_shingles)


def taxonomy_for(config: Config) -> Taxonomy | None:
    """The configured taxonomy; the default file may be absent (no rule tags), a configured one not."""
    if config.taxonomy is None:
        return None
    if config.taxonomy == DEFAULT_TAGS_PATH and not Path(config.taxonomy).is_file():
        return None
    return load_taxonomy(config.taxonomy)


def after_store(s: Session, enricher: Enricher, article_id: int, status: str, *, source_id: int,
                fetch_id: int | None, run_id: int | None, now: datetime, entry_ids: Sequence[int] = (),
                facts: TextFacts | None = None) -> None:
    """``status`` new: version 1, cluster, rule tags; updated: next version, new bands, rule tags.
    ``facts``: the stored text's keys as the extractor processes computed them (ingest.analyse.precompute);
    each is used only when computed with this enricher's settings."""
    title, text, sha, extraction_id, language = s.connection().execute(_STORED, {"aid": article_id}).one()
    kw = dict(title=title, text=text, text_sha=sha, fetch_id=fetch_id, extraction_id=extraction_id,
              run_id=run_id, now=now)
    if facts is not None and facts.content_sha256 != sha:
        facts = None  # not this text's keys (cannot happen through the archive; cheap to be sure)
    key = facts.revision_key if facts is not None else None
    if status == "new":
        revisions.first_version(s, article_id, **kw, entry_ids=entry_ids, version_key=key)  # type: ignore[arg-type]
        clusters.place_article(s, article_id, text=text, title=title, source_id=source_id,
                               params=enricher.params, title_window=enricher.title_window, now=now, facts=facts)
    else:
        revisions.new_version(s, article_id, **kw, version_key=key)  # type: ignore[arg-type]
        clusters.resign_article(s, article_id, text=text, params=enricher.params, facts=facts)
    if enricher.taxonomy is not None:
        tagstore.apply_rule_tags(s, enricher.taxonomy, article_id, title, text,
                                 tags=facts.rule_tags_for(enricher.taxonomy) if facts is not None else None,
                                 now=now)
    if enricher.keyphrases is not None:
        top, max_words = enricher.keyphrases
        tagstore.apply_keyphrases(s, article_id, text, language, top=top, max_words=max_words,
                                  phrases=facts.keyphrases_for(top, max_words, language) if facts else None,
                                  now=now)
