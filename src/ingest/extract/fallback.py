"""Where an article's text comes from when trafilatura's pass over the page finds none, or too little.

:func:`rescue` is asked only then. It reads what the publisher declares to be the article's text, in
order, and takes the first that yields at least ``min_chars``:

1. ``jsonld:articleBody``: the ``articleBody`` of the page's JSON-LD article (Article, NewsArticle or one
   of NewsArticle's subtypes; not a WebPage, a product, a video; with several, the one whose headline is
   the page's).
2. ``embedded-json:script[i]:<key path>``: pages rendered in the browser (React/Next.js, Nuxt, Apollo
   state) serve an empty shell and the article as data in an inline script. The text is the longest
   body-named field (``body``, ``content``, ``contentHtml``, ``plainText``, ``storyHTML``…; never a
   summary, description, title, caption or id) of a JSON object there that names the page's own headline
   and is not one item of a list of objects (teasers, related articles), rendered by trafilatura when it
   is markup; paragraphs that are only a CMS placeholder (``$$ARTICLEAD$$``) are dropped.

No retry of trafilatura itself: in its default (balanced) mode its pass has already run its own
fallbacks (readability/jusText, the baseline, which takes a JSON-LD articleBody, and a recall
escalation), and a recall pass over a page that has no article gives its footer or menus. The path
that produced the text is recorded in the extraction's options (``"fallback"``) next to the trafilatura
options used (for rendering markup, and for the page's metadata). Nothing is taken from the page's
other text: a page without either stays an empty extraction.
"""

from __future__ import annotations

import html as htmllib
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ingest.extract.htmlmeta import PageFacts, clean_text, page_facts, types_of
from ingest.extract.metadata import HTMLDATE_FORMAT, parse_document

log = logging.getLogger(__name__)

# Article and NewsArticle's subtypes in schema.org; the JSON-LD body of anything else is not an article's.
JSONLD_BODY_TYPES = frozenset({
    "article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle", "opinionnewsarticle",
    "backgroundnewsarticle", "reviewnewsarticle", "askpublicnewsarticle"})
