"""How listing commands print: a table (rich), JSON lines, or CSV.

Tables are fitted to the terminal's width when the output is a terminal (long columns are folded or
cut with an ellipsis, never wrapped across the screen); piped, they keep every character, so ``grep``
and ``less -S`` see whole URLs. Every time stamp in a table has one format, UTC: ``2026-03-02 08:15``.
JSON lines and CSV carry the full ISO 8601 values.
"""

from __future__ import annotations

import csv
import json
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
    from rich import box
    from rich.console import Console
    from rich.table import Table

    interactive = stream.isatty()
    columns = list(rows[0])
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    longest = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    natural = sum(n + 3 for n in longest) + 2
    if interactive:
        console = Console(file=stream, highlight=False, soft_wrap=False)
    else:  # piped: the table's natural width, nothing cut
        console = Console(file=stream, width=max(natural, 40), color_system=None, highlight=False)
    # On a narrow terminal the wide columns (titles, URLs, errors) share what the others leave, cut
    # with "…"; the short ones (ids, dates, counts) keep their width.
    narrow = sum(n + 3 for c, n in zip(columns, longest, strict=True) if c not in wide) + 2
    n_wide = sum(c in wide for c in columns)
    share = max(12, (console.width - narrow) // n_wide - 3) if n_wide else 0
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold" if interactive else "")
    for i, c in enumerate(columns):
        numeric = all(row[i].replace(".", "", 1).isdigit() or row[i] in ("", "-") for row in cells)
        if c in wide:
            table.add_column(c, overflow="ellipsis", no_wrap=True, max_width=share if natural > console.width else None)
        else:
            table.add_column(c, justify="right" if numeric else "left", no_wrap=True, min_width=longest[i])
    for row in cells:
        table.add_row(*row)
    with console.capture() as captured:
        console.print(table)
    for line in captured.get().splitlines():
        click.echo(line.rstrip(), file=stream)


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
