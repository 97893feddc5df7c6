"""The parallel JSON lines and CSV export (exports/parallel.py, issue 13) writes byte for byte what the
serial writers write, in the same order, on both back-ends."""

from __future__ import annotations

import io

import pytest
from test_search_engine import _small

from ingest.exports import parallel
from ingest.exports.records import export_records, write_csv, write_jsonl
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
