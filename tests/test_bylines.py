"""Byline rules (ingest.extract.bylines, and the byline candidates of ingest.extract.htmlmeta), each on
hand-built markup: which source names the people, what is a name, what is an organisation or a place."""

from __future__ import annotations

import json

import pytest

from ingest.extract.bylines import choose_byline, split_names
from ingest.extract.headline import site_names
from ingest.extract.htmlmeta import page_facts
from ingest.extract.metadata import parse_document

KEYS = site_names(["Example News"], None)  # as the benchmark serves pages: from 127.0.0.1, no host to go by


def facts(head: str = "", body: str = ""):
    return page_facts(parse_document(f"<html><head>{head}</head><body>{body}</body></html>"), "http://127.0.0.1/a")


def jsonld(obj: dict) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


def byline(head: str = "", body: str = "", trafilatura: str | None = None, keys: set[str] = KEYS):
    got = choose_byline(facts(head, body), trafilatura, keys)
    return list(got.authors), list(got.organisations)


# --- which source names the people ------------------------------------------------------------------------

def test_a_source_naming_no_one_passes_to_the_next() -> None:
    # an e-mail address as the meta author: trafilatura's reading of the visible byline names the person
    assert byline('<meta name="author" content="d.kuckelkorn@example-zeitung.de">',
                  trafilatura="Dieter Kuckelkorn") == (["Dieter Kuckelkorn"], [])
    # a JSON-LD author that is an author page's slug: the meta author names the person
    assert byline(jsonld({"@type": "NewsArticle", "author": {"@type": "Person", "name": "chuck-ross"}})
                  + '<meta name="author" content="Chuck Ross">') == (["Chuck Ross"], [])


def test_the_publisher_as_author_gives_way_to_the_person_the_page_shows() -> None:
    head = jsonld({"@type": "NewsArticle", "author": {"@type": "Organization", "name": "STERN.de"}})
    body = ('<h1>Headline</h1><div class="authors"><span class="authors__brand"><span class="u-visually-hidden">'
            'capital</span></span><ul><li class="authors__list-item"><span>von</span> <span>Jemima Kelly</span>'
            '</li></ul></div>')
    assert byline(head, body) == (["Jemima Kelly"], ["STERN.de"])


def test_a_cms_author_meta_names_the_person_behind_a_publisher_author() -> None:
    head = (jsonld({"@type": "NewsArticle", "author": {"@type": "Organization", "name": "毎日新聞"}})
            + '<meta name="cXenseParse:author" content="松岡大地">')
    assert byline(head) == (["松岡大地"], ["毎日新聞"])
    assert byline('<meta name="DCSext.author" content="Madeleine Howell">') == (["Madeleine Howell"], [])
    assert byline('<meta name="twitter:creator" content="Jane Roe">') == ([], [])  # a handle's owner, not a byline


def test_an_organisation_stays_one_in_later_sources() -> None:
    head = (jsonld({"@type": "NewsArticle", "author": {"@type": "Organization", "name": "Kicker Sportmagazin"}})
            + '<meta name="author" content="Kicker Sportmagazin">')
    assert byline(head) == (["Kicker Sportmagazin"], ["Kicker Sportmagazin"])


def test_trafilatura_only_when_the_markup_names_no_one() -> None:
    head = jsonld({"@type": "NewsArticle", "author": {"@type": "Organization", "name": "ORF.at"}})
    assert byline(head, trafilatura="Red; ORF at; Agenturen") == (["ORF.at"], ["ORF.at"])


# --- JSON-LD ----------------------------------------------------------------------------------------------

def test_jsonld_author_by_reference_to_a_person_in_the_graph() -> None:
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "NewsArticle", "headline": "H", "author": {"@id": "https://example.com/#/schema/person/1"}},
        {"@type": "Person", "@id": "https://example.com/#/schema/person/1", "name": "Paul Serran"}]}
    assert byline(jsonld(graph)) == (["Paul Serran"], [])


def test_jsonld_person_with_given_and_family_names() -> None:
    head = jsonld({"@type": "NewsArticle", "author": [{"@type": "Person", "givenName": "Anna Giulia",
                                                       "familyName": "Fink"}]})
    assert byline(head) == (["Anna Giulia Fink"], [])


def test_jsonld_author_typed_person_and_organization_is_a_person() -> None:
    head = jsonld({"@type": "NewsArticle", "author": [{"@type": ["Person", "Organization"], "name": "Kyle Wiggers"}]})
    assert byline(head) == (["Kyle Wiggers"], [])


# --- the byline the page shows ----------------------------------------------------------------------------

def test_only_the_first_byline_block_related_articles_authors_are_not_the_authors() -> None:
    body = ('<div class="bylines"><div class="byline"><a rel="author" href="mailto:a@x.no">Ingrid Treborg</a></div>'
            '<div class="byline"><a rel="author" href="mailto:b@x.no">Marlene Lundberg Holm</a></div></div>'
            '<ul><li><a rel="author" href="/p/1">Rebecca Astill</a></li><li><a rel="author" href="/p/2">Jack Rear</a>'
            '</li></ul>')
    assert byline(body=body) == (["Ingrid Treborg", "Marlene Lundberg Holm"], [])


