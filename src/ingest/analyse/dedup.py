"""Exact-duplicate decisions on article text (pure).

Two pages carry "the same text" when their normalised texts are equal. Normalisation removes what
templates and CMSs vary without changing the story: Unicode compatibility forms, typographic quotes and
dashes, letter case, and all whitespace runs. The SHA-256 of that string is the key of the
``text_hashes`` table, whose primary key makes the decision race-free across concurrent runs.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00ad": None, "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None,
})
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE).casefold()
    return _SPACE.sub(" ", text).strip()


def content_sha256(text: str) -> str:
    return normalized_sha256(normalize_text(text))


def normalized_sha256(normalized: str) -> str:
    """:func:`content_sha256` of a text already passed through :func:`normalize_text` (normalising is
    most of the cost; callers that need the normalised text for other keys too do it once)."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()
