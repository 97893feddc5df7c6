"""Who wrote an article: the people, one per name, and apart from them the organisations credited.

Sources, first that names anyone: the article's JSON-LD ``author`` (typed ``Person`` or
``Organization``, as the publisher wrote it), then ``<meta name="author">`` and the page's
``rel=author`` / ``itemprop=author`` elements, then trafilatura's author guess. Every value is
cleaned and split:

* byline words go (``Von``, ``By``, ``Autor``, ``Par``, ``Text:`` …, also after a kicker:
  ``Capital Von Jemima Kelly``);
* names are split at ``,`` ``;`` ``/`` ``&`` and the words ``and und og y и et e en och ja``;
* a ``Last, First`` list (every comma part one word) is paired back: ``You, Xiaoying`` ->
  ``Xiaoying You``;
* parts that are not names go: URLs, handles, descriptions (more than six words), and single words
  trailing an organisation in a comma list (``hessenschau.de, Frankfurt, Germany``);
* organisations (a JSON-LD ``Organization``, the site's own name, domain-like names, company and
  newsroom words: ``GmbH``, ``Redaktion``, ``Condé Nast`` …) are kept apart; news agencies (``dpa``,
  ``Reuters``, ``AFP`` …) are credited as authors, as a byline credits them.

The letters are kept as the page wrote them (trafilatura's ``Mdr De`` came from re-casing ``mdr.de``).
Hand-written: name parsers (nameparser, probablepeople) split one Western name into parts; none finds
the people in a byline.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ingest.extract.htmlmeta import PageFacts

# News agencies: credited like authors when the byline names them. Matched on the letters only.
AGENCIES = frozenset(a.casefold() for a in (
    "dpa", "afp", "ap", "associated press", "reuters", "thomson reuters", "sda", "keystone-sda", "ats", "apa",
    "kna", "epd", "ansa", "efe", "europa press", "lusa", "kyodo", "jiji", "xinhua", "tass", "ria novosti",
    "interfax", "ukrinform", "pti", "ians", "ani", "yonhap", "anadolu", "anadolu ajansı", "aa", "aap",
    "canadian press", "the canadian press", "cp", "upi", "bloomberg", "belga", "anp", "ntb", "tt", "ritzau",
    "stt", "pap", "čtk", "ctk", "mti", "agerpres", "bta", "notimex", "ddp", "dts", "afx", "bernama", "antara",
    "sid", "reuters/ap", "dpa-afx", "afp deutschland", "agencias", "agenzie", "agences", "agenturen",
))
_ORG_WORDS = re.compile(
    r"\b(?:gmbh|ag|kg|ltd|inc|llc|plc|s\.?a\.?|s\.?l\.?|oy|ab|as|a/s|bv|nv|corp|co\.|redaktion|redaction|rédaction"
    r"|redacción|redaccion|redazione|redactie|redakcja|newsroom|nachrichten|zeitung|verlag|nast|media group"
    r"|medien|online|news|digital|developer|editorial|editors|staff|desk|agency|agence|agencia)\b",
    re.I)
_DOMAIN = re.compile(r"^[\w\-]+(?:\.[\w\-]+)*\.[a-z]{2,6}$", re.I)
_BYLINE_WORDS = re.compile(
    r"^(?:(?:ein\s+)?(?:kommentar|gastbeitrag|interview|analyse|reportage)\s+von|written\s+by|reporting\s+by"
    r"|posted\s+by|by|von|vom|text|texte|foto|fotos|autor|autorin|autoren|author|authors|par|por|di|av|af"
    r"|door|przez|автор|авторы|redigiert\s+von|edited\s+by)\s*[:\-–]?\s+", re.I)
_KICKER_BYLINE = re.compile(r"^(?:\S+\s+){1,2}(?:Von|VON|By|BY)\s+(?=\S)")  # not "Ursula von der Leyen"
_SPLIT = re.compile(r"\s*[,;/&|·•]\s*|\s+(?:and|und|og|y|и|et|e|en|och|ja|u\.|i)\s+|\s+\+\s+", re.I)
_TRAILING_TITLE = re.compile(r"\s*(?:기자|특파원|記者|特派員|통신원)$")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)+$")  # an author page's slug ("chuck-ross"), not a name
_NOT_NAME = re.compile(r"https?://|www\.|@|\d{3,}|^\W+$|\(image|\bgetty\b|^\d", re.I)
MAX_NAME_WORDS = 6


@dataclass(frozen=True, slots=True)
class Byline:
    authors: tuple[str, ...]  # people, and agencies credited
    organisations: tuple[str, ...]  # publishers and newsrooms credited


def _key(name: str) -> str:
    return re.sub(r"[\W_]+", "", name.casefold())


def is_agency(name: str) -> bool:
    return name.casefold().strip(" .") in AGENCIES or _key(name) in {_key(a) for a in AGENCIES}


def is_organisation(name: str, site_keys: set[str]) -> bool:
    key = _key(name)
    if not key:
        return False
    if key in site_keys or any(len(k) >= 4 and (key.startswith(k) or key.endswith(k)) for k in site_keys):
        return True
    return bool(_DOMAIN.match(name.strip()) or _ORG_WORDS.search(name))


def clean_name(value: str) -> str:
    text = " ".join(html.unescape(value).replace("\u00a0", " ").split()).strip(" ,;:-–|()[]")
    for _ in range(3):
        stripped = _BYLINE_WORDS.sub("", text)
        stripped = _KICKER_BYLINE.sub("", stripped) if stripped == text else stripped
        if stripped == text:
            break
        text = stripped.strip(" ,;:-–|")
    return text


def split_names(value: str) -> list[str]:
    """One raw byline value -> names (cleaned), in order."""
    if re.match(r"\s*(?:https?:|www\.)", value):
        return []  # an author page's address
    text = clean_name(re.sub(r"\([^)]*\)?", " ", value))  # "Elena Oberholzer (obe)": initials in brackets
    if not text or len(text) > 300:
        return []
    comma_parts = [p.strip() for p in re.split(r"\s*,\s*", text) if p.strip()]
    if len(comma_parts) >= 2 and len(comma_parts) % 2 == 0 and all(" " not in p for p in comma_parts) \
            and not any(_SPLIT.search(p) for p in comma_parts):
        # "You, Xiaoying, Lenharo, Mariana": Last, First pairs
        return [f"{comma_parts[i + 1]} {comma_parts[i]}" for i in range(0, len(comma_parts), 2)]
    names: list[str] = []
    for part in _SPLIT.split(text):
        name = _TRAILING_TITLE.sub("", clean_name(part))
        if name and not _NOT_NAME.search(name) and not _SLUG.match(name) and len(name.split()) <= MAX_NAME_WORDS:
            names.append(name)
    return names


def _jsonld_authors(facts: PageFacts) -> list[tuple[str, str]]:
    """(kind, raw name) of the article's JSON-LD authors; kind "person", "organisation" or "unknown"."""
    for obj in facts.articles() or [o for o in facts.jsonld if "author" in o]:
        found = []
        value = obj.get("author") or obj.get("creator")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                name = item.get("name")
                kinds = item.get("@type")
                kinds = {str(k).lower() for k in (kinds if isinstance(kinds, list) else [kinds]) if k}
                kind = "organisation" if kinds & {"organization", "newsmediaorganization", "corporation"} else \
                    "person" if "person" in kinds else "unknown"
                if isinstance(name, str):
                    found.append((kind, name))
            elif isinstance(item, str):
                found.append(("unknown", item))
        if found:
            return found
    return []


