"""The article's headline, chosen from what the page (and the feed) offer, with site-name affixes removed.

Candidates: the visible ``<h1>`` (every one of them: logos and teasers are ``<h1>`` on some sites), the
JSON-LD ``headline``, ``og:title``, ``twitter:title``, the feed item's title and ``<title>``. Each is
cleaned of site-name affixes (``… | Börsen-Zeitung``, ``… – DW – 30.01.2024``, ``… - WELT``,
``…：朝日新聞デジタル``, ``… | Site | by Author``): a leading or trailing segment, cut at one of the
separators ``| - – — : ： ｜ ㅣ · ::``, goes when it names the site (its ``og:site_name``, JSON-LD
publisher or WebSite name, ``application-name``, the feed's channel title, or a label of the host), or is
a date or a byline next to such a name; a segment of a few words ending in such a name names it too ("… -
Die Neue Südtiroler Tageszeitung" on tageszeitung.it). The names come from the page's address and from its
canonical and ``og:url`` addresses (a page served from a mirror or an AMP cache still names its site). The
``<title>`` teaches more affixes: what it adds after the headline a JSON-LD/og/twitter candidate gives
("Headline | Sport | BILD.de" next to "Headline") are site and section names, stripped from every candidate
("… | Sport"); only after a separator other than a colon, in segments of at most four words of which one
names the site, never a segment a candidate starts with or the ``<h1>`` shows. A segment that names nothing is kept: "Iranischer Angriff auf
Israel: «…»" keeps its colon.

The headline is the first of JSON-LD ``headline``, ``og:title``, ``twitter:title``, the ``<h1>`` (of
several, the one another candidate repeats), the feed's title and ``<title>``, affixes removed. The order
is measured, not assumed: on the shared corpus, where Fundus' expected headline differs between the
candidates (about 100 of 258 pages), it is the JSON-LD headline on 56 of 92, ``og:title`` on 55 of 100
and the visible ``<h1>`` on only 35 of 99; voting by agreement did worse (203 of 258) than this order
(214), and so did og:title first or preferring og:title when the ``<h1>`` repeats it (which one Fundus expects
is a per-publisher choice). One exception: a headline that is "Kicker: <og:title>" (or twitter:title) gives way
to the og:title, the kicker being a topic label put in front for search engines (4 pages right, 1 wrong).
Hand-written: no library does this.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_SEPARATORS = re.compile(r"\s+[|\-–—:·•»~/]{1,2}\s+|\s*[｜：ㅣ|]\s*|:\s+")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
                         "‹": "'", "›": "'", "`": "'", "´": "'", "\u00a0": " ", "\u200b": ""})
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe", "å": "aa"})
_DATE_SEGMENT = re.compile(r"^[\d\s./\-年月日:,]+$|^\d{1,2}\.?\s+\w+\.?\s+\d{4}$")
_BYLINE_SEGMENT = re.compile(r"^(?:by|von|par|por|di|af|av|door|przez|автор)\s+\S", re.I)
_GENERIC_HOST_LABELS = frozenset({"www", "m", "amp", "mobile", "news", "com", "co", "org", "net", "de", "uk",
                                  "edition", "en", "es", "fr", "it", "online", "web", "the"})
# Most reliable first (see the module docstring for the figures).
MAX_NAME_WORDS = 5
ORDER = ("jsonld", "og", "twitter", "h1", "feed", "title")


@dataclass(frozen=True, slots=True)
class Headline:
    text: str
    source: str  # h1 | jsonld | og | twitter | feed | title


def fold(text: str) -> str:
    """Comparison key: case, quotes, dashes, accents' umlaut spellings and spacing do not matter."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold().translate(_FOLD)
    text = re.sub(r"[\-–—]", "-", text)
    return re.sub(r"\s+", " ", text).strip(" .!?…")


def _alnum(text: str) -> str:
    return re.sub(r"[\W_]+", "", fold(text))


def site_names(names: Iterable[str | None], host: str | None) -> set[str]:
    """Comparison keys (letters and digits only) of the names a site goes by."""
    keys = {_alnum(n) for n in names if n}
    if host:
        labels = [lab for lab in host.lower().split(".") if lab not in _GENERIC_HOST_LABELS]
        for lab in labels[:-1] or labels:  # not the public suffix
            keys.add(_alnum(lab))
        keys.add(_alnum(host.lower().removeprefix("www.")))
    return {k for k in keys if len(k) >= 2}


def _names_site(segment: str, names: set[str], trailing: bool = False) -> bool:
    key = _alnum(segment)
    if not key:
        return False
    if key in names:
        return True
    # "News - SRF" style segments are handled one at a time; "The Gateway Pundit" vs "thegatewaypundit.com"
    if any(len(n) >= 4 and (key == n or (key.startswith(n) and len(key) - len(n) <= 4)
                            or (n.startswith(key) and len(key) >= 4 and len(n) - len(key) <= 4)) for n in names):
        return True
    if not trailing:
        return False
    # at the end, a longer form ending in the name: "… - Die Neue Südtiroler Tageszeitung" on tageszeitung.it
    words = segment.split()
    last = _alnum(words[-1]) if words else ""
    return len(words) <= MAX_NAME_WORDS and len(last) >= 6 and any(
        n == last or (n.startswith(last) and len(n) - len(last) <= 4) for n in names)


