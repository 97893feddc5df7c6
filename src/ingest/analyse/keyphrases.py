"""Key phrases of an article's text with YAKE (unsupervised, per language): pure function on text.

Stored as ``keyword:<phrase>`` tags of origin ``keyphrase`` when ``keyphrases.enabled`` is set in the
configuration. Off by default: YAKE costs about 60 ms of CPU per news article here, more than the
extraction itself, so an archive turns it on knowingly. YAKE's score is kept as the tag's score:
*lower is more relevant* (it is not a probability).

YAKE ships stop-word lists for ~35 languages (Ukrainian and Russian among them); any other language
falls back to its language-neutral list. It is imported lazily: nothing else needs it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

PREFIX = "keyword:"
MIN_TEXT_CHARS = 200  # shorter texts give noise, not key phrases
MAX_PHRASE_CHARS = 80
_SPACE = re.compile(r"\s+")
_NO_LETTER = re.compile(r"^[\W\d_]+$")


@dataclass(frozen=True, slots=True)
class Keyphrase:
    phrase: str  # lower-cased, whitespace collapsed
    score: float  # YAKE's: lower is more relevant

    @property
    def tag(self) -> str:
        return PREFIX + self.phrase


@functools.cache
def _languages() -> frozenset[str]:
    names = (p.name for p in resources.files("yake").joinpath("core", "StopwordsList").iterdir())
    return frozenset(n[len("stopwords_"):-len(".txt")] for n in names if n.startswith("stopwords_"))


def yake_language(language: str | None) -> str:
    """YAKE's language code for an ISO 639-1 code ('cs' is 'cz' there); unknown -> neutral list."""
    code = (language or "").lower().split("-")[0]
    code = {"cs": "cz"}.get(code, code)
    return code if code in _languages() else "noLang"


@functools.lru_cache(maxsize=64)
def _extractor(language: str, top: int, max_words: int) -> Any:
    import yake

    # a candidate pool larger than `top`, so filtering out numbers and duplicates still leaves `top`
    return yake.KeywordExtractor(lan=language, n=max_words, top=top * 3, dedupLim=0.7)


def extract_keyphrases(text: str | None, language: str | None, *, top: int = 5,
                       max_words: int = 3) -> list[Keyphrase]:
    """The ``top`` key phrases of ``text``, most relevant first; [] for short or empty text."""
    if not text or len(text) < MIN_TEXT_CHARS:
        return []
    out: list[Keyphrase] = []
    seen: set[str] = set()
    for phrase, score in _extractor(yake_language(language), top, max_words).extract_keywords(text):
        norm = _SPACE.sub(" ", str(phrase)).strip().lower()
        if len(norm) < 2 or len(norm) > MAX_PHRASE_CHARS or _NO_LETTER.match(norm) or norm in seen:
            continue
        if any(f" {norm} " in f" {kept.phrase} " for kept in out):
            continue  # "north korean" adds nothing after "north korean prisoners"
        seen.add(norm)
        out.append(Keyphrase(norm, round(float(score), 6)))
        if len(out) == top:
            break
    return out
