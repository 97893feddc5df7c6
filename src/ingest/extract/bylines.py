"""Who wrote an article: the people, one per name, and apart from them the organisations credited.

Sources, in order; the first that names a person (or a news agency) gives the authors:

1. the article's JSON-LD ``author`` (typed ``Person`` or ``Organization`` as the publisher wrote it;
   an ``{"@id": …}`` reference is looked up in the ``@graph``; ``givenName``/``familyName``; a type list
   with ``Person`` is a person; the site's shared account, ``…/author/admin/``, is no one's name);
2. the author ``<meta>`` tags (``author``, ``article:author``, ``dc.creator`` …, then any other whose
   name ends in author or byline: ``cXenseParse:author``, ``DCSext.author``, ``articleAuthor``);
3. the page's first byline block (``rel=author``, ``itemprop=author``, a class or id saying author or
   byline, a link to an author's page, a line labelled ``Autor``; hidden text, pictures' credits and
   "Quelle:" lines left out): later blocks are related articles' authors;
4. a bold-only paragraph opening or closing the text (``<p><strong>Jane Roe</strong></p>``).

A source that names no one (an e-mail address, a URL, a slug) or only organisations (the publisher as
author) passes on to the next, and the organisations of the first such source are kept; when no source
names a person or an agency, those organisations are the authors too (the page is credited to its
newsroom: ``BBC News``, ``Redaktion hessenschau.de``), so ``authors`` is who the page credits and
``organisations`` says which of them are not people; a name typed
``Organization`` stays one in later sources. What the page shows (3, 4) and what comes after an
organisation must look like a name: two to five capitalised words (particles aside) or a script
without capitals - not initials (``amw``), a job title, a link's text, nor "Agenturen". trafilatura's
guess is used only when the markup names no one at all. Every value is cleaned and split:

* byline words go (``Von``, ``By``, ``Autor``, ``Autorin/Autor``, ``Par``, ``Text:`` …, also after a
  kicker: ``Capital Von Jemima Kelly``), and so does the publication written for (``… For Dailymail.Com``);
* names are split at ``,`` ``;`` ``/`` ``&`` ``、`` and the words ``and und og y и et e en och ja``;
* a ``Last, First`` list (every comma part one capitalised word, no agency) is paired back:
  ``You, Xiaoying`` -> ``Xiaoying You`` (not ``ssi, dan``, not ``AFP, MANILA``);
* places are not people: one capitalised word after a comma that follows a full name, an agency or a
  domain is a dateline (``Seb Dumitru, Lille``, ``AFP, MANILA``, ``hessenschau.de, Frankfurt, Germany``),
  and ``Associated Press in Valencia`` credits the agency;
* parts that are not names go: URLs, handles, descriptions (more than six words);
* organisations (a JSON-LD ``Organization``, the site's own name or its acronym first: ``MDR
  THÜRINGEN``, a publisher with its address: ``Deutsche Welle (www.dw.com)``, domain-like names, company
  and newsroom words: ``GmbH``, ``Redaktion``, ``Condé Nast`` …) are kept apart; news agencies (``dpa``,
  ``Deutsche Presse-Agentur``, ``Reuters``, ``AFP`` …) are credited as authors, as a byline credits them.

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

# "Agencies": credited like an agency, but not a name another source's person or organisation gives way to.
GENERIC_AGENCIES = ("agencias", "agenzie", "agences", "agenturen", "agencies", "agências")
# News agencies: credited like authors when the byline names them. Matched on the letters only.
AGENCIES = frozenset(a.casefold() for a in (
    "dpa", "afp", "ap", "associated press", "reuters", "thomson reuters", "sda", "keystone-sda", "ats", "apa",
    "kna", "epd", "ansa", "efe", "europa press", "lusa", "kyodo", "jiji", "xinhua", "tass", "ria novosti",
    "interfax", "ukrinform", "pti", "ians", "ani", "yonhap", "anadolu", "anadolu ajansı", "aa", "aap",
    "canadian press", "the canadian press", "cp", "upi", "bloomberg", "belga", "anp", "ntb", "tt", "ritzau",
    "stt", "pap", "čtk", "ctk", "mti", "agerpres", "bta", "notimex", "ddp", "dts", "afx", "bernama", "antara",
    "sid", "reuters/ap", "dpa-afx", "afp deutschland",
    # the same agencies by their full names
    "deutsche presse-agentur", "agence france-presse", "agence france presse", "austria presse agentur",
    "schweizerische depeschenagentur", "katholische nachrichten-agentur", "evangelischer pressedienst",
    "sport-informations-dienst", "agenzia nazionale stampa associata", "agencia efe", "agência lusa",
    "kyodo news", "jiji press", "xinhua news agency", "yonhap news agency", "anadolu agency",
    "press trust of india", "indo-asian news service", "asian news international", "united press international",
    "australian associated press", "agerpres", "polska agencja prasowa", "česká tisková kancelář",
    *GENERIC_AGENCIES,
))
_ORG_WORDS = re.compile(
    r"\b(?:gmbh|ag|kg|ltd|inc|llc|plc|s\.?a\.?|s\.?l\.?|oy|ab|as|a/s|bv|nv|corp|co\.|redaktion|redaction|rédaction"
    r"|redacción|redaccion|redazione|redactie|redakcja|newsroom|nachrichten|zeitung|verlag|nast|media group"
    r"|medien|online|news|digital|developer|editorial|editors|staff|desk|agency|agence|agencia)\b",
    re.I)
_DOMAIN = re.compile(r"^[\w\-]+(?:\.[\w\-]+)*\.[a-z]{2,6}$", re.I)
_BYLINE_WORDS = re.compile(
    r"^(?:(?:ein\s+)?(?:kommentar|gastbeitrag|interview|analyse|reportage)\s+von|written\s+by|reporting\s+by"
    r"|posted\s+by|by|von|vom|text|texte|foto|fotos|autorin/autor|autor/in|autor|autorin|autoren|author|authors"
    r"|par|por|di|av|af"
    r"|door|przez|автор|авторы|redigiert\s+von|edited\s+by)\s*[:\-–]?\s+", re.I)
_KICKER_BYLINE = re.compile(r"^(?:\S+\s+){1,2}(?:Von|VON|By|BY)\s+(?=\S)")  # not "Ursula von der Leyen"
_COMMAS = re.compile(r"\s*[,;，、；]\s*")
_SPLIT = re.compile(r"\s*[,;/&|·•，、；]\s*|\s+(?:and|und|og|y|и|et|e|en|och|ja|u\.|i)\s+|\s+\+\s+", re.I)
_FOR_PUBLICATION = re.compile(r"(?<=\S)\s+(?:for|For|FOR)\s+(?:the\s+|The\s+)?[A-Z][\w.\-]*(?:\s+[A-Z][\w.\-]*)*$")
_TRAILING_TITLE = re.compile(r"\s*(?:기자|특파원|記者|特派員|통신원)$")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)+$")  # an author page's slug ("chuck-ross"), not a name
_NOT_NAME = re.compile(r"https?://|www\.|@|\d{3,}|^\W+$|\(image|\bgetty\b|^\d", re.I)
MAX_NAME_WORDS = 6
# One capitalised word (Latin letters) after a comma: "Lille", "MANILA", "Frankfurt"
_PLACE = re.compile(r"^[A-ZÀ-ÖØ-Þ][A-Za-zÀ-ÖØ-öø-ÿ\-']+$")
_AGENCY_IN_PLACE = re.compile(r"^(.+?)\s+in\s+[A-ZÀ-ÖØ-Þ]\S*(?:\s+[A-ZÀ-ÖØ-Þ]\S*)*$")  # "Associated Press in Valencia"
# <meta> names for the author, these first, then any other whose last part says author or byline
META_AUTHORS = ("author", "article:author", "dc.creator", "dcterms.creator", "parsely-author", "sailthru.author", "byl")
_SHARED_ACCOUNT = re.compile(r"/(?:author|authors|autor|user|users|profile)/(?:admin|administrator|webmaster|editor"
                             r"|editors|redaktion|redazione|redaccion|staff|newsroom|wpadmin)/?$", re.I)
_OWN_DOMAIN = re.compile(r"\((?:https?://)?(?:www\.)?[\w\-]+(?:\.[\w\-]+)*\.[a-z]{2,6}/?\)\s*$", re.I)
_META_AUTHOR = re.compile(r"(?:^|[:._\-#]|article)(?:author|authors|author_name|byline)$")
_META_NOT_AUTHOR = ("twitter:", "smartbanner:", "al:", "apple-", "fb:")


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
    words = name.split()
    if len(words) >= 2 and words[0].isupper():  # "MDR THÜRINGEN", "SRF Meteo": the site's acronym first
        first = _key(words[0])
        if len(first) >= 2 and any(k == first or (k.startswith(first) and _DOMAIN.match(words[0] + ".x") is None
                                                  and len(k) - len(first) <= 3) for k in site_keys):
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
            and not any(_SPLIT.search(p) or is_agency(p) or p[0].islower() for p in comma_parts):
        # "You, Xiaoying, Lenharo, Mariana": Last, First pairs (not "ssi, dan": initials; not "AFP, MANILA")
        return [f"{comma_parts[i + 1]} {comma_parts[i]}" for i in range(0, len(comma_parts), 2)]
    names: list[str] = []
    after_full = False  # the previous comma part was a full name, an agency or a domain (or a place after one)
    for i, comma_part in enumerate(_COMMAS.split(text)):
        parts = [p for p in (_TRAILING_TITLE.sub("", clean_name(p)) for p in _SPLIT.split(comma_part)) if p]
        if i > 0 and after_full and len(parts) == 1 and _PLACE.match(parts[0]) and not is_agency(parts[0]):
            continue  # "Seb Dumitru, Lille", "AFP, MANILA": a dateline's place, not a person
        after_full = bool(parts) and (" " in parts[-1] or is_agency(parts[-1]) or bool(_DOMAIN.match(parts[-1])))
        for name in parts:
            name = _FOR_PUBLICATION.sub("", name)  # "Dolores Chang For Dailymail.Com": written for a publication
            if _BYLINE_WORDS.match(name + " "):
                continue  # a byline word alone ("By" in an element of its own)
            name = _AGENCY_IN_PLACE.sub(lambda m: m.group(1) if is_agency(m.group(1)) else m.group(0), name)
            if not _NOT_NAME.search(name) and not _SLUG.match(name) and len(name.split()) <= MAX_NAME_WORDS:
                names.append(name)
    return names


def _jsonld_authors(facts: PageFacts) -> list[tuple[str, str]]:
    """(kind, raw name) of the article's JSON-LD authors; kind "person", "organisation" or "unknown"."""
    objects = [o for o in facts.articles() if o.get("author") or o.get("creator")] or \
        [o for o in facts.jsonld if o.get("author")]
    for obj in objects:
        found = []
        value = obj.get("author") or obj.get("creator")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                if _person_name(item) is None:  # {"@id": ".../#/schema/person/…"}: the Person in the @graph
                    item = facts.by_id(item.get("@id")) or item
                name = _person_name(item)
                kinds = item.get("@type")
                kinds = {str(k).rsplit("/", 1)[-1].lower() for k in (kinds if isinstance(kinds, list) else [kinds]) if k}
                # a Person first: Yoast types a site owner's author ["Person", "Organization"]
                kind = "person" if "person" in kinds else \
                    "organisation" if kinds & {"organization", "newsmediaorganization", "corporation"} else "unknown"
                if _SHARED_ACCOUNT.search(str(item.get("url") or item.get("@id") or "")):
                    kind = "organisation"  # ".../author/admin/": the site's own account, no one's name
                if name:
                    found.append((kind, name))
            elif isinstance(item, str):
                found.append(("unknown", item))
        if found:
            return found
    return []


