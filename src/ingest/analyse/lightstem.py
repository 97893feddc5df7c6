"""Light stemmers for the two search languages Snowball has no algorithm for: Ukrainian and Korean.

Hand-written, and why:
- Ukrainian: Snowball (PyStemmer) has no Ukrainian stemmer, and PyPI has no maintained one (the
  packages named for Ukrainian stemming are unmaintained ports or need a dictionary download at run
  time, which an archive server cannot do). A *light* stemmer, in the style of Savoy's light stemmers
  for Slavic languages, removes one inflectional ending (case, number, gender; a few verb endings),
  which is what search needs: ``Північна Корея`` and ``Північної Кореї`` both become ``північн коре``.
  It does not undo the vowel alternation of a closed final syllable (``Київ``/``Києва``): those forms
  meet through the exact form only.
- Korean: search needs the noun without its particle (``류화영의`` -> ``류화영``). The particles are a
  short closed list; a morphological analyser (Nori, MeCab-ko) would need a dictionary of hundreds of
  megabytes. The CJK bigrams of the exact stream (ingest.analyse.searchtext) cover compounds and verb
  endings, this covers phrases.

Both are pure functions of a word already normalised by ingest.analyse.searchtext (NFKC, case-folded,
apostrophes inside Ukrainian words removed).
"""

from __future__ import annotations

from functools import lru_cache

_UK_VOWELS = frozenset("аеєиіїоуюя")
_UK_REFLEXIVE = ("ся", "сь")
# Inflectional endings of nouns, adjectives, pronouns and participles, and the common verb endings;
# tried longest first. Derivational suffixes (-ння, -ськ-, -ість) are kept: they change the meaning.
_UK_ENDINGS = tuple(sorted({
    # adjectives and participles (full forms), ordinal numerals, pronouns
    "ого", "ому", "ими", "іми", "ий", "ій", "их", "іх", "им", "ім", "ої", "ою", "ую", "юю", "ее", "еє",
    "ая", "яя", "ього", "ьому", "ьої",
    # nouns: all cases, both numbers
    "ами", "ями", "ові", "еві", "єві", "ам", "ям", "ах", "ях", "ом", "ем", "єм", "ею", "єю", "ів", "їв",
    "ей", "а", "я", "е", "є", "і", "ї", "и", "у", "ю", "о", "ь", "й",
    # verbs: infinitive, present/future, past, imperative
    # (not -ать/-ять/-ить/-іть: nouns end so too, пам'ять, мить)
    "ати", "яти", "ити", "іти", "ути", "ти", "ють", "ують", "ають", "яють", "уть", "емо", "ємо", "имо", "імо", "ете", "єте", "ите", "іте", "ала", "ало", "али", "ила",
    "ило", "или", "іла", "іло", "іли", "ла", "ло", "ли", "ав", "ив",
}, key=lambda e: (-len(e), e)))
_UK_MIN_STEM = 2


@lru_cache(maxsize=65536)
def stem_uk(word: str) -> str:
    """The Ukrainian light stem of a normalised word (unchanged when it is not Cyrillic or too short)."""
    if len(word) <= _UK_MIN_STEM + 1 or not all("\u0400" <= c <= "\u04ff" for c in word):
        return word
    w = word
    for r in _UK_REFLEXIVE:
        if w.endswith(r) and len(w) - len(r) > _UK_MIN_STEM + 1:
            w = w[:-len(r)]
            break
    for ending in _UK_ENDINGS:
        if w.endswith(ending):
            rest = w[:-len(ending)]
            # the stem keeps a vowel (so "тих" stays a word) and at least two letters
            if len(rest) >= _UK_MIN_STEM and any(c in _UK_VOWELS for c in rest):
                w = rest
                break
    if w.endswith("ь") and len(w) > _UK_MIN_STEM + 1:
        w = w[:-1]
    return w


# Korean case and topic particles, and the copula endings that stick to nouns, longest first.
_KO_PARTICLES = tuple(sorted({
    "에서부터", "으로부터", "로부터", "에게서", "한테서", "께서는", "에서는", "에서도", "에게는", "으로는",
    "이라는", "라는", "이라고", "라고", "이었다", "입니다", "에서", "에게", "한테", "께서", "으로", "부터",
    "까지", "마저", "조차", "처럼", "보다", "에는", "에도", "와는", "과는", "이나", "이며", "이고", "이다",
    "였다", "은", "는", "이", "가", "을", "를", "의", "에", "로", "와", "과", "도", "만", "나", "랑",
}, key=lambda p: (-len(p), p)))


@lru_cache(maxsize=65536)
def strip_ko_particle(word: str) -> str:
    """A Hangul word without its trailing particle; two syllables of noun are kept at least, so short
    nouns that end like a particle (``회의``, ``나이``) stay whole."""
    for p in _KO_PARTICLES:
        if word.endswith(p) and len(word) - len(p) >= 2:
            return word[:-len(p)]
    return word
