"""Near-duplicate texts (pure): shingles, MinHash signatures, LSH band keys, title keys.

Shingles work for any script: the normalised text (see :func:`ingest.analyse.dedup.normalize_text`) is split
into Unicode word tokens; runs of scripts written without spaces (CJK, Thai, Japanese kana, Hangul
syllables) are cut into character n-grams instead, since their "words" are whole clauses. Word
shingles are ``shingle_words`` consecutive tokens.

MinHash (``bands * rows`` permutations, universal hashing over CRC-32 shingle hashes, fixed seed so
signatures are comparable across processes and runs) estimates the Jaccard similarity of two shingle
sets. LSH cuts a signature into ``bands`` bands of ``rows`` values; two texts are candidates when any
band is equal, which the archive finds with an indexed lookup of (band, bucket) pairs: the cost per
article depends on the band count, not on the archive's size. Candidates are confirmed by the
estimated similarity (``similarity`` threshold).
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ingest.analyse.dedup import normalize_text

_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64(0xFFFFFFFF)
_TOKEN = re.compile(r"\w+")
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")


LEAD_BAND_BASE = 1000  # band numbers of the lead index start here (text bands are 0 .. bands - 1)


@dataclass(frozen=True, slots=True)
class DedupParams:
    shingle_words: int = 3
    shingle_chars: int = 3
    bands: int = 42
    rows: int = 3
    similarity: float = 0.5
    # the share of the shorter text's shingles found in the longer at or above which two texts are one
    # story (a copy truncated after its first paragraphs); only for shorter texts of at least
    # ``containment_min_shingles`` shingles (a short blurb is contained in many texts)
    containment: float = 0.8
    containment_min_shingles: int = 40
    # a re-post under the same normalised title needs at least this estimated text similarity too:
    # recurring headlines ("Morning Briefing", "Letters", live blogs) head different texts
    title_similarity: float = 0.2
    # the lead index: a MinHash of the first ``lead_shingles`` shingles in ``lead_bands`` bands of
    # ``lead_rows`` rows, so that a copy truncated to its first paragraphs (a low Jaccard similarity
    # to the whole text) is still a candidate; 0 turns it off
    lead_shingles: int = 40
    lead_bands: int = 6
    lead_rows: int = 4

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows


def tokens(text: str, char_n: int = 3) -> list[str]:
    """Word tokens; runs of unspaced scripts become overlapping character n-grams."""
    return normalized_tokens(normalize_text(text), char_n)


def normalized_tokens(normalized: str, char_n: int = 3) -> list[str]:
    """:func:`tokens` of a text already passed through :func:`ingest.analyse.dedup.normalize_text`."""
    if not _UNSPACED.search(normalized):  # most texts: one pass instead of a search per word
        return _TOKEN.findall(normalized)
    out: list[str] = []
    for word in _TOKEN.findall(normalized):
        if not _UNSPACED.search(word):
            out.append(word)
            continue
        pos = 0
        for m in _UNSPACED.finditer(word):
            if m.start() > pos:
                out.append(word[pos:m.start()])
            run = m.group()
            if len(run) <= char_n:
                out.append(run)
            else:
                out.extend(run[i:i + char_n] for i in range(len(run) - char_n + 1))
            pos = m.end()
        if pos < len(word):
            out.append(word[pos:])
    return out


def shingles(text: str, params: DedupParams = DedupParams()) -> set[int]:
    """CRC-32 hashes of the text's word shingles (a short text is one shingle of all its tokens)."""
    return token_shingles(tokens(text, params.shingle_chars), params)


def token_shingles(toks: list[str], params: DedupParams = DedupParams()) -> set[int]:
    """:func:`shingles` of a text's :func:`tokens`."""
    k = params.shingle_words
    if len(toks) <= k:
        return {zlib.crc32(" ".join(toks).encode())} if toks else set()
    return {zlib.crc32(" ".join(toks[i:i + k]).encode()) for i in range(len(toks) - k + 1)}


@lru_cache(maxsize=8)
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(1)  # fixed: stored signatures must stay comparable
    a = rng.randint(1, 1 << 32, size=num_perm, dtype=np.uint64)
    b = rng.randint(0, 1 << 32, size=num_perm, dtype=np.uint64)
    return a, b