def _person_name(item: dict[str, Any]) -> str | None:
    name = item.get("name")
    if isinstance(name, str) and name.strip():
        return name
    given, family = item.get("givenName"), item.get("familyName")
    if isinstance(family, str) and family.strip():
        return f"{given.strip()} {family.strip()}" if isinstance(given, str) and given.strip() else family
    byline = item.get("byline")
    return byline if isinstance(byline, str) and byline.strip() else None


def _meta_authors(facts: PageFacts) -> list[tuple[str, str]]:
    others = [k for k in facts.meta if k not in META_AUTHORS and _META_AUTHOR.search(k)
              and not k.startswith(_META_NOT_AUTHOR)]
    return [("unknown", v) for k in (*META_AUTHORS, *others) for v in facts.meta.get(k, ()) if v]


def choose_byline(facts: PageFacts, trafilatura_author: str | None, site_keys: set[str]) -> Byline:
    """The first source that names a person (or an agency) gives the authors: the JSON-LD, the <meta>
    tags, the page's first byline block. A source naming only organisations (the publisher as author,
    an e-mail address, a URL) passes on to the next; the first that named any organisation gives them.
    trafilatura's guess is used only when the page's markup names no one at all."""
    orgs: list[str] = []
    typed_orgs: set[str] = set()  # names a source typed Organization stay organisations in the others
    sources = (_jsonld_authors(facts), _meta_authors(facts), [("shown", t) for t in facts.byline_texts],
               [("shown", t) for t in facts.bold_lines])
    for raw in sources:
        got = _sort(raw, site_keys, typed_orgs)
        typed_orgs |= {_key(name) for kind, name in raw if kind == "organisation"}
        if orgs or any(kind == "shown" for kind, _ in raw):
            # after a source naming only organisations, and in what the page shows: names, not initials
            # ("amw"), a job title or a link's text next to the name, nor "Agenturen"
            got = Byline(tuple(a for a in got.authors if _named(a)), got.organisations)
        if got.authors:
            people = {_key(p) for p in got.authors}
            return Byline(got.authors, tuple(o for o in _unique([*orgs, *got.organisations]) if _key(o) not in people))
        if not orgs:
            orgs = list(got.organisations)
    if orgs or not trafilatura_author:
        # a page that credits only organisations (its newsroom, "BBC News", "Redaktion hessenschau.de")
        # is by them, as it says: they are its authors, and still its organisations
        return Byline(tuple(orgs), tuple(orgs))
    return _sort([("unknown", v) for v in trafilatura_author.split(";")], site_keys, typed_orgs)


