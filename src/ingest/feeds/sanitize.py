"""Clean text values before they reach the archive: what one bad character must not do to a feed.

Feeds are written by hand, by broken CMSs and by hostile parties. Values that no database takes are
cleaned here, once, so that one bad title never loses a whole feed on every poll:

* NUL (U+0000): PostgreSQL refuses it in ``text`` and ``json`` columns (SQLite takes it, which is how it
  went unnoticed); dropped;
* lone surrogates (``"\\ud83d"`` in a JSON Feed): not encodable as UTF-8, so no driver can send them;
  replaced by U+FFFD, as a decoder does with bad bytes;
* other C0 control characters (but tab, newline and carriage return) and the non-characters U+FFFE and
  U+FFFF: not text in any feed format (XML forbids them); dropped.

:func:`clean_text` says what it did, so the caller can record it (a feed warning).
"""

from __future__ import annotations

import re

_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(value: str) -> tuple[str, frozenset[str]]:
    """``value`` with NULs and control characters dropped and lone surrogates replaced; and what was
    found (``{"NUL", "lone surrogate", "control character"}``, empty when nothing was)."""
    if _BAD.search(value) is None:
        return value, frozenset()
    found: set[str] = set()

    def fix(m: re.Match[str]) -> str:
        ch = m.group()
        if ch == "\x00":
            found.add("NUL")
            return ""
        if "\ud800" <= ch <= "\udfff":
            found.add("lone surrogate")
            return "\ufffd"
        found.add("control character")
        return ""

    return _BAD.sub(fix, value), frozenset(found)