# A body field's name ends in one of these words ("contentHtml", "articleBody", "plain_text", "storyHTML")
# and has none of the others ("altText", "subTitle", "summaryHtml", "teaserText", "contentId").
_BODY_WORDS = frozenset({"body", "content", "contents", "html", "text", "story"})
_NOT_BODY_WORDS = frozenset({
    "alt", "summary", "description", "desc", "teaser", "excerpt", "intro", "lead", "abstract", "sub", "title",
    "caption", "seo", "meta", "type", "id", "url", "path", "name", "keywords", "tags", "tag", "class", "image",
    "link", "byline", "count", "counts", "topic", "amp", "preview", "short", "snippet", "nav",
    "navigation", "menu", "footer", "header", "about"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_MARKUP = re.compile(r"</?(?:p|br|div|h[1-6]|ul|ol|li|blockquote|strong|em|b|i|a|span|figure|img)\b[^<>]*>", re.I)
# A paragraph that is only a CMS placeholder ("$$ARTICLEAD$$", "{{ad}}"), filled in by the page's scripts.
_PLACEHOLDER = re.compile(r"(\$\$|%%|\{\{|\[\[)\s*[\w.:-]+\s*(\$\$|%%|\}\}|\]\])")
_JSON_START = re.compile(r"=\s*(?=[\[{])|\(\s*(?=[\[{\"])")
MAX_SCRIPT_CHARS = 5_000_000
MAX_DECODES = 400  # attempts at a JSON value per page
MAX_NODES = 200_000  # JSON nodes walked per page
MIN_HEADLINE_CHARS = 12


@dataclass(frozen=True, slots=True)
class Rescue:
    text: str
    doc: Any  # trafilatura's metadata of the page (its Document)
    comments: str | None
    options: dict[str, Any]  # what the text was extracted with, "fallback" naming the path


def rescue(html: str, url: str, options: dict[str, Any], min_chars: int) -> Rescue | None:
    """The first fallback yielding at least ``min_chars`` of text, or None. Never raises: a fallback
    that fails (or a page lxml cannot parse) leaves the page the empty extraction it was."""
    try:
        return _rescue(html, url, parse_document(html), options, min_chars)
    except Exception as exc:
        log.debug("extraction fallbacks failed on %s: %s: %s", url, type(exc).__name__, exc)
        return None


def _rescue(html: str, url: str, root: Any, options: dict[str, Any], min_chars: int) -> Rescue | None:
    facts = page_facts(root, url)
    headlines = _headlines(facts)
    body = _jsonld_body(facts, headlines)
    text = _render(body, options) if body else ""
    if len(text) >= min_chars:
        return Rescue(text, _metadata(html, url, options), None, {**options, "fallback": "jsonld:articleBody"})
    teasers = {_norm(d) for d in (facts.first_meta("og:description"), facts.first_meta("description")) if d}
    for path, body in _embedded_bodies(root, headlines):
        text = _render(body, options)
        if len(text) >= min_chars and _norm(text) not in teasers:
            return Rescue(text, _metadata(html, url, options), None, {**options, "fallback": path})
    return None


def _jsonld_body(facts: PageFacts, headlines: set[str]) -> str | None:
    """The articleBody of the page's article: the one object carrying one, or the one naming the headline."""
    found = [o for o in facts.jsonld if types_of(o) & JSONLD_BODY_TYPES and isinstance(o.get("articleBody"), str)
             and o["articleBody"].strip()]
    if len({o["articleBody"].strip() for o in found}) > 1:  # several articles (a list of related ones, say)
        found = [o for o in found if isinstance(o.get("headline"), str) and _names_headline(o["headline"], headlines)]
    return found[0]["articleBody"] if found else None


def _render(value: str, options: dict[str, Any]) -> str:
    """Text of a body field: markup through trafilatura (as a page of its own), plain text as it is."""
    value = value.strip()
    if _MARKUP.search(value):
        import trafilatura

        # include_comments: nothing in a body field is a comment section.
        text = trafilatura.extract(f"<html><body><article>{value}</article></body></html>",
                                   **{**options, "include_comments": False}) or ""
    else:
        text = htmllib.unescape(value)
    lines = (clean_text(line) for line in text.splitlines())
    return "\n".join(line for line in lines if line and not _PLACEHOLDER.fullmatch(line))


def _metadata(html: str, url: str, options: dict[str, Any]) -> Any:
    """trafilatura's metadata of the page, read as its extraction pass reads it (pages._trafilatura)."""
    from trafilatura.metadata import extract_metadata

    dates = {"original_date": True, "extensive_search": True, "outputformat": HTMLDATE_FORMAT}
    return extract_metadata(html, url, dates, bool(options.get("fast", False)))


# --- the article as data in an inline script ----------------------------------------------------------

def _norm(value: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", htmllib.unescape(value))).strip().casefold()


def _headlines(facts: PageFacts) -> set[str]:
    """The page's headline as its markup gives it (and its JSON-LD, when that names a single one)."""
    jsonld = {o["headline"] for o in facts.articles() if isinstance(o.get("headline"), str)}
    found = [facts.first_meta("og:title"), facts.first_meta("twitter:title"), facts.first_meta("headline"),
             facts.title_tag, *facts.h1, *(jsonld if len(jsonld) == 1 else ())]
    return {_norm(h) for h in found if isinstance(h, str) and len(_norm(h)) >= MIN_HEADLINE_CHARS}


def _names_headline(value: str, headlines: set[str]) -> bool:
    """The page's headline, or the start of one ("Headline - Section | Site")."""
    v = _norm(value)
    if len(v) < MIN_HEADLINE_CHARS:
        return False
    return any(h == v or (h.startswith(v) and not h[len(v)].isalnum()) for h in headlines)


def _embedded_bodies(root: Any, headlines: set[str]) -> list[tuple[str, str]]:
    """("embedded-json:script[i]:<key path>", body) of the objects naming the headline, longest body first."""
    if not headlines:
        return []
    found: list[tuple[str, str]] = []
    budget = [MAX_DECODES, MAX_NODES]
    for index, script in enumerate(root.iter("script")):
        kind = (script.get("type") or "").strip().lower()
        source = script.text or ""
        if script.get("src") or kind == "application/ld+json" or not 0 < len(source) <= MAX_SCRIPT_CHARS:
            continue
        for value in _json_values(source, budget):
            found.extend((f"embedded-json:script[{index}]:{path}", body) for path, body in _bodies(value, headlines, budget))
    return sorted(found, key=lambda item: -len(item[1]))


def _json_values(source: str, budget: list[int]) -> Iterator[Any]:
    """JSON objects and arrays in a script: the whole of it (application/json), or values assigned or
    passed in it (``window.__STATE__ = {...}``, ``.push({...})``, ``JSON.parse("...")``)."""
    text = source.strip()
    decoder = json.JSONDecoder(strict=False)
    if text[:1] in "{[":
        budget[0] -= 1
        try:
            yield json.loads(text, strict=False)
            return
        except (ValueError, RecursionError):
            pass
    end = 0
    for match in _JSON_START.finditer(source):
        if match.end() < end:
            continue
        if budget[0] <= 0:
            return
        budget[0] -= 1
        try:
            value, end = decoder.raw_decode(source, match.end())
        except (ValueError, RecursionError):
            continue
        if isinstance(value, str) and value[:1] in "{[":  # JSON.parse("{\"article\": …}")
            try:
                value = json.loads(value, strict=False)
            except (ValueError, RecursionError):
                continue
        if isinstance(value, dict | list):
            yield value


def _bodies(value: Any, headlines: set[str], budget: list[int]) -> Iterator[tuple[str, str]]:
    """(key path, string) of body-named fields of the objects that name the headline."""
    stack: list[tuple[Any, str, int, bool]] = [(value, "", 0, False)]
    while stack and budget[1] > 0:
        node, path, depth, in_list = stack.pop()
        budget[1] -= 1
        if depth > 24:
            continue
        if isinstance(node, list):
            # an item of a list of objects is one of several (teasers, related articles): not the page's
            several = in_list or sum(isinstance(item, dict) for item in node) > 1
            stack.extend((item, f"{path}[{i}]", depth + 1, several) for i, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        if not in_list and any(isinstance(v, str) and len(v) < 400 and _names_headline(v, headlines)
                               for v in node.values()):
            for key, field in node.items():
                # one level down only under a body's name ("body": {"html": …}), never "navigation": {…}
                inner = field.items() if isinstance(field, dict) and _is_body_name([str(key)]) else [("", field)]
                for sub, v in inner:
                    names = [str(key)] + ([str(sub)] if sub else [])
                    if isinstance(v, str) and _is_body_name(names):
                        yield ".".join(filter(None, [path.lstrip("."), *names])), v
        stack.extend((v, f"{path}.{k}", depth + 1, in_list) for k, v in node.items() if isinstance(v, dict | list))


def _is_body_name(names: list[str]) -> bool:
    words = [w.lower() for name in names for w in _WORD.findall(name)]
    return bool(words) and words[-1] in _BODY_WORDS and not _NOT_BODY_WORDS.intersection(words)
