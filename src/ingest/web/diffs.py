"""Side-by-side diffs of two versions' title and text (pure): rows of (kind, old line, new line).

difflib's HtmlDiff would write the HTML itself (with inline styles the CSP refuses); these rows go
through the autoescaping templates instead. Paragraphs are wrapped so an edit in a long paragraph
shows as the lines that changed."""

from __future__ import annotations

import difflib
import textwrap
from dataclasses import dataclass
from typing import Any

WRAP = 90


@dataclass(frozen=True, slots=True)
class Row:
    kind: str  # same | changed | added | removed | gap
    old: str
    new: str


def wrapped(text: str | None) -> list[str]:
    out: list[str] = []
    for para in (text or "").splitlines():
        out += textwrap.wrap(para, WRAP) or [""]
    return out


def side_by_side(old: list[str], new: list[str], *, context: int = 2) -> list[Row]:
    """Rows of the two texts; unchanged runs longer than twice ``context`` are cut to a ``gap`` row."""
    rows: list[Row] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            run = list(zip(old[i1:i2], new[j1:j2], strict=True))
            if len(run) > 2 * context + 1:
                rows += [Row("same", a, b) for a, b in run[:context]]
                rows.append(Row("gap", f"… {len(run) - 2 * context} lines unchanged", ""))
                rows += [Row("same", a, b) for a, b in run[-context:]]
            else:
                rows += [Row("same", a, b) for a, b in run]
        elif tag == "replace":
            a, b = old[i1:i2], new[j1:j2]
            for k in range(max(len(a), len(b))):
                rows.append(Row("changed" if k < len(a) and k < len(b) else "removed" if k < len(a) else "added",
                                a[k] if k < len(a) else "", b[k] if k < len(b) else ""))
        elif tag == "delete":
            rows += [Row("removed", a, "") for a in old[i1:i2]]
        else:
            rows += [Row("added", "", b) for b in new[j1:j2]]
    return rows


def version_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The diff between two versions (``store.webqueries.versions`` records), as page data."""
    def rows(x: list[str], y: list[str]) -> list[dict[str, str]]:
        return [{"kind": r.kind, "old": r.old, "new": r.new} for r in side_by_side(x, y)]

    return {"old": {k: a[k] for k in ("version", "fetched_at", "content_sha256", "title")},
            "new": {k: b[k] for k in ("version", "fetched_at", "content_sha256", "title")},
            "title_changed": (a["title"] or "") != (b["title"] or ""),
            "title": rows([a["title"] or ""], [b["title"] or ""]),
            "text": rows(wrapped(a["text"]), wrapped(b["text"]))}