def strip_affixes(title: str, names: set[str]) -> str:
    """``title`` without leading/trailing segments that name the site (with dates or bylines next to them)."""
    text = " ".join(html.unescape(title).split())
    parts = _split(text)
    if len(parts) == 1:
        return text
    segments = [p for p, _ in parts]
    lo, hi = 0, len(segments)
    stripped = True
    while stripped and hi - lo > 1:
        stripped = False
        last = segments[hi - 1]
        if _names_site(last, names, trailing=True) or (hi < len(segments) and (
                _DATE_SEGMENT.match(last) or _BYLINE_SEGMENT.match(last))):
            hi, stripped = hi - 1, True
        elif (_DATE_SEGMENT.match(last) or _BYLINE_SEGMENT.match(last)) and hi - 2 > lo \
                and _names_site(segments[hi - 2], names):  # "– DW – 30.01.2024", "| Site | by Author"
            hi, stripped = hi - 2, True
        elif _names_site(segments[lo], names):
            lo, stripped = lo + 1, True
    if (lo, hi) == (0, len(segments)):
        return text
    start = parts[lo][1]
    end = parts[hi - 1][1] + len(parts[hi - 1][0])
    return text[start:end].strip()


def _split(text: str) -> list[tuple[str, int]]:
    """Segments with their offsets."""
    out: list[tuple[str, int]] = []
    pos = 0
    for m in _SEPARATORS.finditer(text):
        if m.start() > pos:
            out.append((text[pos:m.start()], pos))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], pos))
    return [(s, i) for s, i in out if s.strip()] or [(text, 0)]


def choose_headline(candidates: Sequence[tuple[str, str | None]], names: set[str]) -> Headline | None:
    """``candidates``: (source, raw text) pairs, several ``h1`` allowed, in page order."""
    names = names | _title_affixes(candidates, names)
    cleaned: dict[str, list[str]] = {}
    for source, raw in candidates:
        if raw and (value := strip_affixes(raw, names)) and len(value) <= 600 and _alnum(value):
            cleaned.setdefault(source, []).append(value)
    if not cleaned:
        return None
    others = {fold(v) for s, values in cleaned.items() if s != "h1" for v in values}
    chosen = None
    for source in ORDER:
        values = cleaned.get(source)
        if not values:
            continue
        if source == "h1" and len(values) > 1:  # a logo or teaser <h1> before the headline: the one others back
            chosen = Headline(next((v for v in values if fold(v) in others), values[0]), source)
        else:
            chosen = Headline(values[0], source)
        break
    if chosen is None:
        source, values = next(iter(cleaned.items()))
        return Headline(values[0], source)
    # "Kicker: Headline" next to an og:title (or twitter:title) that is the headline alone: the kicker is a
    # topic label put before the headline for search engines, not part of it.
    for source in ("og", "twitter"):
        for value in cleaned.get(source, ()):
            if _is_kicker_of(chosen.text, value):
                return Headline(value, source)
    return chosen


_KICKER_END = re.compile(r"(?:\s*[:：]|\s+[\-|/·])\s*")
MAX_KICKER_WORDS = 8


def _is_kicker_of(longer: str, shorter: str) -> bool:
    """``longer`` is ``shorter`` after a kicker: a few words and a separator ("Neue Leipziger Schule: …")."""
    a, b = fold(longer), fold(shorter)
    if len(a) <= len(b) or not a.endswith(b) or not _alnum(b):
        return False
    head = a[: len(a) - len(b)]
    m = _KICKER_END.search(head)
    if not m or m.end() != len(head):
        return False
    kicker = head[: m.start()].split()
    return 0 < len(kicker) <= min(MAX_KICKER_WORDS, len(b.split()))


MAX_AFFIX_WORDS = 4
_AFFIX_START = re.compile(r"[.!?…]*(?:\s+[|\-·•~/»]{1,2}\s+|\s*[｜ㅣ|]\s*)")  # not a colon: "Headline: more"


def _title_affixes(candidates: Sequence[tuple[str, str | None]], names: set[str]) -> set[str]:
    """Site and section names the ``<title>`` adds to the headline another candidate gives: "Headline | Sport
    | BILD.de" next to an ``og:title`` "Headline" names "Sport" and "BILD.de" affixes for every candidate."""
    titles = [fold(" ".join(html.unescape(raw).split())) for source, raw in candidates if source == "title" and raw]
    heads = [strip_affixes(raw, names) for source, raw in candidates if source in ("jsonld", "og", "twitter") and raw]
    # never a segment a candidate starts with, nor one the visible <h1> shows: those are the headline's
    firsts = {_alnum(_split(h)[0][0]) for h in heads} | {
        _alnum(seg) for source, raw in candidates if source == "h1" and raw for seg, _ in _split(raw)}
    found: set[str] = set()
    for title in titles:
        for head in heads:
            key = fold(head)
            if len(key.split()) < 2 or not title.startswith(key) or _names_site(head, names):
                continue
            m = _AFFIX_START.match(title, len(key))
            if not m:
                continue
            segments = [seg for seg, _ in _split(title[m.end():])]
            keys = {_alnum(seg) for seg in segments} - {""}
            if all(len(seg.split()) <= MAX_AFFIX_WORDS and len(seg) <= 60 for seg in segments) \
                    and any(_names_site(seg, names, trailing=True) for seg in segments) and not firsts & keys:
                found |= keys
    return found
