"""Undoing Content-Encoding (gzip, deflate, br) in bounded pieces.

httpx's own decoders inflate each network chunk in one call: a compression bomb of a few KB on the wire
becomes gigabytes in memory before any size check. These decoders never emit more than ``DECODE_CHUNK``
bytes at a time, so the fetcher's byte cap stops a bomb at ``max_bytes`` + one piece.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import brotli

# Largest piece a decoder emits at once; brotli may overshoot it by up to ~1.5x.
DECODE_CHUNK = 64 * 1024


class IncompleteEncoding(Exception):
    """The compressed body stopped before its end marker."""


class _ZlibStage:
    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
        self._d = zlib.decompressobj(self._wbits)
        self._started = False  # any output yet; deflate falls back to raw deflate before that
        self._members = 0  # complete gzip members
        self._fed = False
        self._done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        buf = data
        self._fed = self._fed or bool(data)
        while not self._done:
            if self._d.eof:
                buf = self._d.unused_data + buf
                if not (self._gzip and buf):  # trailing bytes after a deflate stream are ignored
                    return
                self._members += 1
                self._d = zlib.decompressobj(self._wbits)  # next gzip member
            try:
                out = self._d.decompress(buf, DECODE_CHUNK)
            except zlib.error:
                if not self._gzip and not self._started and self._wbits > 0:
                    self._wbits = -zlib.MAX_WBITS  # "deflate" sent without the zlib wrapper
                    self._d = zlib.decompressobj(self._wbits)
                    continue
                if self._members:  # garbage after a complete member is ignored, as browsers do
                    self._done = True
                    return
                raise
            buf = self._d.unconsumed_tail
            if out:
                self._started = True
                yield out
            if not buf and len(out) < DECODE_CHUNK and not self._d.eof:
                return

    def end(self) -> Iterator[bytes]:
        yield from self.feed(b"")
        if self._fed and not self._d.eof and not self._members and not self._done:
            raise IncompleteEncoding("gzip" if self._gzip else "deflate")


def _brotli_is_bounded() -> bool:
    try:
        brotli.Decompressor().process(b"", output_buffer_limit=1)
    except TypeError:  # brotli < 1.2: output cannot be bounded, so br is neither asked for nor decoded
        return False
    return True


BROTLI_BOUNDED = _brotli_is_bounded()
ACCEPT_ENCODING = "gzip, deflate, br" if BROTLI_BOUNDED else "gzip, deflate"


class _BrotliStage:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()
        self._fed = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not BROTLI_BOUNDED:
            raise brotli.error("this brotli cannot bound its output (needs brotli >= 1.2)")
        self._fed = self._fed or bool(data)
        out = self._d.process(data, output_buffer_limit=DECODE_CHUNK)
        while out:
            yield out
            out = self._d.process(b"", output_buffer_limit=DECODE_CHUNK)

    def end(self) -> Iterator[bytes]:
        yield from self.feed(b"")
        if self._fed and not self._d.is_finished():
            raise IncompleteEncoding("br")


class Decoder:
    """Undo Content-Encoding (applied in order, so undone in reverse), yielding bounded pieces."""

    def __init__(self, content_encoding: str) -> None:
        stages: list[_ZlibStage | _BrotliStage] = []
        for coding in reversed([c.strip().lower() for c in content_encoding.split(",")]):
            if coding in ("gzip", "x-gzip"):
                stages.append(_ZlibStage(gzip=True))
            elif coding == "deflate":
                stages.append(_ZlibStage(gzip=False))
            elif coding == "br":
                stages.append(_BrotliStage())
            # identity, empty, or a coding we never asked for: passed through as httpx does
        self._stages = stages

    def _push(self, i: int, data: bytes) -> Iterator[bytes]:
        if i == len(self._stages):
            if data:
                yield data
            return
        for piece in self._stages[i].feed(data):
            yield from self._push(i + 1, piece)

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._push(0, data)

    def finish(self) -> Iterator[bytes]:
        for i, stage in enumerate(self._stages):
            for piece in stage.end():
                yield from self._push(i + 1, piece)