def signature(shingle_hashes: set[int], num_perm: int) -> np.ndarray:
    """MinHash signature (uint32 per permutation); all-max for an empty set."""
    if not shingle_hashes:
        return np.full(num_perm, 0xFFFFFFFF, dtype=np.uint32)
    a, b = _permutations(num_perm)
    hv = np.fromiter(shingle_hashes, dtype=np.uint64, count=len(shingle_hashes))
    with np.errstate(over="ignore"):
        ph = ((np.outer(hv, a) + b) % _MERSENNE) & _MAX32
    return ph.min(axis=0).astype(np.uint32)


def text_signature(text: str, params: DedupParams = DedupParams()) -> np.ndarray:
    return signature(shingles(text, params), params.num_perm)


def similarity(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the two shingle sets."""
    if len(sig_a) != len(sig_b) or not len(sig_a):
        return 0.0
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)


def band_keys(sig: np.ndarray, params: DedupParams = DedupParams()) -> list[tuple[int, int]]:
    """(band index, signed 64-bit bucket) for each LSH band of a signature."""
    out = []
    for band in range(params.bands):
        chunk = sig[band * params.rows:(band + 1) * params.rows].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8).digest()
        out.append((band, int.from_bytes(digest, "big", signed=True)))
    return out


def shingle_sequence(toks: list[str], params: DedupParams = DedupParams()) -> list[int]:
    """The text's shingle hashes in text order (repeats kept): the lead index needs the order."""
    k = params.shingle_words
    if len(toks) <= k:
        return [zlib.crc32(" ".join(toks).encode())] if toks else []
    return [zlib.crc32(" ".join(toks[i:i + k]).encode()) for i in range(len(toks) - k + 1)]


def lead_band_keys(seq: list[int], params: DedupParams = DedupParams()) -> list[tuple[int, int]]:
    """LSH keys of the text's lead (the first ``lead_shingles`` of its :func:`shingle_sequence`), in
    bands numbered from :data:`LEAD_BAND_BASE`; none for a text not longer than its lead (its text bands
    find it)."""
    if params.lead_shingles <= 0 or params.lead_bands <= 0:
        return []
    if len(seq) <= params.lead_shingles:
        return []
    lead = signature(set(seq[:params.lead_shingles]), params.lead_bands * params.lead_rows)
    lead_params = DedupParams(bands=params.lead_bands, rows=params.lead_rows)
    return [(LEAD_BAND_BASE + band, bucket) for band, bucket in band_keys(lead, lead_params)]


def normalized_keys(normalized: str, params: DedupParams = DedupParams()) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Signature and every index key (text bands, then lead bands) of a normalised text."""
    seq = shingle_sequence(normalized_tokens(normalized, params.shingle_chars), params)  # hashed once
    sig = signature(set(seq), params.num_perm)
    return sig, band_keys(sig, params) + lead_band_keys(seq, params)


def text_keys(text: str, params: DedupParams = DedupParams()) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """:func:`normalized_keys` of a raw text."""
    return normalized_keys(normalize_text(text), params)


def to_bytes(sig: np.ndarray) -> bytes:
    return sig.astype("<u4").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


def title_key(title: str | None) -> str | None:
    """Hash of a title's letters and digits (case, spacing and punctuation ignored); None when empty."""
    if not title:
        return None
    core = "".join(_TOKEN.findall(normalize_text(title)))
    return hashlib.sha256(core.encode()).hexdigest() if len(core) >= 8 else None


def headline_core(title: str | None) -> str:
    """A headline's letters and digits, case folded: two titles with the same core are one headline
    (a changed dash or spacing is not a headline edit; a changed word is)."""
    return "".join(_TOKEN.findall(normalize_text(title))) if title else ""


def revision_key(text: str) -> str:
    """Hash of a text's letters and digits only: a re-fetch that changed only whitespace or
    punctuation has the same key, so it is not a revision."""
    return normalized_revision_key(normalize_text(text))


def normalized_revision_key(normalized: str) -> str:
    """:func:`revision_key` of a text already passed through :func:`ingest.analyse.dedup.normalize_text`."""
    return hashlib.sha256("".join(_TOKEN.findall(normalized)).encode()).hexdigest()
