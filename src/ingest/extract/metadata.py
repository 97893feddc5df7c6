"""An article's metadata from its page: publication time, headline, byline, language, canonical URL.

Pure: the decoded HTML, trafilatura's Document for it and the extracted text in, :class:`PageMetadata`
out. The rules live in the modules named after them (dates, headline, bylines, language); this one
gathers the candidates once (ingest.extract.htmlmeta) and records where each value came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ingest.extract.bylines import choose_byline
from ingest.extract.dates import choose_modified, choose_published
from ingest.extract.headline import choose_headline, site_names
from ingest.extract.htmlmeta import PageFacts, clean_text, page_facts, types_of
from ingest.extract.language import LanguageChoice, choose_language, declared_tag

# htmldate, asked for the time and the offset too (trafilatura's default is the day only).
HTMLDATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


@dataclass(frozen=True, slots=True)
class PageMetadata:
    title: str | None
    title_source: str | None
    title_raw: str | None  # the page's <title>, as written
    authors: tuple[str, ...]
    organisations: tuple[str, ...]
    published: str | None  # ISO 8601: "2024-04-22" (a day) or "2024-04-22T17:26:46+02:00"
    published_source: str | None  # jsonld | meta | time-element | htmldate | url (feed: in the store)
    published_precision: str | None  # "datetime" or "date"
    modified: str | None
    language: LanguageChoice
    sitename: str | None
    canonical_url: str | None


def parse_document(html: str) -> Any:
    import lxml.html

    return lxml.html.document_fromstring(html.encode("utf-8", "replace"), parser=lxml.html.HTMLParser(encoding="utf-8"))


def page_metadata(root: Any, doc: Any, text: str, url: str) -> PageMetadata:
    """``root``: the lxml tree of the page; ``doc``: trafilatura's Document (date asked as HTMLDATE_FORMAT)."""
    facts = page_facts(root, url)
    host = urlsplit(url).hostname
    sitename = facts.first_meta("og:site_name") or _jsonld_site(facts) or _str(getattr(doc, "sitename", None))
    names = site_names([sitename, facts.first_meta("application-name"), facts.first_meta("apple-mobile-web-app-title"),
                        *_publisher_names(facts), (facts.first_meta("twitter:site") or "").lstrip("@")], host)
    for other in _own_hosts(facts) - {host}:  # the page's own address when it is served from elsewhere (mirror, AMP)
        names |= site_names([], other)
    headline = choose_headline(_headline_candidates(facts), names)
    published = choose_published(facts, _str(getattr(doc, "date", None)), url)
    modified = choose_modified(facts, published)
    byline = choose_byline(facts, _str(getattr(doc, "author", None)), names)
    declared = declared_tag(facts.html_lang, facts.content_language, _str(getattr(doc, "language", None)))
    return PageMetadata(
        title=headline.text if headline else _str(getattr(doc, "title", None)),
        title_source=headline.source if headline else ("trafilatura" if getattr(doc, "title", None) else None),
        title_raw=facts.title_tag,
        authors=byline.authors,
        organisations=byline.organisations,
        published=published.iso() if published else None,
        published_source=published.source if published else None,
        published_precision=published.precision if published else None,
        modified=modified.iso() if modified else None,
        language=choose_language(declared, text),
        sitename=sitename,
        canonical_url=facts.canonical,
    )


def _headline_candidates(facts: PageFacts) -> list[tuple[str, str | None]]:
    h1s = facts.h1_in_article + [h for h in facts.h1 if h not in facts.h1_in_article]
    jsonld = next((clean_text(o.get("headline")) for o in facts.articles() if isinstance(o.get("headline"), str)), None)
    return [("jsonld", jsonld), ("og", facts.first_meta("og:title")), ("twitter", facts.first_meta("twitter:title")),
            *(("h1", h) for h in h1s), ("title", facts.title_tag)]


def _own_hosts(facts: PageFacts) -> set[str]:
    hosts = set()
    for url in (facts.canonical, facts.first_meta("og:url")):
        try:
            hostname = urlsplit(url).hostname if url else None
        except ValueError:
            continue
        if hostname:
            hosts.add(hostname)
    return hosts


def _publisher_names(facts: PageFacts) -> list[str]:
    out = []
    for obj in facts.jsonld:
        publisher = obj.get("publisher")
        for p in publisher if isinstance(publisher, list) else [publisher]:
            if isinstance(p, dict) and isinstance(p.get("name"), str):
                out.append(p["name"])
        if types_of(obj) & {"website", "newsmediaorganization", "organization"} and isinstance(obj.get("name"), str):
            out.append(obj["name"])
    return out


def _jsonld_site(facts: PageFacts) -> str | None:
    return next((o["name"] for o in facts.jsonld if "website" in types_of(o) and isinstance(o.get("name"), str)), None)


def _str(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None