def choose_byline(facts: PageFacts, trafilatura_author: str | None, site_keys: set[str]) -> Byline:
    raw = _jsonld_authors(facts)
    if not any(name.strip() for _, name in raw):
        metas = [v for name in ("author", "article:author", "dc.creator", "parsely-author", "sailthru.author", "byl")
                 for v in facts.meta.get(name, ())]
        # the byline elements only without a meta author: pages list related articles' authors too
        raw = [("unknown", v) for v in (metas or facts.byline_texts) if v]
    if not raw and trafilatura_author:
        raw = [("unknown", v) for v in trafilatura_author.split(";")]
    return _sort(raw, site_keys)


def _sort(raw: Iterable[tuple[str, str]], site_keys: set[str]) -> Byline:
    people: list[str] = []
    orgs: list[str] = []
    for kind, value in raw:
        names = split_names(value)
        seen_org = False
        for i, name in enumerate(names):
            if is_agency(name):
                _add(people, name)
            elif kind == "organisation" or is_organisation(name, site_keys):
                _add(orgs, name)
                seen_org = True
            elif seen_org and " " not in name and i > 0:
                continue  # "hessenschau.de, Frankfurt, Germany": a place after the newsroom
            else:
                _add(people, name)
    return Byline(tuple(people), tuple(o for o in orgs if _key(o) not in {_key(p) for p in people}))


def _add(names: list[str], name: str) -> None:
    if _key(name) and _key(name) not in {_key(n) for n in names}:
        names.append(name)


def agencies_only(byline: Byline) -> bool:
    return bool(byline.authors) and all(is_agency(a) for a in byline.authors)


def as_meta(byline: Byline) -> dict[str, Any]:
    return {"authors": list(byline.authors), "organisations": list(byline.organisations)}
