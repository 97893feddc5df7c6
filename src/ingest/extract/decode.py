"""Turn HTML page bytes into text: BOM, then HTTP charset, then in-page declaration, then detection.

A declared charset is only believed when the bytes decode strictly with it, because servers and
templates lie often. One lie is common enough to special-case: a page that declares a legacy
(non-Unicode) charset but is valid UTF-8 with multi-byte sequences is UTF-8. Real legacy-encoded
text is practically never valid multi-byte UTF-8 by accident, while CMSs that moved to UTF-8 and
kept an old ``<meta charset=iso-8859-1>`` are common (two of the real corpus pages do exactly this).
trafilatura itself always tries UTF-8 first, so this rule also keeps our text identical to its own.

The returned encoding name is Python's canonical codec name (``codecs.lookup(name).name``), e.g.
``utf-8``, ``cp1252``, ``shift_jis``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from charset_normalizer import from_bytes

# Longest first: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Browsers decode these labels with a superset (WHATWG Encoding Standard); the superset is tried
# first and the literal charset second, since Python's cp1252 leaves five bytes undefined.
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "iso8859-1": ("cp1252", "iso8859-1"),
    "ascii": ("cp1252", "iso8859-1"),
    "iso8859-9": ("cp1254", "iso8859-9"),
    "iso8859-11": ("cp874", "iso8859-11"),
    "tis-620": ("cp874", "tis-620"),
    "gb2312": ("gbk", "gb18030"),
    "gbk": ("gbk", "gb18030"),
    "shift_jis": ("cp932", "shift_jis"),
    "euc_kr": ("cp949", "euc_kr"),
    "big5": ("big5hkscs", "cp950"),
}

_UNICODE = frozenset({"utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})

PREFIX_BYTES = 16_384
DETECT_SAMPLE_BYTES = 65_536

_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([^\s"';,>]+)""", re.I)
_META = re.compile(rb"<meta\b[^>]*>", re.I)
_META_CHARSET = re.compile(rb"""\bcharset\s*=\s*["']?\s*([^\s"'/;>]+)""", re.I)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_MARKUP = re.compile(rb"[<>]")
# A lead byte followed by a continuation byte: proof that valid UTF-8 is not plain ASCII.
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """Decode page bytes; returns ``(text, encoding)``. Never raises on bad bytes."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            decoded = _strict(body[len(bom):], encoding)
            if decoded is not None:
                return decoded, encoding
    utf8_ok = _is_utf8(body)
    for declared in _declarations(body, content_type):
        if declared is None:
            continue
        if utf8_ok and declared not in _UNICODE and _UTF8_MULTIBYTE.search(body):
            return body.decode("utf-8"), "utf-8"
        if declared in _UNICODE and declared != "utf-8" and b"\x00" not in body[:PREFIX_BYTES]:
            continue  # UTF-16/32 HTML without a single NUL is a mislabel; decoding it would garble
        for candidate in _SUPERSETS.get(declared, (declared,)):
            decoded = _strict(body, candidate)
            if decoded is not None:
                return decoded, candidate
    if utf8_ok:
        return body.decode("utf-8"), "utf-8"
    return _detect(body)


def _declarations(body: bytes, content_type: str | None) -> Iterator[str | None]:
    yield charset_from_content_type(content_type)
    yield _in_page_charset(body)  # only looked for when the header's charset did not do


def charset_from_content_type(content_type: str | None) -> str | None:
    """The canonical codec name of a Content-Type's charset parameter, or None if absent/unknown."""
    if not content_type:
        return None
    match = _CHARSET_PARAM.search(content_type)
    return _codec_name(match.group(1)) if match else None


def _in_page_charset(body: bytes) -> str | None:
    head = body[:PREFIX_BYTES]
    xml = _XML_DECL.match(head)
    if xml:
        name = _codec_name(xml.group(1).decode("ascii"))
        if name is not None:
            return _meta_utf16_is_utf8(name)
    # <meta charset=...> or <meta http-equiv="Content-Type" content="...; charset=...">
    for meta in _META.finditer(head):
        match = _META_CHARSET.search(meta.group(0))
        if match:
            name = _codec_name(match.group(1).decode("ascii", "replace"))
            if name is not None:
                return _meta_utf16_is_utf8(name)
    return None


def _meta_utf16_is_utf8(name: str) -> str:
    # A page readable enough to find its <meta> in ASCII is not UTF-16 (the WHATWG rule).
    return "utf-8" if name.startswith("utf-16") or name.startswith("utf-32") else name


def _codec_name(label: str) -> str | None:
    label = label.strip().strip("\"'").lower()
    if label in ("x-sjis", "windows-31j", "ms932", "ms_kanji"):
        label = "cp932"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # UTF-7 is a known XSS vector and no browser honours it; utf-8-sig is just UTF-8.
    if name == "utf-7":
        return None
    return "utf-8" if name == "utf-8-sig" else name


def _strict(body: bytes, encoding: str) -> str | None:
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _detect(body: bytes) -> tuple[str, str]:
    # Detect on the runs of text that hold non-ASCII bytes: on a whole page, kilobytes of ASCII markup
    # drown the signal and charset_normalizer settles for the first single-byte code page that fits.
    runs = [run for run in _MARKUP.split(body) if not run.isascii()]
    sample = b" ".join(runs)[:DETECT_SAMPLE_BYTES]
    best = from_bytes(sample or body).best()
    if best is not None and best.encoding:
        decoded = _strict(body, best.encoding)
        if decoded is not None:
            return decoded, codecs.lookup(best.encoding).name
    # Nothing fits: keep what is readable rather than failing the page (trafilatura does the same).
    return body.decode("utf-8", errors="replace"), "utf-8"