def test_a_byline_elements_parts_that_are_no_names() -> None:
    assert byline(body='<div class="byline"><span class="byline-by">By</span> <a class="author-name">Jane Roe</a>'
                       '</div>') == (["Jane Roe"], [])
    # a job title and a link's text next to the name, a picture's credit, the sources
    assert byline(body='<div class="author"><a>Houston Mitchell</a><div>Assistant Sports Editor</div>'
                       '<a>Twitter</a><a>Gear Team</a></div>') == (["Houston Mitchell"], [])
    assert byline(body='<div class="bildautor">Foto: APA/KEYSTONE/CYRIL ZINGARO</div>') == ([], [])
    assert byline(body='<div class="backlink__author">Quelle: sid/dpa</div>') == ([], [])


def test_initials_and_agencies_in_general_do_not_replace_the_newsroom() -> None:
    head = jsonld({"@type": "NewsArticle", "author": {"@type": "Organization", "name": "kicker"}})
    assert byline(head, '<p class="article__author">amw</p>') == (["kicker"], ["kicker"])
    head = jsonld({"@type": "NewsArticle", "author": {"@type": "Organization", "name": "ORF.at"}})
    assert byline(head, '<div class="byline">red, ORF.at/Agenturen</div>') == (["ORF.at"], ["ORF.at"])


# --- names, organisations, places -------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "names"), [
    ("Von Seb Dumitru, Lille", ["Seb Dumitru"]),  # a dateline's place
    ("Anna Martel und Lea Wagner, Nairobi", ["Anna Martel", "Lea Wagner"]),
    ("AFP, MANILA", ["AFP"]),
    ("Associated Press in Valencia", ["Associated Press"]),
    ("ssi, dan", ["ssi", "dan"]),  # initials are kept where they are the byline
    ("牛镛、岳弘彬", ["牛镛", "岳弘彬"]),
    ("By", []),
])
def test_places_agencies_and_lists(raw: str, names: list[str]) -> None:
    assert split_names(raw) == names


def test_agencies_by_their_full_names() -> None:
    head = jsonld({"@type": "NewsArticle", "author": [{"@type": "Organization", "name": "Deutsche Presse-Agentur"},
                                                      {"@type": "Person", "name": "MM-Redaktion"}]})
    assert byline(head) == (["Deutsche Presse-Agentur"], ["MM-Redaktion"])


def test_the_sites_acronym_first_is_a_newsroom() -> None:
    keys = site_names(["MDR.DE"], None)
    assert byline('<meta name="author" content="David Straub, MDR THÜRINGEN">', keys=keys) == \
        (["David Straub"], ["MDR THÜRINGEN"])


def test_a_publisher_named_with_its_address_is_an_organisation() -> None:
    assert byline('<meta name="author" content="Deutsche Welle (www.dw.com)">') == (["Deutsche Welle"], ["Deutsche Welle"])


def test_a_link_to_the_authors_page_and_a_labelled_line_are_bylines() -> None:
    head = '<meta name="author" content="LTO">'
    keys = site_names(["LTO"], None)
    assert byline(head, '<p class="reader__meta-info">von <a href="/autoren/name/max-kolter">Dr. Max Kolter</a></p>',
                  keys=keys) == (["Dr. Max Kolter"], ["LTO"])
    body = '<ul><li><strong>Datum</strong> 28.04.2023</li><li><strong>Autorin/Autor</strong> Roman Goncharenko</li></ul>'
    assert byline(body=body) == (["Roman Goncharenko"], [])
    assert byline(body='<nav><a href="/de/reporter/s-1">Reporter</a></nav><a href="/authors/">Authors</a>') == ([], [])


def test_an_article_author_meta_credits_the_agency_behind_the_publisher() -> None:
    head = (jsonld({"@type": "NewsArticle", "author": {"@type": "Organization", "name": "NTV"}})
            + '<meta name="articleAuthor" content="Anadolu Ajansı">')
    assert byline(head) == (["Anadolu Ajansı"], ["NTV"])


def test_a_bold_paragraph_opening_the_text_is_its_byline() -> None:
    paragraphs = "".join(f"<p>Paragraph {i} of the article, with enough words to be one.</p>" for i in range(5))
    head = jsonld({"@type": "NewsArticle", "author": {"@type": "Organization", "name": "Lesotho Times"}})
    body = f'<div class="entry-content"><p><strong>Mathatisi Sebusi/Mohalenyane Phakela</strong></p>{paragraphs}</div>'
    assert byline(head, body) == (["Mathatisi Sebusi", "Mohalenyane Phakela"], ["Lesotho Times"])
    subhead = f'<div class="entry-content">{paragraphs}<p><strong>A preventable crisis.</strong></p>{paragraphs}</div>'
    assert byline(head, subhead) == (["Lesotho Times"], ["Lesotho Times"])  # a subheading in the middle, a sentence


def test_the_sites_shared_account_is_no_person() -> None:
    paragraphs = "".join(f"<p>Paragraph {i} of the article, with enough words to be one.</p>" for i in range(5))
    head = jsonld({"@type": "NewsArticle", "author": {"@id": "https://example.co.za/author/admin/", "name": "Ilanga D"}})
    body = f'<a rel="author" href="/author/admin/">Ilanga D</a><div><p><b>MTHOBISI SITHOLE</b></p>{paragraphs}</div>'
    assert byline(head, body) == (["MTHOBISI SITHOLE"], ["Ilanga D"])


@pytest.mark.parametrize(("raw", "names"), [
    ("Dolores Chang For Dailymail.Com", ["Dolores Chang"]),  # written for a publication
    ("Jane Roe for The Guardian", ["Jane Roe"]),
])
def test_the_publication_written_for_is_not_part_of_the_name(raw: str, names: list[str]) -> None:
    assert split_names(raw) == names
