"""ingest.extract.fallback: where the text comes from when trafilatura finds none or too little.

Each page here is one trafilatura cannot read (a client-rendered shell, a precision pass over a page with
its body only in JSON-LD), so without the fallback it is an empty extraction. Each negative case comes
with the positive one it differs from, so that the rule, not the absence of a fallback, keeps it empty.
"""

from __future__ import annotations

import gzip
import json
from html import escape
from pathlib import Path

import pytest

from ingest.config import ExtractSettings
from ingest.errors import ErrorKind
from ingest.extract.pages import Extraction, ExtractionFailure, PageInput, extract_page

SETTINGS = ExtractSettings()
OPTIONS = SETTINGS.trafilatura_options()
HEADLINE = "Harbour council approves the new budget after a long night of debate"
PARAGRAPHS = [
    "The harbour council approved next year's budget shortly after two in the morning, ending a session "
    "that began on Monday afternoon and ran through eleven hours of amendments.",
    "Most of the new spending goes to dredging the eastern basin, which the port authority says has "
    "silted up faster than expected since the storms of last winter.",
    "Opposition members voted against the plan, arguing that the fishing fleet would pay for a project "
    "that mainly benefits the container terminal.",
]
BODY_HTML = (f"<p>{PARAGRAPHS[0]}</p>$$ARTICLEAD$$<div class='caption'><p>The eastern basin at low tide.</p></div>"
             f"<h3>Dredging first</h3><p>{PARAGRAPHS[1]}</p><p>{PARAGRAPHS[2]}</p>")
BODY_TEXT = "\n\n".join(PARAGRAPHS)
ARTICLE_URL = "https://news.example.org/politics/harbour-budget"


def shell(*scripts: str, head: str = "") -> bytes:
    """A client-rendered page: a spinner in the markup, the article only in its scripts."""
    tags = "".join(scripts)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{HEADLINE} - Politics | Daily Example</title>"
            f"<meta property='og:title' content='{HEADLINE} - Politics | Daily Example'>{head}</head>"
            f"<body><main><div class='spinner' aria-busy='true'></div></main>{tags}</body></html>").encode()


def state_script(detail: object) -> str:
    """A React Query style dehydrated state, pushed onto a global by an inline script."""
    state = {"mutations": [], "queries": [{"state": {"data": {"detail": detail}}, "queryKey": ["article", "1"]}]}
    return f'<script>window["__RQ_1"] = window["__RQ_1"] || [];window["__RQ_1"].push({json.dumps(state)});</script>'


def next_data(page_props: object) -> str:
    data = {"props": {"pageProps": page_props}, "page": "/[section]/[slug]"}
    return f'<script id="__NEXT_DATA__" type="application/json">{json.dumps(data)}</script>'


