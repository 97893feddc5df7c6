"""The parallel JSON lines and CSV export (exports/parallel.py, issue 13) writes byte for byte what the
serial writers write, in the same order, on both back-ends."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
from test_search_engine import _small

from ingest.exports import parallel
from ingest.exports.records import csv_row, export_records, write_csv, write_jsonl
from ingest.store.query import EXPORT_FIELDS


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_parallel_export_is_the_serial_export(database_url: str, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, ids = _small(database_url)
    order = sorted(ids.values())
    serial = io.StringIO()
    (write_csv if fmt == "csv" else write_jsonl)(export_records(engine, order), serial, EXPORT_FIELDS)
    monkeypatch.setattr(parallel, "CHUNK", 2)  # several chunks, from two workers, back in order
    made = io.StringIO()
    assert parallel.write_parallel(engine, order, made, fmt, EXPORT_FIELDS, workers=2) == len(order)
    assert made.getvalue() == serial.getvalue() and len(serial.getvalue()) > 100
    engine.dispose()


def test_parallel_export_to_a_file_writes_its_bytes(tmp_path: Path) -> None:
    engine, ids = _small(f"sqlite:///{tmp_path / 'a.db'}")
    order = sorted(ids.values())
    serial = io.StringIO()
    write_jsonl(export_records(engine, order), serial, EXPORT_FIELDS)
    target = tmp_path / "out.jsonl"
    with open(target, "w", encoding="utf-8", newline="") as stream:  # what `ingest export --out` opens
        stream.write("")
        assert parallel.write_parallel(engine, order, stream, "jsonl", EXPORT_FIELDS, workers=2) == len(order)
    assert target.read_text(encoding="utf-8") == serial.getvalue()
    engine.dispose()


def test_csv_rows_are_the_csv_modules() -> None:
    """exports/records.csv_row against csv.writer (the default dialect) on every kind of value."""
    rng = random.Random(7)
    alphabet = ['a', 'Ж', '津', ',', '"', '\r', '\n', ' ', "'", '\t', ';', '\\']
    rows: list[list[Any]] = [[None], [""], ["", ""], [None, None], [1, 2.5, True, 0.1 + 0.2], [["a", "Б"], {"k": 1}],
                             ['say "hi"', "a,b", "line\nbreak", "cr\rlf", "  padded  "], [[]], [{}]]
    for _ in range(500):
        rows.append(["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 8)))
                     for _ in range(rng.randrange(1, 5))])
    for row in rows:
        out = io.StringIO()
        csv.writer(out).writerow([json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v for v in row])
        assert csv_row(row) == out.getvalue(), row
