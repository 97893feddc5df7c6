"""The search analyser: what an article's title and text are indexed as, and what a query looks for.

One analyser for both engines, so SQLite (FTS5) and PostgreSQL (tsvector) index the very same tokens
and answer a query with the same articles: the engines only store and look up what this module makes.

Each field becomes two token streams:
- **exact**: the words as written, normalised (NFKC, case-folded, Latin diacritics removed, as FTS5's
  ``remove_diacritics 2`` does; apostrophes inside Ukrainian words removed). Han and Kana runs, which
  have no spaces between words, and Hangul words, which carry particles, become overlapping character
  bigrams followed by the run's last character (``津波注意報`` -> ``津波 波注 注意 意報 報``), so any
  sub-word of two or more characters is a phrase of bigrams and a single character is a prefix.
- **stems**: each word (not Han/Kana) stemmed in the article's language and tagged with it
  (``ru0кремл``, ``uk0коре``, ``ko0류화영``; a word in another script than the language's is tagged
  ``xx0`` and kept as is). Articles in a language without a stemmer get no stem stream.

A query word cannot know its language, so it is expanded to its stem in every stemmed language of its
script (Cyrillic: ru, uk, sr; Latin: en, de, fr, es, it, pt, …). The tag makes a stem match only
articles of the language it was made for: French ``general`` never meets an English stem. A word
matches its exact form or any of its stems; an article with the exact form matches both, which is how
ranking prefers exact forms on both engines.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ingest.analyse.lightstem import stem_uk, strip_ko_particle

# Bump when the analyser's output changes: a migration then marks every article for re-indexing.
ANALYSER_VERSION = 1
# Longer tokens are not indexed (PostgreSQL refuses lexemes over 2,047 bytes; nobody searches them).
MAX_TOKEN_CHARS = 100
# PostgreSQL keeps positions up to 16,383 only: both engines index that many tokens per article, so
# phrase queries behave the same on both (the words of a text beyond that are not indexed).
MAX_POSITIONS = 16_383
STEM_MARK = "0"  # between a stem's language tag and the stem: a token character on both engines

_MARKS = "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed" \
         "\u0900-\u0963\u0966-\u0dff\u0e00-\u0e4e\u0e50-\u0eff\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff" \
         "\u302a-\u302f\u3099\u309a\ufe20-\ufe2f"
_CYR = "\u0400-\u04ff"
# a word: letters, digits and combining marks (Indic vowel signs stay in their word); an apostrophe
# between two Cyrillic letters is part of a Ukrainian word (м'ясо, пам'ять)
WORD_RE = re.compile(rf"(?:[^\W_]|[{_MARKS}]|(?<=[{_CYR}])['\u2019\u02bc](?=[{_CYR}]))+")
_APOSTROPHES = str.maketrans("", "", "'\u2019\u02bc")
_CJK = ("\u3040-\u30ff\u31f0-\u31ff\u3005-\u3007\u303b\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
        "\U00020000-\U0003134f")
_HANGUL = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\ud7b0-\ud7ff"
_SEGMENT_RE = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<hangul>[{_HANGUL}]+)")

# language -> Snowball algorithm (PyStemmer); "uk" and "ko" are lightstem's
SNOWBALL = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech", "da": "danish",
    "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian", "fi": "finnish", "fr": "french",
    "de": "german", "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "fa": "persian", "pl": "polish",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian", "st": "sesotho", "es": "spanish",
    "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}
_ALIASES = {"nb": "no", "nn": "no", "iw": "he", "in": "id", "ji": "yi"}
# the scripts each stemmed language is written in (a word in another script is not stemmed for it)
SCRIPTS: dict[str, frozenset[str]] = {
    **{lang: frozenset({"latin"}) for lang in (
        "eu", "ca", "cs", "da", "nl", "en", "eo", "et", "fi", "fr", "de", "hu", "id", "ga", "it", "lt", "no",
        "pl", "pt", "ro", "st", "es", "sv", "tr")},
    "ru": frozenset({"cyrillic"}), "uk": frozenset({"cyrillic"}), "sr": frozenset({"cyrillic", "latin"}),
    "el": frozenset({"greek"}), "ar": frozenset({"arabic"}), "fa": frozenset({"arabic"}),
    "hy": frozenset({"armenian"}), "hi": frozenset({"devanagari"}), "ne": frozenset({"devanagari"}),
    "ta": frozenset({"tamil"}), "yi": frozenset({"hebrew"}), "ko": frozenset({"hangul"}),
}
BY_SCRIPT: dict[str, tuple[str, ...]] = {}
for _lang, _scripts in sorted(SCRIPTS.items()):
    for _script in _scripts:
        BY_SCRIPT[_script] = (*BY_SCRIPT.get(_script, ()), _lang)


def language_key(language: str | None) -> str | None:
    """``pt-BR`` -> ``pt``, ``nb`` -> ``no``: the stemmed language of an article, or None."""
    if not language:
        return None
    primary = _ALIASES.get(language.split("-")[0].split("_")[0].lower(), language.split("-")[0].lower())
    return primary if primary in SCRIPTS else None


def script(segment: str) -> str | None:
    """The script of a (non-CJK) segment, from its first letter; None for digits and the rest."""
    for c in segment:
        o = ord(c)
        if c.isdigit():
            continue
        if o < 0x250 or 0x1E00 <= o <= 0x1EFF:
            return "latin" if c.isalpha() else None
        if 0x400 <= o <= 0x52F:
            return "cyrillic"
        if 0x370 <= o <= 0x3FF or 0x1F00 <= o <= 0x1FFF:
            return "greek"
        if 0x600 <= o <= 0x6FF or 0x750 <= o <= 0x77F or 0xFB50 <= o <= 0xFDFF or 0xFE70 <= o <= 0xFEFF:
            return "arabic"
        if 0x530 <= o <= 0x58F:
            return "armenian"
        if 0x900 <= o <= 0x97F:
            return "devanagari"
        if 0xB80 <= o <= 0xBFF:
            return "tamil"
        if 0x590 <= o <= 0x5FF:
            return "hebrew"
        if 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
            return "hangul"
        return None
    return None


@lru_cache(maxsize=64)
def _snowball(algorithm: str) -> Any:
    import Stemmer  # PyStemmer: Snowball in C, with its own word cache

    return Stemmer.Stemmer(algorithm)


def _fold_latin(word: str) -> str:
    """Remove the diacritics of Latin letters only (Cyrillic й, Greek tonos and Indic signs stay)."""
    if word.isascii():
        return word
    out: list[str] = []
    latin = False
    for c in unicodedata.normalize("NFD", word):
        if "\u0300" <= c <= "\u036f":
            if not latin:
                out.append(c)
            continue
        latin = c < "\u0250" or "\u1e00" <= c <= "\u1eff"
        out.append(c)
    return unicodedata.normalize("NFC", "".join(out))


# The word caches live as long as the process (a poll's main process, for months under `ingest serve`):
# ~240 bytes an entry each, so their size is its memory. At 65,536 entries the three hold ~47 MB at
# most; at the 131,072 and 262,144 they had, ~170 MB, reached only after hundreds of thousands of
# pages in many languages. (4,000 articles of the scale benchmark's mix have 46,000 distinct words.)
WORD_CACHE = 65536


@lru_cache(maxsize=WORD_CACHE)
def normalise(word: str) -> str:
    """One word as the exact stream holds it."""
    if word.isascii():
        return word.lower()
    w = unicodedata.normalize("NFKC", word).casefold()
    if "'" in w or "\u2019" in w or "\u02bc" in w:
        w = w.translate(_APOSTROPHES)
    return _fold_latin(w)


@lru_cache(maxsize=WORD_CACHE)
def stem_token(language: str, segment: str) -> str:
    """The stem stream's token for a normalised (non-Han/Kana) segment in a stemmed ``language``."""
    if script(segment) not in SCRIPTS[language]:
        return "xx" + STEM_MARK + segment
    if language == "uk":
        stem = stem_uk(segment)
    elif language == "ko":
        stem = strip_ko_particle(segment)
    else:
        stem = _fold_latin(_snowball(SNOWBALL[language]).stemWord(segment))
    return language + STEM_MARK + stem


