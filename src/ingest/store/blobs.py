"""Raw response bodies as the archive keeps them (pure): zlib-compressed, addressed by SHA-256.

The store packs a body itself, or takes one the extractor processes packed already
(:mod:`ingest.analyse.precompute`): compressing every page is CPU the main process would otherwise take from
extraction on the same cores.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

# Level 3: on the shared corpus it compresses HTML to 21% (level 6: 19%) for less than half the CPU.
BLOB_ZLIB_LEVEL = 3
ZLIB = "zlib"


@dataclass(frozen=True, slots=True)
class PackedBody:
    sha256: str  # of the uncompressed bytes: the blob's key
    size: int  # uncompressed
    compression: str
    data: bytes


def pack_body(body: bytes, sha256: str | None = None) -> PackedBody:
    """The blob row's values for ``body`` (``sha256`` when the caller has it already)."""
    return PackedBody(sha256 or hashlib.sha256(body).hexdigest(), len(body), ZLIB,
                      zlib.compress(body, BLOB_ZLIB_LEVEL))


def unpack_body(compression: str, data: bytes) -> bytes:
    return zlib.decompress(data) if compression == ZLIB else bytes(data)
