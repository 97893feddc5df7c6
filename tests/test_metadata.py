"""Metadata rules (ingest.extract.dates, .headline, .bylines, .language, comments apart): each rule on
hand-built markup, then on real corpus pages, then through the store and the export."""

from __future__ import annotations

import dataclasses
import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from test_store import db, entry, extraction, fetched, setup_source, store  # noqa: F401  (fixtures, helpers)

from ingest.config import ExtractSettings
from ingest.extract.bylines import choose_byline, split_names
from ingest.extract.dates import choose_modified, choose_published, parse_page_date
from ingest.extract.headline import choose_headline, site_names, strip_affixes
from ingest.extract.htmlmeta import page_facts
from ingest.extract.language import choose_language, normalise
from ingest.extract.metadata import page_metadata, parse_document
from ingest.extract.pages import Extraction, PageInput, extract_page
from ingest.store import archive
from ingest.store.db import read_session
from ingest.store.query import article_records

SETTINGS = ExtractSettings()


def facts(head: str = "", body: str = "", url: str = "https://news.example.com/a"):
    return page_facts(parse_document(f"<html><head>{head}</head><body>{body}</body></html>"), url)


def jsonld(obj: dict) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


# --- publication times -----------------------------------------------------------------------------------

def test_jsonld_date_published_with_its_offset() -> None:
    f = facts(jsonld({"@type": "NewsArticle", "datePublished": "2024-04-22T17:26:46+02:00",
                      "dateModified": "2024-04-23T08:00:00+02:00"}))
    got = choose_published(f, "2024-04-21T00:00:00", "https://news.example.com/a")
    assert (got.source, got.precision, got.value) == ("jsonld", "datetime",
                                                      datetime(2024, 4, 22, 15, 26, 46, tzinfo=UTC))
    assert got.iso() == "2024-04-22T17:26:46+02:00"  # as the page wrote it
    modified = choose_modified(f, got)
    assert modified is not None and modified.iso() == "2024-04-23T08:00:00+02:00"  # kept apart


def test_meta_published_time_when_there_is_no_jsonld() -> None:
    f = facts('<meta property="article:published_time" content="2025-01-14T12:20:00+0200">')
    got = choose_published(f, None, None)
    assert (got.source, got.iso()) == ("meta", "2025-01-14T12:20:00+02:00")


def test_a_day_is_completed_by_a_time_of_the_same_day_and_never_made_midnight() -> None:
    day_only = facts(jsonld({"@type": "Article", "datePublished": "2024-04-22"}))
    alone = choose_published(day_only, "2024-04-22T00:00:00", None)
    assert (alone.source, alone.precision, alone.value) == ("jsonld", "date", date(2024, 4, 22))
    assert alone.iso() == "2024-04-22"
    completed = choose_published(facts(jsonld({"@type": "Article", "datePublished": "2024-04-22"})
                                       + '<meta property="article:published_time" content="2024-04-22T06:00+02:00">'),
                                 None, None)
    assert (completed.source, completed.precision, completed.iso()) == ("jsonld", "datetime",
                                                                        "2024-04-22T06:00:00+02:00")


def test_a_time_without_offset_takes_the_offset_the_page_uses() -> None:
    f = facts(jsonld({"@type": "NewsArticle", "datePublished": "2024-03-01 09:30:00",
                      "dateModified": "2024-03-01T11:00:00+01:00"}))
    assert choose_published(f, None, None).iso() == "2024-03-01T09:30:00+01:00"


def test_time_element_and_htmldate_and_url_in_that_order() -> None:
    marked = facts(body='<article><time datetime="2023-05-02T10:00:00Z">2 May</time></article>')
    assert choose_published(marked, "2023-05-01T00:00:00", None).source == "time-element"
    assert choose_published(facts(), "2023-05-01T08:15:00+0000", None).source == "htmldate"
    by_url = choose_published(facts(), None, "https://news.example.com/2023/05/03/story.html")
    assert (by_url.source, by_url.precision, by_url.iso()) == ("url", "date", "2023-05-03")


def test_structured_dates_that_disagree_are_settled_by_the_visible_date() -> None:
    f = facts(jsonld({"@type": "NewsArticle", "datePublished": "2019-01-01T00:00:01Z"})
              + '<meta property="article:published_time" content="2024-06-10T09:00:00+00:00">')
    assert choose_published(f, "2024-06-10T00:00:00", None).iso() == "2024-06-10T09:00:00+00:00"


def test_feed_date_only_when_the_page_has_none_and_it_says_so() -> None:
    feed = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert choose_published(facts(), None, None, feed).source == "feed"
    page = choose_published(facts(jsonld({"@type": "Article", "datePublished": "2024-01-01"})), None, None, feed)
    assert (page.source, page.iso()) == ("jsonld", "2024-01-01")  # the page's day, not the feed's time


