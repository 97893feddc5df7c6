"""The article's language: what the page declares, checked against what its text is.

A template's ``<html lang="en">`` is often wrong: on the shared corpus six isiZulu, isiXhosa and Swahili
pages declare English. The declared code (``<html lang>``, else ``Content-Language``, else trafilatura's
reading of the metadata) is kept as written (``language_declared``, region and all); the archived
``language`` is its primary subtag, normalised (``nb``/``nn`` -> ``no``, ``iw`` -> ``he`` …). py3langid
then reads the text: when it disagrees with the declaration with a probability of at least
``CONFIDENT`` on a text of at least ``MIN_CHARS``, detection wins (``language_source == "detected"``);
languages it cannot tell apart reliably (Norwegian and Danish, Bosnian/Croatian/Serbian, Malay and
Indonesian …) keep the declaration.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

CONFIDENT = 0.9
MIN_CHARS = 200
_LANG = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]{1,8})*$")
_NO_LANGUAGE = frozenset({"und", "mul", "zxx", "mis"})
# Deprecated and macro-language codes -> the code py3langid (and most readers) use.
_ALIASES = {"nb": "no", "nn": "no", "iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "sh": "sr",
            "fil": "tl", "zsm": "ms", "cmn": "zh", "yue": "zh", "arb": "ar", "pes": "fa", "prs": "fa"}
_CLOSE = [frozenset(g) for g in ({"no", "da", "sv"}, {"hr", "bs", "sr", "sl", "me"}, {"ms", "id"},
                                 {"cs", "sk"}, {"gl", "pt"}, {"ca", "es", "oc"}, {"lb", "de"}, {"be", "ru", "uk"},
                                 {"af", "nl"}, {"xh", "zu", "nr", "ss"}, {"hi", "mr", "ne"})]


@dataclass(frozen=True, slots=True)
class LanguageChoice:
    language: str | None
    source: str | None  # "page" (declared and not contradicted), "detected"
    declared: str | None  # as the page wrote it, e.g. "pt-BR"
    detected: str | None
    confidence: float | None


def normalise(value: str | None) -> str | None:
    """'en-US' -> 'en', 'nb-NO' -> 'no'; None for missing or meaningless values (and charsets)."""
    primary = primary_tag(value)
    return _ALIASES.get(primary, primary) if primary else None


def primary_tag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.split(",", 1)[0].strip().lower()
    match = _LANG.match(value)
    if not match or match.group(1) in _NO_LANGUAGE or _is_codec(value) or _is_codec(match.group(1)):
        return None  # <meta http-equiv="Content-Language" content="utf-8"> is a real corpus page
    return match.group(1)


def declared_tag(*values: str | None) -> str | None:
    """The first declaration that names a language, as written (trimmed, at most 35 characters)."""
    for value in values:
        if normalise(value):
            return value.split(",", 1)[0].strip()[:35]  # type: ignore[union-attr]
    return None


def _is_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str) -> tuple[str | None, float]:
    lang, prob = _identifier().classify(text[:20_000])
    return (str(lang) or None), float(prob)


def choose_language(declared: str | None, text: str) -> LanguageChoice:
    code = normalise(declared)
    detected, prob = detect(text) if text.strip() else (None, 0.0)
    detected = _ALIASES.get(detected, detected) if detected else None
    if code is None:
        return LanguageChoice(detected, "detected" if detected else None, declared, detected, prob)
    if detected and detected != code and prob >= CONFIDENT and len(text) >= MIN_CHARS \
            and not any(code in g and detected in g for g in _CLOSE):
        return LanguageChoice(detected, "detected", declared, detected, prob)
    return LanguageChoice(code, "page", declared, detected, prob)


def warm() -> None:
    detect("warm up")