def jsonld(obj: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


def extract(body: bytes, settings: ExtractSettings = SETTINGS) -> Extraction | ExtractionFailure:
    return extract_page(PageInput(ARTICLE_URL, body, "text/html; charset=utf-8"), settings)


def paragraphs(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# --- the article as data in an inline script ------------------------------------------------------------

def test_a_client_rendered_shell_is_archived_from_its_state_script() -> None:
    detail = {"articleId": "1", "title": HEADLINE, "subTitle": "A short standfirst about the vote.",
              "contentHtml": BODY_HTML, "writerDisplay": "Jane Doe"}
    result = extract(shell(state_script(detail)))

    assert isinstance(result, Extraction), result
    lines = paragraphs(result.text)
    assert lines[0] == PARAGRAPHS[0]
    assert PARAGRAPHS[1] in lines and PARAGRAPHS[2] in lines and "Dredging first" in lines
    assert "$$ARTICLEAD$$" not in result.text  # a CMS placeholder the page's scripts fill in
    assert "standfirst" not in result.text
    # Provenance: the trafilatura options used, and where the text came from.
    assert result.options == OPTIONS | {"fallback": "embedded-json:script[0]:queries[0].state.data.detail.contentHtml"}
    assert result.extractor == "trafilatura"
    assert result.comments is None
    assert result.title.startswith(HEADLINE)  # the headline rules are ingest.extract.headline's
    assert result.language == "en"


def test_next_data_with_a_plain_text_body() -> None:
    props = {"article": {"headline": HEADLINE, "summary": "The council voted overnight.", "body": BODY_TEXT,
                         "id": "harbour-budget"}}
    result = extract(shell(next_data(props)))

    assert isinstance(result, Extraction), result
    assert paragraphs(result.text) == PARAGRAPHS
    assert result.options["fallback"] == "embedded-json:script[0]:props.pageProps.article.body"


def test_a_body_nested_under_a_body_name() -> None:
    props = {"story": {"title": HEADLINE, "body": {"html": BODY_HTML, "wordCount": 120}}}
    result = extract(shell(next_data(props)))

    assert isinstance(result, Extraction), result
    assert result.options["fallback"] == "embedded-json:script[0]:props.pageProps.story.body.html"


def test_only_the_object_naming_the_page_headline_gives_the_text() -> None:
    mine = {"title": HEADLINE, "content": BODY_HTML}
    other = {"title": "Ferry timetable changes from Sunday as the winter schedule begins", "content": BODY_HTML}
    assert isinstance(extract(shell(state_script(mine))), Extraction)
    result = extract(shell(state_script(other)))
    assert result == ExtractionFailure(ErrorKind.EMPTY_EXTRACTION, "trafilatura found no main text")


def test_teasers_in_a_list_and_navigation_are_never_the_text() -> None:
    page = {"title": HEADLINE, "content": BODY_HTML}
    assert isinstance(extract(shell(next_data({"article": page}))), Extraction)

    # The same object as one of several teasers (a related-articles rail that names this story too).
    related = [page, {"title": "Another story entirely, about the ferry timetable", "content": BODY_HTML}]
    assert isinstance(extract(shell(next_data({"related": related}))), ExtractionFailure)
    # Fields that are not the body: navigation, a summary, an image's alt text, the description.
    for props in ({"page": {"title": HEADLINE, "navigation": {"text": BODY_TEXT}}},
                  {"page": {"title": HEADLINE, "summaryHtml": BODY_HTML, "image": {"altText": BODY_TEXT}}}):
        result = extract(shell(next_data(props)))
        assert result == ExtractionFailure(ErrorKind.EMPTY_EXTRACTION, "trafilatura found no main text"), props
    description = f"<meta name='description' content='{escape(PARAGRAPHS[0] + ' ' + PARAGRAPHS[1])}'>"
    teaser = {"title": HEADLINE, "text": f"{PARAGRAPHS[0]} {PARAGRAPHS[1]}"}
    assert isinstance(extract(shell(next_data({"page": teaser}), head=description)), ExtractionFailure)


def test_a_shell_without_article_text_stays_an_empty_extraction() -> None:
    long_enough = {"title": HEADLINE, "body": BODY_TEXT}
    assert isinstance(extract(shell(state_script(long_enough))), Extraction)

    too_short = {"title": HEADLINE, "body": PARAGRAPHS[0][:150]}
    config = '<script>window.__CONFIG__ = {"apiBase": "/api", "features": {"comments": true}};</script>'
    for body in (shell(state_script(too_short)), shell(config), shell("<script>var x = {a: 1};</script>")):
        assert extract(body) == ExtractionFailure(ErrorKind.EMPTY_EXTRACTION, "trafilatura found no main text")
    # Too little text found by trafilatura keeps its own detail.
    short = (f"<html><head><title>{HEADLINE}</title></head><body><article><p>Too short.</p></article>"
             f"{state_script(too_short)}</body></html>").encode()
    assert extract(short) == ExtractionFailure(ErrorKind.EMPTY_EXTRACTION, "10 characters of text, fewer than 200")


def test_a_failing_fallback_leaves_the_empty_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.extract.fallback as fallback

    def broken(*args: object) -> None:
        raise RuntimeError("metadata reader broke")

    page = shell(state_script({"title": HEADLINE, "contentHtml": BODY_HTML}))
    assert isinstance(extract(page), Extraction)
    monkeypatch.setattr(fallback, "_metadata", broken)
    assert extract(page) == ExtractionFailure(ErrorKind.EMPTY_EXTRACTION, "trafilatura found no main text")


# --- JSON-LD articleBody -----------------------------------------------------------------------------------

PRECISION = ExtractSettings(favor_precision=True)


def standfirst_page(*scripts: str) -> bytes:
    """A page whose markup holds only a standfirst; trafilatura's precision pass finds too little."""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{HEADLINE}</title>"
            f"{''.join(scripts)}</head><body><article><h1>{HEADLINE}</h1>"
            f"<p>The council voted overnight; subscribers can read the full report.</p></article></body></html>"
            ).encode()


def test_the_jsonld_article_body_when_the_pass_finds_too_little() -> None:
    article = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": HEADLINE,
               "articleBody": BODY_TEXT, "datePublished": "2024-03-05T02:10:00+01:00"}
    result = extract(standfirst_page(jsonld(article)), PRECISION)

    assert isinstance(result, Extraction), result
    assert paragraphs(result.text) == PARAGRAPHS
    assert result.options == PRECISION.trafilatura_options() | {"fallback": "jsonld:articleBody"}
    assert result.published == "2024-03-05T02:10:00+01:00"


