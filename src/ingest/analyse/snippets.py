"""Search snippets, made in Python for the returned hits only, the same on both engines.

Why not the engines' own (FTS5 ``snippet()``, PostgreSQL ``ts_headline``): both index the analyser's
tokens (ingest.analyse.searchtext), not the article's text, so they cannot point back into it; they
differ from each other; and SQLite built a snippet for every match before the LIMIT. Here a snippet
costs one pass over the text, until a window holds every query term (at most MAX_SCAN_WORDS words).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ingest.analyse.searchtext import STEM_MARK, WORD_RE, language_key, normalise, segments, stem_token

WINDOW_WORDS = 16  # as FTS5's snippet(..., 16): the window with the most distinct query terms wins
CJK_CHARS = 60  # a CJK run is one word to the tokenizer: a long one is cut around the match
MAX_SCAN_WORDS = 1000  # further in (or a match in the title only): the best window so far
STEM_START = 2
LOOK_AHEAD = 300  # words read past the first match looking for a window with more of the terms


@dataclass(frozen=True, slots=True)
class Highlight:
    """What counts as a match of one query term, normalised: exact words, prefixes, stem tokens, CJK runs."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]
    stems: frozenset[str]
    cjk: tuple[str, ...]
    # the first letters of the stems: a word is stemmed only when it starts so (a stem is mostly a
    # prefix of its word), which keeps a snippet from stemming every word of a long text
    stem_starts: frozenset[str] = frozenset()


def highlight_of(terms: Iterable[Any]) -> list[Highlight]:
    """One Highlight per query term (ingest.store.searchquery.Term: anything with those four fields)."""
    return [Highlight(frozenset(t.exact), tuple(t.prefixes), frozenset(t.stems),
                      tuple(c for c in t.cjk if len(c) > 1),
                      frozenset(s.split(STEM_MARK, 1)[1][:STEM_START] for s in t.stems)) for t in terms]


def _spans(h: Highlight, lang: str | None, raw: str, norm: str) -> list[tuple[int, int]]:
    """The parts of one word (offsets into ``raw``) that match one term."""
    spans: list[tuple[int, int]] = []
    same_length = len(raw) == len(norm)  # offsets in the normalised word are offsets in the raw one
    for seg in segments(norm):
        if seg.kind != "word":
            base = norm.find(seg.text)
            for needle in (*h.cjk, *(p for p in h.prefixes if len(p) == 1)):
                at = seg.text.find(needle)
                while at >= 0:
                    if not same_length:
                        return [(0, len(raw))]
                    spans.append((base + at, base + at + len(needle)))
                    at = seg.text.find(needle, at + len(needle))
            if seg.kind == "cjk":
                continue
        if seg.text in h.exact or any(seg.text.startswith(p) for p in h.prefixes) or (
                lang is not None and seg.text[:STEM_START] in h.stem_starts
                and stem_token(lang, seg.text) in h.stems):
            return [(0, len(raw))]
    return spans


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def snippet(text: str, language: str | None, terms: list[Highlight]) -> str:
    """About WINDOW_WORDS words of ``text`` where most query terms are, matches in ``[…]``, ``…`` where
    it is cut; the start of the text when nothing in it matches (the match was in the title)."""
    lang = language_key(language)
    # a word can match only if it starts with a letter some term starts with, or holds CJK
    firsts = {w[0] for h in terms for w in (*h.exact, *h.prefixes, *h.stem_starts) if w}
    needles = sorted({n for h in terms for n in (*h.cjk, *(p for p in h.prefixes if len(p) == 1))}, key=len)
    needle = re.compile("|".join(map(re.escape, needles))) if needles else None
    first_hit: int | None = None
    found: list[tuple[int, int, list[tuple[int, int]], frozenset[int]]] = []
    nothing: frozenset[int] = frozenset()
    best, best_at, complete = 0, 0, False
    for m in WORD_RE.finditer(text):
        start, end = m.start(), m.end()
        if complete and len(found) >= best_at + WINDOW_WORDS:
            break
        norm = normalise(m.group())  # (searchtext.words, inlined: this loop is most of a search's time)
        if norm[0] not in firsts and (needle is None or norm.isascii() or not needle.search(norm)):
            found.append((start, end, [], nothing))
            if len(found) > MAX_SCAN_WORDS or (first_hit is not None and len(found) > first_hit + LOOK_AHEAD):
                break
            continue
        raw = text[start:end]
        spans: list[tuple[int, int]] = []
        hit: set[int] = set()
        for i, h in enumerate(terms):
            s = _spans(h, lang, raw, norm)
            if s:
                spans.extend(s)
                hit.add(i)
        found.append((start, end, _merge(spans), frozenset(hit)))
        if hit and first_hit is None:
            first_hit = len(found) - 1
        if hit and not complete:  # the window ending here, begun a quarter window before its first match
            lo = max(0, len(found) - WINDOW_WORDS * 3 // 4)
            distinct = len(frozenset().union(*(f[3] for f in found[lo:])))
            if distinct > best:
                first = next(j for j in range(lo, len(found)) if found[j][3])
                best, best_at = distinct, max(0, first - WINDOW_WORDS // 4)
            complete = best == len(terms)  # read on to the window's end only
        if len(found) > MAX_SCAN_WORDS:
            break
    if not found:
        return text[:200].strip()
    window = found[best_at:best_at + WINDOW_WORDS]
    begin, stop = window[0][0], window[-1][1]
    if stop - begin > 4 * CJK_CHARS:  # long CJK runs: cut around the first match
        centre = next((s + (sp[0][0]) for s, _, sp, _ in window if sp), begin)
        begin, stop = max(begin, centre - CJK_CHARS), min(stop, centre + 2 * CJK_CHARS)
    out: list[str] = []
    pos = begin
    for start, _, spans, _ in window:
        for a, b in spans:
            a, b = start + a, start + b
            if a >= pos and b <= stop:
                out.append(text[pos:a] + "[" + text[a:b] + "]")
                pos = b
    out.append(text[pos:stop])
    more = WORD_RE.search(text, stop) is not None
    return ("…" if begin > 0 else "") + "".join(out).strip() + ("…" if more else "")
