"""How listing commands print: a table (rich), JSON lines, or CSV.

Tables are fitted to the terminal's width when the output is a terminal (long columns are folded or
cut with an ellipsis, never wrapped across the screen); piped, they keep every character, so ``grep``
and ``less -S`` see whole URLs. Every time stamp in a table has one format, UTC: ``2026-03-02 08:15``.
JSON lines and CSV carry the full ISO 8601 values.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import click


def when(iso: str | None, *, seconds: bool = False) -> str:
    """An ISO time stamp as tables show it: ``2026-03-02 08:15`` (UTC), or ``-``."""
    if not iso:
        return "-"
    text = iso.replace("T", " ").removesuffix("Z").split("+", 1)[0]
    return text[:19] if seconds else text[:16]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def print_table(rows: Sequence[dict[str, Any]], *, empty: str = "(nothing)", wide: Sequence[str] = (),
                out: TextIO | None = None) -> None:
    """Rows of one shape as a table; ``wide``: the columns that give way first on a narrow terminal."""
    stream = out or sys.stdout
    if not rows:
        click.echo(empty, file=stream)
        return
    # Laid out here rather than by rich's Table: rich took 2.8 s to draw the 1,000 rows of `ingest
    # sources` (its per-cell render pipeline), this takes milliseconds; the layout is the one rich's
    # SIMPLE_HEAD box drew (3 spaces between columns, a rule under the header), with rich's cell widths.
    from rich.cells import cell_len as wide_len
    from rich.cells import set_cell_size

    def cell_len(text: str) -> int:  # ASCII (most cells) is one column per character
        return len(text) if text.isascii() else wide_len(text)

    interactive = stream.isatty()
    columns = list(rows[0])
    cells = [[_cell(r.get(c)).replace("\n", " ") for c in columns] for r in rows]
    sizes = [[cell_len(c) for c in row] for row in cells]  # once per cell: a table is 10,000s of them
    longest = [max(cell_len(c), *(row[i] for row in sizes)) for i, c in enumerate(columns)]
    natural = sum(n + 3 for n in longest) - 3
    width = natural
    if interactive:
        # On a narrow terminal the wide columns (titles, URLs, errors) share what the others leave, cut
        # with "…"; the short ones (ids, dates, counts) keep their width.
        screen = shutil.get_terminal_size((100, 24)).columns
        n_wide = sum(c in wide for c in columns)
        if natural > screen and n_wide:
            narrow = sum(n + 3 for c, n in zip(columns, longest, strict=True) if c not in wide)
            share = max(12, (screen - narrow) // n_wide - 3)
            longest = [min(n, share) if c in wide else n for c, n in zip(columns, longest, strict=True)]
            width = sum(n + 3 for n in longest) - 3
    right = [all(row[i].replace(".", "", 1).isdigit() or row[i] in ("", "-") for row in cells)
             and columns[i] not in wide for i in range(len(columns))]

    def line(values: Sequence[str], lengths: Sequence[int]) -> str:
        out = []
        for value, size, n, r in zip(values, lengths, longest, right, strict=True):
            if size > n:
                value = set_cell_size(value, n - 1) + "…"
                size = n
            pad = " " * (n - size)
            out.append(pad + value if r else value + pad)
        return "   ".join(out).rstrip()

    header = line(columns, [cell_len(c) for c in columns])
    click.echo(click.style(header, bold=True) if interactive else header, file=stream)
    click.echo("─" * width, file=stream)
    # one write: an echo per row was a tenth of `ingest sources` at 1,000 sources
    click.echo("\n".join(line(row, size) for row, size in zip(cells, sizes, strict=True)), file=stream)


def print_csv(rows: Sequence[dict[str, Any]], out: TextIO | None = None) -> None:
    """Rows as CSV with a header (lists and objects as JSON), UTF-8."""
    stream = out or sys.stdout
    if not rows:
        return
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(list(rows[0]))
    for r in rows:
        writer.writerow([_cell(v) for v in r.values()])


def print_json_lines(rows: Sequence[dict[str, Any]], out: TextIO | None = None) -> None:
    for r in rows:
        click.echo(json.dumps(r, ensure_ascii=False, default=str), file=out)


def emit(rows: Sequence[dict[str, Any]], *, as_json: bool, as_csv: bool) -> bool:
    """Print ``rows`` as JSON lines or CSV when asked; False when the caller prints its table."""
    if as_json and as_csv:
        raise click.UsageError("--json and --csv: choose one")
    if as_json:
        print_json_lines(rows)
    elif as_csv:
        print_csv(rows)
    return as_json or as_csv