def test_unreadable_and_implausible_dates_are_no_candidates() -> None:
    assert parse_page_date("gestern") is None
    assert parse_page_date("0001-01-01") is None
    assert parse_page_date("2024-02-30") is None


# --- headlines -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "names", "host", "clean"), [
    ("Zinsen steigen | Börsen-Zeitung", [], "www.boersen-zeitung.de", "Zinsen steigen"),
    ("Russland rückt vor – DW – 30.01.2024", ["DW"], "www.dw.com", "Russland rückt vor"),
    ("Scholz in Kiew - WELT", [], "www.welt.de", "Scholz in Kiew"),
    ("能登で地震：朝日新聞デジタル", ["朝日新聞デジタル"], "www.asahi.com", "能登で地震"),
    ("Title here | The Gateway Pundit | by Jane Doe", [], "www.thegatewaypundit.com", "Title here"),
    ("Iranischer Angriff auf Israel: «Zurückhaltung»", ["SRF"], "www.srf.ch",
     "Iranischer Angriff auf Israel: «Zurückhaltung»"),  # a colon that names nothing stays
    ("Kicker - Bayern gewinnt", ["kicker"], "www.kicker.de", "Bayern gewinnt"),  # a leading site name
    ("„Unermüdlicher Einsatz“ - Die Neue Südtiroler Tageszeitung", ["tageszeitung.it"], None,
     "„Unermüdlicher Einsatz“"),  # a few words ending in the site's name
    ("Streit um die Tageszeitung: Was der Verlag plant", ["tageszeitung.it"], None,
     "Streit um die Tageszeitung: Was der Verlag plant"),  # not at the end: kept
])
def test_site_name_affixes_are_stripped(raw: str, names: list[str], host: str | None, clean: str) -> None:
    assert strip_affixes(raw, site_names(names, host)) == clean


def test_headline_prefers_structured_data_and_keeps_the_raw_title() -> None:
    head = (jsonld({"@type": "NewsArticle", "headline": "Mexico&#8217;s economy grew"})
            + '<meta property="og:title" content="Mexico economy | AP News"><title>Mexico economy | AP News</title>')
    f = facts(head, "<h1>Site logo</h1><article><h1>Mexico economy</h1></article>")
    got = choose_headline([("jsonld", f.articles()[0]["headline"]), ("og", f.first_meta("og:title")),
                           *(("h1", h) for h in f.h1), ("title", f.title_tag)], site_names(["AP News"], "apnews.com"))
    assert (got.text, got.source) == ("Mexico’s economy grew", "jsonld")  # entities decoded
    without = choose_headline([("h1", "Site logo"), ("h1", "Mexico economy"), ("title", "Mexico economy | AP News")],
                              site_names([], "apnews.com"))
    assert (without.text, without.source) == ("Mexico economy", "h1")  # the <h1> another candidate repeats


def test_title_names_section_affixes_next_to_the_site_name() -> None:
    keys = site_names([], "www.bild.de")
    got = choose_headline([("jsonld", "Bubi-Bomber wieder da: Thioune fordert Geduld | Sport"),
                           ("og", "Bubi-Bomber wieder da: Thioune fordert Geduld"),
                           ("title", "Bubi-Bomber wieder da: Thioune fordert Geduld | Sport | BILD.de")], keys)
    assert (got.text, got.source) == ("Bubi-Bomber wieder da: Thioune fordert Geduld", "jsonld")
    # no site name after it, or the <h1> shows it: part of the headline
    for title, h1 in (("Big win for Labour | What it means", "Big win for Labour"),
                      ("Big win for Labour | What it means | BILD.de", "Big win for Labour | What it means")):
        kept = choose_headline([("jsonld", "Big win for Labour | What it means"), ("og", "Big win for Labour"),
                                ("h1", h1), ("title", title)], keys)
        assert kept.text == "Big win for Labour | What it means"


def test_a_kicker_before_the_social_title_is_dropped() -> None:
    keys = site_names(["n-tv NACHRICHTEN"], "www.n-tv.de")
    got = choose_headline([("jsonld", "Neue Leipziger Schule: Judy Lybke, ganz und gar nicht eigenartig"),
                           ("og", "Judy Lybke, ganz und gar nicht eigenartig"),
                           ("h1", "Neue Leipziger Schule: Judy Lybke, ganz und gar nicht eigenartig")], keys)
    assert (got.text, got.source) == ("Judy Lybke, ganz und gar nicht eigenartig", "og")


