"""What a page says about itself, read once from its markup: ``<title>``, the headings, ``<meta>`` tags,
JSON-LD objects, ``<time>`` elements, the declared language and the canonical link.

These are the *candidates* the metadata rules choose from (ingest.extract.dates, .headline, .bylines,
.language). Plain lxml and json: the JSON-LD and meta vocabularies used by news sites are a handful of
keys, and extruct would add three dependencies to read them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

# JSON-LD types that describe the article itself (not the site, a breadcrumb or an image).
ARTICLE_TYPES = frozenset({
    "article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle", "opinionnewsarticle",
    "backgroundnewsarticle", "reviewnewsarticle", "askpublicnewsarticle", "blogposting", "liveblogposting",
    "socialmediaposting", "report", "scholarlyarticle", "techarticle", "creativework", "videoobject",
    "medicalwebpage", "satiricalarticle", "posting",
})
_WS = re.compile(r"\s+")
_MAX_JSONLD_CHARS = 2_000_000  # a script larger than this is data, not page metadata


@dataclass(slots=True)
class TimeElement:
    datetime: str
    text: str
    pubdate: bool  # <time pubdate> or itemprop="datePublished"
    modified: bool  # itemprop="dateModified" or a class saying "updated"/"modified"
    in_article: bool  # inside <article> or <header>


@dataclass(slots=True)
class PageFacts:
    title_tag: str | None = None
    h1: list[str] = field(default_factory=list)
    h1_in_article: list[str] = field(default_factory=list)
    meta: dict[str, list[str]] = field(default_factory=dict)  # lowercased name/property/itemprop -> values
    jsonld: list[dict[str, Any]] = field(default_factory=list)  # every object, @graph flattened
    times: list[TimeElement] = field(default_factory=list)
    html_lang: str | None = None
    content_language: str | None = None
    canonical: str | None = None
    byline_texts: list[str] = field(default_factory=list)  # the texts of the page's first byline block
    bold_lines: list[str] = field(default_factory=list)  # bold-only paragraphs opening or closing a text

    def first_meta(self, *names: str) -> str | None:
        for name in names:
            for value in self.meta.get(name, ()):
                if value:
                    return value
        return None

    def by_id(self, ref: object) -> dict[str, Any] | None:
        """The JSON-LD object an ``{"@id": …}`` reference points to (a Person in the @graph)."""
        if not isinstance(ref, str):
            return None
        return next((o for o in self.jsonld if o.get("@id") == ref and len(o) > 2), None)

    def articles(self) -> list[dict[str, Any]]:
        """JSON-LD objects of an article type, in page order."""
        return [o for o in self.jsonld if types_of(o) & ARTICLE_TYPES]


def clean_text(value: object) -> str:
    return _WS.sub(" ", value).strip() if isinstance(value, str) else ""


def types_of(obj: dict[str, Any]) -> set[str]:
    t = obj.get("@type")
    values = t if isinstance(t, list) else [t]
    return {v.rsplit("/", 1)[-1].lower() for v in values if isinstance(v, str)}


def page_facts(root: Any, page_url: str) -> PageFacts:
    """Facts from a parsed document (an lxml.html element tree root)."""
    facts = PageFacts()
    title = root.find(".//title")
    if title is not None:
        facts.title_tag = clean_text(title.text_content()) or None
    for h1 in root.iter("h1"):
        text = clean_text(h1.text_content())
        if text:
            facts.h1.append(text)
            if any(a.tag in ("article", "main") for a in h1.iterancestors()):
                facts.h1_in_article.append(text)
        if len(facts.h1) >= 8:
            break
    for meta in root.iter("meta"):
        content = meta.get("content")
        if content is None:
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            key = (meta.get(attr) or "").strip().lower()
            if key:
                facts.meta.setdefault(key, []).append(clean_text(content))
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        facts.jsonld.extend(_jsonld_objects(script.text or ""))
    for el in root.iter("time"):
        dt = (el.get("datetime") or "").strip()
        if not dt:
            continue
        classes = " ".join(filter(None, [el.get("class"), (el.getparent().get("class") if el.getparent() is not None
                                                           else None)])).lower()
        itemprop = (el.get("itemprop") or "").lower()
        facts.times.append(TimeElement(
            datetime=dt, text=clean_text(el.text_content()),
            pubdate=el.get("pubdate") is not None or itemprop == "datepublished",
            modified=itemprop == "datemodified" or any(w in classes for w in ("updated", "modified")),
            in_article=any(a.tag in ("article", "header", "main") for a in el.iterancestors())))
        if len(facts.times) >= 40:
            break
    facts.html_lang = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    facts.content_language = facts.first_meta("content-language")
    facts.canonical = _canonical(root, page_url)
    facts.byline_texts = byline_block(root)
    facts.bold_lines = bold_lines(root)
    return facts


# A byline element: rel=author, itemprop=author, or a class/id that says so ("article__author", "byline",
# "meta__author"); not a part that is no name (avatar, bio, date, job title), a picture's credit or a comment.
_BYLINE_CLASS = re.compile(r"author|byline|autor|auteur", re.I)
_NOT_BYLINE_CLASS = re.compile(
    r"avatar|image|img|photo|picture|thumb|bio|desc|social|follow|share|date|time|role|job|position|mail"
    r"|contact|more|tooltip|popup|modal|widget|related|recommend|comment|teaser|list-title|label|bild|foto|credit"
    r"|caption|copyright", re.I)
# a credit line that is no byline: a picture's or the sources' ("Quelle: sid/dpa", "Foto: …")
_NOT_BYLINE_TEXT = re.compile(r"^(?:quelle|quellen|source|sources|bild|bilder|foto|fotos|photo|photos|image|©)\b",
                              re.I)
# an author's page: /author/jane-roe, /autoren/name/max-kolter, /journalists/jane-roe/ (not a list of them)
_AUTHOR_PAGE = re.compile(r"/(?:authors?|autor|autoren|autorin|auteurs?|autores|journalists?|journalisten"
                          r"|redakteur|redakteure|columnists?|signataires)/(?:[\w\-.%]+/)*[\w\-.%]*[a-z][\w\-.%]*/?"
                          r"(?:[?#]|$)", re.I)
_LABEL_TAGS = frozenset({"strong", "b", "span", "em", "label", "dt", "th"})
_BYLINE_LABEL = re.compile(r"^(?:autor|autorin|autoren|autorin/autor|autor/in|author|authors|written by|reporter"
                           r"|auteur|auteurs|autore|autori|autores|redactor|skribent|forfatter|tekst|text)\s*:?$", re.I)
_HIDDEN_CLASS = re.compile(r"visually-hidden|sr-only|screen-reader|offscreen|(?:^|\s)hidden(?:\s|$)", re.I)
_NO_TEXT_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "button", "select", "option", "img",
                           "meta", "link", "input", "textarea", "head", "title", "time"})
_BLOCK_TAGS = frozenset({"div", "p", "li", "ul", "ol", "br", "address", "section", "dd", "dt", "h2", "h3", "h4",
                         "h5", "h6", "figcaption", "table", "tr", "td"})
_OUTSIDE = frozenset({"nav", "footer", "aside", "form"})
MAX_BYLINE_CHARS = 150


def _is_byline_element(el: Any) -> bool:
    if not isinstance(el.tag, str) or el.tag in _NO_TEXT_TAGS:
        return False
    if "author" in (el.get("rel") or "").lower().split() or (el.get("itemprop") or "").lower() == "author":
        return True
    marks = f"{el.get('class') or ''} {el.get('id') or ''}"
    if _BYLINE_CLASS.search(marks):
        return not _NOT_BYLINE_CLASS.search(marks)
    if el.tag == "a" and _AUTHOR_PAGE.search(el.get("href") or ""):
        return True  # a link to the author's page: <a href="/autoren/name/max-kolter">
    if not (el.text or "").strip() and len(el) and isinstance(el[0].tag, str) and el[0].tag in _LABEL_TAGS:
        return bool(_BYLINE_LABEL.match(clean_text(el[0].text_content())))  # <li><strong>Autor</strong> Name</li>
    return False


def _hidden(el: Any) -> bool:
    return (el.get("hidden") is not None or (el.get("aria-hidden") or "").lower() == "true"
            or bool(_HIDDEN_CLASS.search(el.get("class") or ""))
            or "display:none" in (el.get("style") or "").replace(" ", ""))


def visible_text(el: Any) -> str:
    """The text a reader sees in ``el``: no hidden parts, scripts or styles; one line per block."""
    parts: list[str] = []

    def walk(e: Any) -> None:
        if isinstance(e.tag, str) and e.tag not in _NO_TEXT_TAGS and e.text:
            parts.append(e.text)
        for child in e:
            if isinstance(child.tag, str) and child.tag not in _NO_TEXT_TAGS and not _hidden(child):
                block = "\x00" if child.tag in _BLOCK_TAGS else ""
                parts.append(block)
                walk(child)
                parts.append(block)
            if child.tail:
                parts.append(child.tail)

    walk(el)
    return "\n".join(clean_text(line) for line in "".join(parts).split("\x00") if line.strip())


def byline_block(root: Any) -> list[str]:
    """The texts of the page's first byline: the innermost byline elements under the first one's outermost
    byline ancestor ("bylines" > "byline" > a[rel=author]). Later ones are related articles' authors."""
    body = root.find("body")
    if body is None:
        return []
    found = [el for el in body.iter() if _is_byline_element(el)
             and not any(isinstance(a.tag, str) and (a.tag in _OUTSIDE or _hidden(a)) for a in el.iterancestors())]
    inner = [el for el in found if not any(_is_byline_element(d) for d in el.iterdescendants())]
    for el in inner:
        if not _byline_text(el):
            continue
        block = el
        for ancestor in el.iterancestors():
            if not _is_byline_element(ancestor):
                break
            block = ancestor
        texts = [t for e in inner if e is block or any(a is block for a in e.iterancestors())
                 for t in [_byline_text(e)] if t]
        return list(dict.fromkeys(texts))[:12]
    return []