def test_the_jsonld_body_only_of_the_pages_article() -> None:
    article = {"@type": "ReportageNewsArticle", "headline": HEADLINE, "articleBody": BODY_TEXT}
    assert isinstance(extract(standfirst_page(jsonld(article)), PRECISION), Extraction)

    webpage = {"@type": "WebPage", "name": HEADLINE, "articleBody": BODY_TEXT}
    result = extract(standfirst_page(jsonld(webpage)), PRECISION)
    assert isinstance(result, ExtractionFailure) and result.kind is ErrorKind.EMPTY_EXTRACTION
    # Several articles (a list of related ones): the one whose headline is the page's.
    related = {"@type": "NewsArticle", "headline": "Ferry timetable changes from Sunday",
               "articleBody": "The ferry timetable changes from Sunday. " * 10}
    result = extract(standfirst_page(jsonld({"@graph": [related, article]})), PRECISION)
    assert isinstance(result, Extraction) and paragraphs(result.text) == PARAGRAPHS
    result = extract(standfirst_page(jsonld({"@graph": [related, webpage]})), PRECISION)
    assert isinstance(result, Extraction) and result.text.startswith("The ferry timetable")  # the only article
    unnamed = {"@type": "NewsArticle", "headline": "Something else again", "articleBody": BODY_TEXT}
    result = extract(standfirst_page(jsonld({"@graph": [related, unnamed]})), PRECISION)
    assert isinstance(result, ExtractionFailure)


# --- the corpus page that needs it ------------------------------------------------------------------------

def test_the_corpus_page_rendered_in_the_browser(corpus_dir: Path) -> None:
    path = corpus_dir / "news-pages" / "kr" / "HankookIlbo_2026_01_29.html.gz"
    if not path.is_file():
        pytest.skip("HankookIlbo_2026_01_29 is not in this copy of the corpus")
    url = json.loads((path.parent / "meta.info").read_text(encoding="utf-8"))[path.name]["url"]
    result = extract_page(PageInput(url, gzip.decompress(path.read_bytes()), "text/html"), SETTINGS)

    assert isinstance(result, Extraction), result
    assert result.options["fallback"] == "embedded-json:script[49]:queries[0].state.data.data.detail.contentHtml"
    assert result.text.startswith("장동혁 국민의힘 대표가 당권을 위협하던 한동훈 전 대표를 제명했지만")
    assert result.text.endswith("마지막 기회를 놓치는 것\"이라고 지적했다.")
    assert "$$ARTICLEAD$$" not in result.text and "연합뉴스" not in result.text  # no placeholder, no caption
    assert result.language == "ko" and result.published == "2026-01-29"