def _sort(raw: Iterable[tuple[str, str]], site_keys: set[str], typed_orgs: set[str] = frozenset()) -> Byline:  # type: ignore[assignment]
    people: list[str] = []
    orgs: list[str] = []
    for kind, value in raw:
        if _OWN_DOMAIN.search(value):  # "Deutsche Welle (www.dw.com)": a publisher and its address
            kind = "organisation"
        names = split_names(value)
        seen_org = False
        for i, name in enumerate(names):
            if is_agency(name):
                _add(people, name)
            elif kind == "organisation" or _key(name) in typed_orgs or is_organisation(name, site_keys):
                _add(orgs, name)
                seen_org = True
            elif seen_org and " " not in name and i > 0:
                continue  # "hessenschau.de, Frankfurt, Germany": a place after the newsroom
            else:
                _add(people, name)
    return Byline(tuple(people), tuple(o for o in orgs if _key(o) not in {_key(p) for p in people}))


_PARTICLES = frozenset({"von", "van", "vom", "zu", "zum", "de", "der", "den", "del", "della", "di", "da", "das", "do",
                        "dos", "du", "la", "le", "bin", "ibn", "al", "el", "y", "e", "ter", "ten"})
# a job title or a team next to the name in a byline element ("Assistant Sports Editor", "Gear Team")
_ROLES = frozenset({"editor", "reporter", "correspondent", "writer", "columnist", "contributor", "producer", "director",
                    "journalist", "team", "redakteur", "redakteurin", "korrespondent", "korrespondentin", "corresponsal",
                    "rédacteur", "rédactrice", "envoyé", "envoyée", "spécial", "spéciale", "inviato", "redattore"})