def bigrams(run: str, *, final: bool) -> list[str]:
    """Overlapping character pairs of a CJK run, and (``final``) its last character alone."""
    if len(run) == 1:
        return [run]
    pairs = [run[i:i + 2] for i in range(len(run) - 1)]
    return [*pairs, run[-1]] if final else pairs


@dataclass(frozen=True, slots=True)
class Segment:
    text: str  # normalised
    kind: str  # "word" | "cjk" (Han, Kana) | "hangul"


def segments(word: str) -> list[Segment]:
    """A normalised word cut where its script changes into or out of CJK or Hangul."""
    if word.isascii():
        return [Segment(word, "word")]
    out: list[Segment] = []
    pos = 0
    for m in _SEGMENT_RE.finditer(word):
        if m.start() > pos:
            out.append(Segment(word[pos:m.start()], "word"))
        out.append(Segment(m.group(), m.lastgroup or "cjk"))
        pos = m.end()
    if pos < len(word):
        out.append(Segment(word[pos:], "word"))
    return out


def words(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, normalised word) of each word of ``text``, offsets into ``text``."""
    for m in WORD_RE.finditer(text):
        yield m.start(), m.end(), normalise(m.group())


@dataclass(frozen=True, slots=True)
class Streams:
    exact: list[str]
    stems: list[str]


@lru_cache(maxsize=WORD_CACHE)
def _word_streams(word: str, lang: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The exact and stem tokens of one normalised word (news text repeats its words: cached)."""
    e: list[str] = []
    s: list[str] = []
    for seg in segments(word):
        if len(seg.text) > MAX_TOKEN_CHARS:
            continue
        if seg.kind == "word":
            e.append(seg.text)
        else:
            e.extend(bigrams(seg.text, final=True))
        if lang is not None and seg.kind != "cjk":
            s.append(stem_token(lang, seg.text))
    return tuple(e), tuple(s)


def analyse(text: str | None, language: str | None, budget: int = MAX_POSITIONS) -> Streams:
    """The two token streams of one field; ``budget`` caps their total length (see MAX_POSITIONS)."""
    lang = language_key(language)
    exact: list[str] = []
    stems: list[str] = []
    used = 0
    for m in WORD_RE.finditer(text or ""):
        e, s = _word_streams(normalise(m.group()), lang)
        used += len(e) + len(s)
        if used > budget:
            break
        exact.extend(e)
        stems.extend(s)
    return Streams(exact, stems)


def index_fields(title: str | None, text: str | None, language: str | None) -> tuple[list[str], list[str]]:
    """The indexed token lists of an article's title and text: each field's exact stream, then its stem
    stream (FTS5 stores them as one column each; PostgreSQL gives them these positions)."""
    t = analyse(title, language, MAX_POSITIONS // 8)
    x = analyse(text, language, MAX_POSITIONS - 2 - len(t.exact) - len(t.stems))
    return t.exact + t.stems, x.exact + x.stems
