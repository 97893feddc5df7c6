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


def test_orjson_writes_timestamps_as_the_records_do() -> None:
    """The JSON lines workers read timestamps as datetimes and let orjson write them (OPT_UTC_Z): the
    text must be query.iso's, to the microsecond, at the ends of the range and without a zone."""
    from datetime import UTC, datetime, timedelta, timezone

    import orjson

    from ingest.store.query import iso

    rng = random.Random(3)
    values = [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
              datetime(2024, 2, 29, 12, 0, tzinfo=UTC), datetime(2024, 1, 1),
              datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30)))]
    values += [datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10 ** 15))
               for _ in range(500)]
    for value in values:
        assert orjson.dumps(value, option=orjson.OPT_UTC_Z).decode() == f'"{iso(value)}"', value