_CASED = re.compile(r"[A-Za-zÀ-ɏͰ-ϿЀ-ӿ]")  # scripts with capitals


def _named(name: str) -> bool:
    """A person's name or a named agency, as a reader sees it: two to five words, capitalised but for
    particles ("Ursula von der Leyen"), or letters of a script without capitals (松岡大地) - not initials
    ("amw"), a job title ("Freelance sports writer"), a link's text ("Twitter") or "Agenturen"."""
    if is_agency(name):
        return name.casefold() not in GENERIC_AGENCIES
    if not _CASED.search(name):
        return not re.search(r"\d", name)
    words = name.split()
    if not 2 <= len(words) <= 5 or re.search(r"\d", name) or any(w.casefold() in _ROLES for w in words):
        return False
    return all(w[0].isupper() or w in _PARTICLES for w in (w.lstrip("\"'(„“«") for w in words) if w)


def _unique(names: Iterable[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        _add(out, name)
    return out


def _add(names: list[str], name: str) -> None:
    if _key(name) and _key(name) not in {_key(n) for n in names}:
        names.append(name)


def agencies_only(byline: Byline) -> bool:
    return bool(byline.authors) and all(is_agency(a) for a in byline.authors)


def as_meta(byline: Byline) -> dict[str, Any]:
    return {"authors": list(byline.authors), "organisations": list(byline.organisations)}