MAX_BOLD_LINE_CHARS = 80


def bold_lines(root: Any) -> list[str]:
    """Paragraphs all in bold among the first three or the last of a text's paragraphs (four or more):
    where many sites put the byline (``<p><strong>Jane Roe</strong></p>``)."""
    body = root.find("body")
    if body is None:
        return []
    out: list[str] = []
    for parent in {id(p.getparent()): p.getparent() for p in body.iter("p") if p.getparent() is not None}.values():
        paragraphs = [p for p in parent if p.tag == "p" and visible_text(p)]
        if len(paragraphs) < 4 or any(isinstance(a.tag, str) and a.tag in _OUTSIDE for a in parent.iterancestors()):
            continue
        for p in (*paragraphs[:3], paragraphs[-1]):
            text = clean_text(visible_text(p).replace("\n", " "))
            bold = clean_text(" ".join(visible_text(b) for b in p.iter("strong", "b")).replace("\n", " "))
            if text and text == bold and len(text) <= MAX_BOLD_LINE_CHARS and text not in out:
                out.append(text)
    return out[:4]


def _byline_text(el: Any) -> str:
    name = el.find('.//*[@itemprop="name"]')
    if name is not None and name.get("content"):
        text = clean_text(name.get("content"))
    else:
        text = visible_text(name if name is not None else el).replace("\n", ", ")
    return text if 0 < len(text) <= MAX_BYLINE_CHARS and not _NOT_BYLINE_TEXT.match(text) else ""


def _canonical(root: Any, page_url: str) -> str | None:
    base = page_url
    for href in root.xpath("//base/@href"):
        base = urljoin(page_url, href.strip())
        break
    for link in root.xpath("//link[@rel][@href]"):
        if "canonical" in link.get("rel", "").lower().split():
            resolved = urljoin(base, link.get("href", "").strip())
            return resolved if urlsplit(resolved).scheme in ("http", "https") else None
    return None


def _jsonld_objects(text: str) -> Iterator[dict[str, Any]]:
    text = text.strip()
    if not text or len(text) > _MAX_JSONLD_CHARS:
        return
    if text.startswith("<!--"):  # some CMSs wrap the JSON in an HTML comment
        text = text.removeprefix("<!--").removesuffix("-->").strip()
    try:
        data = json.loads(text, strict=False)  # strict=False: raw newlines inside strings are common
    except (ValueError, RecursionError):
        return
    yield from _flatten(data, 0)


def _flatten(data: Any, depth: int) -> Iterator[dict[str, Any]]:
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item, depth + 1)
    elif isinstance(data, dict):
        if "@type" in data:
            yield data
        for key in ("@graph", "mainEntity"):
            if isinstance(data.get(key), list | dict):
                yield from _flatten(data[key], depth + 1)
