"""Values the extractor processes precompute for the store are exactly what the store computes itself,
and an archive stored with them is row for row the archive stored without them (both back-ends)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_revisions_clusters import OTHER, PARAS, REWRITE, STORY
from test_store import entry, extraction, fetched, setup_source

from ingest import decide
from ingest.analyse import neardup
from ingest.analyse.dedup import content_sha256
from ingest.analyse.keyphrases import extract_keyphrases
from ingest.analyse.neardup import DedupParams
from ingest.analyse.precompute import Precompute, text_facts
from ingest.analyse.tagging import load_taxonomy, parse_taxonomy
from ingest.config import ExtractSettings
from ingest.errors import ErrorKind
from ingest.extract.pages import Extraction, ExtractionFailure, ExtractorPool, PageInput, with_precomputed
from ingest.store import archive
from ingest.store.blobs import pack_body, unpack_body
from ingest.store.db import open_archive, read_session
from ingest.store.enrich import Enricher
from ingest.store.models import (
    Article,
    ArticleState,
    ArticleTag,
    ArticleVersion,
    Blob,
    ClusterMember,
    LshBand,
    TextHash,
    TitleHash,
)

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    (STORY, "Ambassador: POWs are no bargaining chip"),
    ("Посол України в Південній Кореї Дмитро Пономаренко заявив, що Україна не розглядає полонених "
     "північнокорейських солдатів як розмінну монету. — «Це питання міжнародного права»,  сказав він.", "Посол"),
    ("北朝鮮兵の捕虜について、ウクライナの駐韓大使は交渉の材料ではないと述べた。韓国との協議は続いている。", "捕虜"),
    ("ทูตยูเครนประจำเกาหลีใต้กล่าวว่าเชลยศึกชาวเกาหลีเหนือไม่ใช่เครื่องต่อรอง", None),
    ("short", "x"),
    ("", None),
]


@pytest.fixture(scope="module")
def taxonomy() -> Any:
    return load_taxonomy(ROOT / "config" / "tags.yaml")


@pytest.mark.parametrize("text,title", TEXTS)
def test_text_facts_equal_the_store_functions(text: str, title: str | None, taxonomy: Any) -> None:
    params = DedupParams()
    facts = text_facts(title, text, params, taxonomy)
    sig = neardup.text_signature(text, params)
    assert facts.content_sha256 == content_sha256(text)
    assert facts.revision_key == neardup.revision_key(text)
    assert facts.title_key == neardup.title_key(title)
    assert facts.signature == neardup.to_bytes(sig)
    assert list(facts.band_keys) == neardup.text_keys(text, params)[1]  # text bands, then lead bands
    assert list(facts.band_keys)[:params.bands] == neardup.band_keys(sig, params)
    assert list(facts.rule_tags) == taxonomy.tag(title, text)
    assert facts.rule_version == taxonomy.version
    assert text_facts(title, text, params).rule_tags == ()


def test_facts_are_used_only_with_the_settings_they_were_computed_with(taxonomy: Any) -> None:
    facts = text_facts("POWs", STORY, DedupParams(), taxonomy)
    assert facts.signature_for(DedupParams()) is not None
    assert facts.signature_for(DedupParams(bands=20, rows=5)) is None
    assert facts.rule_tags_for(taxonomy) == taxonomy.tag("POWs", STORY)
    assert facts.rule_tags_for(dataclasses.replace(taxonomy, version="another")) is None
    unversioned = parse_taxonomy({"tags": {"korea": {"terms": {"en": ["Korea"]}}}})
    assert text_facts("POWs", STORY, DedupParams(), unversioned).rule_tags_for(unversioned) is None


def test_packed_body_round_trips() -> None:
    body = b"<html>" + "Приклад тексту. ".encode() * 500 + b"</html>"
    packed = pack_body(body)
    assert unpack_body(packed.compression, packed.data) == body
    assert packed.size == len(body) and len(packed.data) < len(body)
    assert pack_body(body, packed.sha256) == packed


def test_with_precomputed_fills_what_is_asked_and_never_fails_the_page(taxonomy: Any) -> None:
    page = PageInput("https://example.org/a", b"<html>a page</html>", "text/html")
    ex = extraction(STORY)
    full = with_precomputed(ex, page, Precompute(dedup=DedupParams(), taxonomy=taxonomy))
    assert isinstance(full, Extraction) and full == ex  # the extraction's value is unchanged
    assert full.packed == pack_body(page.body) and full.facts == text_facts(ex.title, ex.text, DedupParams(), taxonomy)
    assert with_precomputed(ex, page, Precompute(pack_body=False)) == ex
    failure = with_precomputed(ExtractionFailure(ErrorKind.NOT_HTML, "pdf"), page, Precompute(dedup=DedupParams()))
    assert isinstance(failure, ExtractionFailure) and failure.packed == pack_body(page.body)

    class BrokenTaxonomy:
        version = "v1"

        def tag(self, title: str | None, text: str | None) -> list[Any]:
            raise RuntimeError("a bug in tagging")

    broken = Precompute(dedup=DedupParams(), taxonomy=BrokenTaxonomy())  # type: ignore[arg-type]
    assert with_precomputed(ex, page, broken) is ex  # the store computes whatever is missing


def test_pool_precomputes_in_the_workers(taxonomy: Any) -> None:
    html = ("<html><head><title>POWs</title></head><body><article>"
            + "".join(f"<p>{p}</p>" for p in PARAS) + "</article></body></html>").encode()
    page = PageInput("https://example.org/a", html, "text/html")
    with ExtractorPool(ExtractSettings(), workers=1) as pool:
        [plain] = pool.extract_many([page])
        [pre] = pool.extract_many([page], precompute=Enricher(taxonomy).precompute())
    assert isinstance(plain, Extraction) and isinstance(pre, Extraction)
    assert pre == plain and plain.facts is None and plain.packed is None
    assert pre.facts == text_facts(plain.title, plain.text, DedupParams(), taxonomy)
    assert pre.packed == pack_body(html)


def _dump(engine: Any) -> dict[str, list[Any]]:
    """Every row the store derives from texts and bodies (ids included, times left out)."""
    with read_session(engine) as s:
        def rows(*cols: Any) -> list[Any]:
            return sorted(tuple(r) for r in s.execute(select(*cols)).all())
        return {
            "articles": rows(Article.id, Article.canonical_url, Article.content_sha256, Article.title),
            "state": rows(ArticleState.article_id, ArticleState.version, ArticleState.version_key,
                          ArticleState.signature, ArticleState.cluster_id),
            "versions": rows(ArticleVersion.article_id, ArticleVersion.version, ArticleVersion.content_sha256),
            "bands": rows(LshBand.band, LshBand.bucket, LshBand.article_id),
            "titles": rows(TitleHash.source_id, TitleHash.title_sha256, TitleHash.article_id),
            "members": rows(ClusterMember.article_id, ClusterMember.cluster_id, ClusterMember.similarity,
                            ClusterMember.method),
            "tags": rows(ArticleTag.article_id, ArticleTag.tag, ArticleTag.origin, ArticleTag.rule_version,
                         ArticleTag.score),
            "text_hashes": rows(TextHash.sha256, TextHash.article_id),
            "blobs": sorted((sha, size, unpack_body(c, data)) for sha, size, c, data in s.execute(
                select(Blob.sha256, Blob.size, Blob.compression, Blob.data)).all()),
        }


def _archive(url: str, taxonomy: Any, precompute: Precompute | None,
             keyphrases: tuple[int, int] | None = None) -> dict[str, list[Any]]:
    """The same pages stored one by one: new articles, a near-duplicate, a title repost, a revision,
    an unchanged re-fetch and an exact duplicate."""
    engine = open_archive(url)
    enricher = Enricher(taxonomy, keyphrases=keyphrases)
    sid, ids = setup_source(engine, entries=[entry(k, f"https://example.org/{k}", ("World",)) for k in "abcdefg"])
    syndicated = "Seoul, Yonhap.\n" + "\n".join(PARAS[:3]) + "\nRead more news on our site."
    pages = [("a", STORY, "Ambassador: POWs are no bargaining chip"), ("b", syndicated, "Wire copy"),
             ("c", OTHER, "Rates unchanged"),
             ("d", "\n".join([PARAS[0], PARAS[3], REWRITE]), "Ambassador: POWs are no bargaining chip!"),
             ("a", STORY + "\nCorrection: the interview was on Monday.", "Ambassador: POWs are no bargaining chip"),
             ("a", STORY + "\nCorrection: the interview was on Monday.", "Ambassador: POWs are no bargaining chip"),
             ("e", OTHER, "Rates unchanged (copy)"), *[(k, text, title) for k, (text, title) in zip("fg", TEXTS[1:3], strict=True)]]
    for k, text, title in pages:
        url = f"https://example.org/{k}"
        body = f"<html><title>{title}</title><p>{text}</p></html>".encode()
        ex: Any = extraction(text, title=title, categories=("Politics",))
        if precompute is not None:
            ex = with_precomputed(ex, PageInput(url, body, "text/html"), precompute)
        archive.store_outcomes(engine, [archive.PageOutcome((ids[k],), url, fetched(url, body), ex)], run_id=None,
                               source_id=sid, next_attempt=decide.next_item_attempt, enricher=enricher)
    try:
        return _dump(engine)
    finally:
        engine.dispose()


def test_archive_with_precomputed_values_is_the_archive_without(database_url: str, tmp_path: Path,
                                                                 taxonomy: Any) -> None:
    plain = _archive(f"sqlite:///{tmp_path / 'plain.db'}", taxonomy, None)
    assert len(plain["articles"]) == 6 and {r[2] for r in plain["tags"]} == {"feed", "page", "rule"}
    assert {r[3] for r in plain["members"]} == {"first", "minhash", "title"}
    assert max(r[1] for r in plain["state"]) == 2  # the revision
    assert _archive(database_url, taxonomy, Precompute(dedup=DedupParams(), taxonomy=taxonomy)) == plain


def test_key_phrases_computed_in_the_workers_are_the_ones_the_store_computes(sqlite_url: str, tmp_path: Path,
                                                                            taxonomy: Any) -> None:
    plain = _archive(f"sqlite:///{tmp_path / 'plain.db'}", taxonomy, None, keyphrases=(3, 2))
    assert {r[2] for r in plain["tags"]} == {"feed", "page", "rule", "keyphrase"}
    pre = Precompute(dedup=DedupParams(), taxonomy=taxonomy, keyphrases=(3, 2))
    assert _archive(sqlite_url, taxonomy, pre, keyphrases=(3, 2)) == plain
    facts = text_facts("t", STORY, DedupParams(), None, (3, 2), "en")
    assert facts.keyphrases_for(3, 2, "en") == extract_keyphrases(STORY, "en", top=3, max_words=2)
    assert facts.keyphrases_for(3, 2, "uk") is None and facts.keyphrases_for(5, 2, "en") is None


def test_facts_computed_with_other_settings_are_not_used(sqlite_url: str, tmp_path: Path, taxonomy: Any) -> None:
    plain = _archive(f"sqlite:///{tmp_path / 'plain.db'}", taxonomy, None)
    stale = Precompute(dedup=DedupParams(bands=21, rows=6), taxonomy=dataclasses.replace(taxonomy, version="old"))
    assert _archive(sqlite_url, taxonomy, stale) == plain


def test_the_store_does_not_recompute_what_the_workers_computed(sqlite_url: str, taxonomy: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://example.org/a"
    body = b"<html><p>the page</p></html>"
    ex = with_precomputed(extraction(STORY), PageInput(url, body, "text/html"),
                          Precompute(dedup=DedupParams(), taxonomy=taxonomy, keyphrases=(3, 2)))

    def not_again(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("recomputed in the main process")

    from ingest.analyse.tagging import Taxonomy
    from ingest.store import clusters, revisions, tagstore

    for module, name in ((archive, "content_sha256"), (archive, "pack_body"), (revisions, "revision_key"),
                         (clusters.neardup, "text_signature"), (clusters.neardup, "title_key"), (Taxonomy, "tag"),
                         (tagstore, "extract_keyphrases")):
        monkeypatch.setattr(module, name, not_again)
    engine = open_archive(sqlite_url)
    sid, ids = setup_source(engine, entries=[entry("a", url)])
    [item] = archive.store_outcomes(engine, [archive.PageOutcome((ids["a"],), url, fetched(url, body), ex)],
                                    run_id=None, source_id=sid, next_attempt=decide.next_item_attempt,
                                    enricher=Enricher(taxonomy, keyphrases=(3, 2)))
    assert item.status == "new"


def test_tokens_split_unspaced_scripts_only_where_they_occur() -> None:
    assert neardup.tokens("Посол України, 2024: «Це   питання»") == ["посол", "україни", "2024", "це", "питання"]
    assert neardup.tokens("Yonhap 北朝鮮兵 said") == ["yonhap", "北朝鮮", "朝鮮兵", "said"]
    assert neardup.tokens("x北朝y") == ["x", "北朝", "y"]