@pytest.mark.parametrize(("seo", "social"), [
    ("Scholz sagt: Wir schaffen das", "Scholz räumt Fehler ein"),  # another headline
    ("Scholz vor dem Parteitag: Schaffen das", "Schaffen das"),  # a "kicker" longer than the rest
    ("Scholz sagt wir schaffen das", "wir schaffen das"),  # no separator before it
])
def test_a_headline_that_only_ends_like_the_social_title_stays(seo: str, social: str) -> None:
    assert choose_headline([("jsonld", seo), ("og", social)], site_names([], "www.n-tv.de")).source == "jsonld"


def test_the_canonical_address_names_the_site_of_a_mirrored_page() -> None:
    html = ('<html><head><meta property="og:title" content="Ukrainische Gegenoffensive | DW | 28.04.2023">'
            '<link rel="canonical" href="https://www.dw.com/de/a-65465031"></head><body><p>Text.</p></body></html>')
    got = page_metadata(parse_document(html), None, "Text.", "http://127.0.0.1:8080/de/a-65465031")
    assert (got.title, got.title_source) == ("Ukrainische Gegenoffensive", "og")


# --- bylines ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "names"), [
    ("Von Ralf Euler", ["Ralf Euler"]),
    ("Capital Von Jemima Kelly", ["Jemima Kelly"]),
    ("Autor Monika Bolliger", ["Monika Bolliger"]),
    ("You, Xiaoying, Lenharo, Mariana", ["Xiaoying You", "Mariana Lenharo"]),
    ("Trine Juncher Jørgensen og Tôrtia Reimer-Johansen", ["Trine Juncher Jørgensen", "Tôrtia Reimer-Johansen"]),
    ("Ana García y Luis Pérez", ["Ana García", "Luis Pérez"]),
    ("Иван Петров и Анна Сидорова", ["Иван Петров", "Анна Сидорова"]),
    ("Ursula von der Leyen", ["Ursula von der Leyen"]),
    ("Elena Oberholzer (obe), Oliver Maksan (oma)", ["Elena Oberholzer", "Oliver Maksan"]),
    ("https://www.thenation.com/authors/sarah-lazare/", []),
])
def test_names_are_split_and_cleaned(raw: str, names: list[str]) -> None:
    assert split_names(raw) == names


def test_people_organisations_and_agencies_are_apart() -> None:
    keys = site_names(["hessenschau.de"], "www.hessenschau.de")
    f = facts(jsonld({"@type": "NewsArticle", "author": [
        {"@type": "Person", "name": "Felix Schröder und Jörg Soldwisch, dpa"},
        {"@type": "Organization", "name": "Frankfurter Allgemeine Zeitung GmbH"}]}))
    got = choose_byline(f, None, keys)
    assert got.authors == ("Felix Schröder", "Jörg Soldwisch", "dpa")  # an agency is credited
    assert got.organisations == ("Frankfurter Allgemeine Zeitung GmbH",)
    newsroom = choose_byline(facts('<meta name="author" content="hessenschau.de, Frankfurt, Germany">'), None, keys)
    assert (newsroom.authors, newsroom.organisations) == (("hessenschau.de",), ("hessenschau.de",))  # no places as people
    agency = choose_byline(facts('<meta name="author" content="Reuters">'), None, keys)
    assert (agency.authors, agency.organisations) == (("Reuters",), ())
    # the page's own letters: trafilatura's guess ("Mdr De") only when the page names no one
    assert choose_byline(facts(jsonld({"@type": "Article", "author": {"@type": "Organization", "name": "mdr.de"}})),
                         "Mdr De", site_names([], "www.mdr.de")).organisations == ("mdr.de",)


# --- language --------------------------------------------------------------------------------------------

ZULU = ("Uhulumeni uthe uzoqhubeka nokusiza imindeni ethintekile ngemuva kwezikhukhula ezibhubhise izindlu "
        "eziningi esifundazweni. Abantu abaningi basalele emaholo omphakathi njengoba izindlu zabo zikhukhulekile. "
        "UNgqongqoshe uthe izinsiza zizofika ngokushesha kubantu abadinga usizo.") * 2


def test_confident_detection_beats_a_template_declaration() -> None:
    got = choose_language("en-US", ZULU)
    assert (got.language, got.source, got.declared) == ("zu", "detected", "en-US")


def test_codes_are_normalised_and_the_declaration_kept_as_written() -> None:
    assert normalise("nb-NO") == normalise("nn") == "no"
    assert normalise("pt-BR") == "pt" and normalise("iw") == "he"
    assert normalise("utf-8") is None and normalise("und") is None
    got = choose_language("pt-BR", "O governo anunciou hoje novas medidas para conter a inflação no país, "
                                   "segundo o ministro da Fazenda, que falou em Brasília. " * 3)
    assert (got.language, got.source, got.declared) == ("pt", "page", "pt-BR")


def test_close_relatives_keep_the_declaration() -> None:
    danish_like = "Regeringen vil nu se på, hvordan man kan hjælpe de berørte familier efter stormen. " * 4
    assert choose_language("nb", danish_like).language == "no"


