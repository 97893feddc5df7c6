"""Exports of the archive to the field's file formats: the export records streamed
(:mod:`ingest.exports.records`, with JSON lines and CSV) and Parquet (:mod:`ingest.exports.parquet`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest._lazy import lazy_exports

if TYPE_CHECKING:
    from ingest.exports.parquet import ParquetResult, export_parquet, infer_schema, write_parquet
    from ingest.exports.records import export_records, write_csv, write_jsonl

_PUBLIC = {
    "ParquetResult": "parquet",
    "export_parquet": "parquet",
    "infer_schema": "parquet",
    "write_parquet": "parquet",
    "export_records": "records",
    "write_csv": "records",
    "write_jsonl": "records",
}
__all__ = ["ParquetResult", "export_parquet", "export_records", "infer_schema", "write_csv", "write_jsonl",
           "write_parquet"]
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