# --- real corpus pages -------------------------------------------------------------------------------------

def corpus_page(corpus_dir: Path, relative: str) -> tuple[str, bytes, dict]:
    country, name = relative.split("/")
    folder = corpus_dir / "news-pages" / country
    path = folder / name
    if not path.is_file():
        pytest.skip(f"{relative} is not in this copy of the corpus")
    from ingest.demo.corpus import expected_record

    info = json.loads((folder / "meta.info").read_text(encoding="utf-8"))
    return info[name]["url"], gzip.decompress(path.read_bytes()), expected_record(folder, name, info) or {}


@pytest.mark.parametrize("relative", ["de/BR_2024_04_22.html.gz", "de/Heise_2024_04_19.html.gz",
                                      "de/VogueDE_2024_04_30.html.gz", "uk/Nature_2025_11_04.html.gz",
                                      "de/FAZ_2024_04_17.html.gz", "us/TheNewYorker_2023_05_16.html.gz"])
# site suffixes (Heise, Vogue), "Condé Nast" as author (Vogue), "Last, First" lists (Nature)
def test_corpus_pages_get_the_expected_time_headline_and_people(corpus_dir: Path, relative: str) -> None:
    url, body, expected = corpus_page(corpus_dir, relative)
    got = extract_page(PageInput(url, body, "text/html"), SETTINGS)
    assert isinstance(got, Extraction)
    assert got.title == expected["title"]
    assert got.title_raw  # the <title> as written, next to the chosen headline
    assert set(got.authors) == set(expected["authors"])
    ours = datetime.fromisoformat(got.published)  # type: ignore[arg-type]
    assert got.published_precision == "datetime" and got.published_source in ("jsonld", "meta")
    assert abs((ours - datetime.fromisoformat(expected["publishing_date"])).total_seconds()) <= 3600


def test_isizulu_page_declared_english_is_zulu(corpus_dir: Path) -> None:
    url, body, _ = corpus_page(corpus_dir, "za/Isolezwe_2025_11_09.html.gz")
    got = extract_page(PageInput(url, body, "text/html"), SETTINGS)
    assert isinstance(got, Extraction)
    assert (got.language, got.language_source, got.language_declared) == ("zu", "detected", "en")


def test_comments_are_apart_from_the_text(corpus_dir: Path) -> None:
    url, body, _ = corpus_page(corpus_dir, "de/Taz_2023_04_28.html.gz")
    apart = extract_page(PageInput(url, body, "text/html"), SETTINGS)
    inline = extract_page(PageInput(url, body, "text/html"), ExtractSettings(include_comments=True))
    assert isinstance(apart, Extraction) and isinstance(inline, Extraction)
    assert SETTINGS.include_comments is False and apart.options["include_comments"] is False
    assert apart.comments and len(apart.comments) > 1000
    assert apart.comments not in apart.text
    assert inline.text.startswith(apart.text) and apart.comments.split()[:20] == \
        inline.text[len(apart.text):].split()[:20]


# --- store and export --------------------------------------------------------------------------------------

def test_archive_records_source_precision_and_exports_a_day_as_a_day(db) -> None:  # noqa: F811
    sid, ids = setup_source(db, entries=[entry("g1", "https://example.org/1"), entry("g2", "https://example.org/2")])
    dated = dataclasses.replace(extraction(), published="2025-02-01T10:30:00+02:00", published_source="jsonld",
                                published_precision="datetime", title_raw="POWs | Site", organisations=("Site",),
                                comments="first!", modified="2025-02-02T08:00:00+02:00", language_declared="en-GB")
    undated = dataclasses.replace(extraction(text_="Another text, long enough to be its own article. " * 10,
                                             title="Other"), published=None)
    a, b = store(db, sid, archive.PageOutcome((ids["g1"],), "https://example.org/1", fetched("https://example.org/1"),
                                              dated),
                 archive.PageOutcome((ids["g2"],), "https://example.org/2", fetched("https://example.org/2",
                                                                                     b"<html>2</html>"), undated))
    with read_session(db) as s:
        first, second = article_records(s, [a.article_id, b.article_id])
    assert (first["published_at"], first["published_source"], first["published_precision"]) == (
        "2025-02-01T08:30:00Z", "jsonld", "datetime")
    assert first["published_local"] == "2025-02-01T10:30:00+02:00"
    assert (first["modified_at"], first["title_raw"], first["organisations"], first["comments"]) == (
        "2025-02-02T06:00:00Z", "POWs | Site", ["Site"], "first!")
    assert first["comments"] not in first["text"] and first["language_declared"] == "en-GB"
    # no date on the page: the feed's, and it says so
    assert (second["published_source"], second["published_precision"]) == ("feed", "datetime")
    assert second["published_at"] is not None
