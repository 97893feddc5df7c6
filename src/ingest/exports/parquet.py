"""Export records -> a Parquet file (pyarrow), typed, streamed in row groups.

The schema is derived from the export record itself (``store.query.article_records``), not kept as a
second list of fields, so a field added to the record reaches the Parquet file without an edit here:

- a field named as a timestamp column (``store/columns.py`` ``UTC_COLUMNS``, or ending in ``_at`` or
  ``_since``) holding ISO 8601 strings is ``timestamp[us, tz=UTC]``; a date-only value (``2024-01-30``)
  is that day's midnight UTC (the record's precision field, when it has one, says which it was);
- lists are typed lists (``feed_urls``: ``list<string>``), objects are structs (their keys in order of
  first appearance), integers ``int64``, numbers ``double``, text ``string``;
- ``tags`` come as ``{tag, origin, label, score}`` objects (``exports.records``, ``tag_detail=True``),
  so they are a ``list<struct<...>>``.

Types are inferred from the first row group's values (pure: :func:`infer_schema`). Where those say
nothing (a field null, or every list empty, in the whole first row group) the shapes known in code
(:data:`KNOWN_TYPES`) fill in, else ``string``. A later value that does not fit its column is never
dropped silently: text columns take it as JSON, and anything else that cannot be converted is written
null and counted in :attr:`ParquetResult.unconverted` (the CLI reports it).

Memory: one row group is held at a time (``row_group_rows`` records or ``row_group_bytes`` of text,
whichever comes first), so it stays flat at a million rows (``bench/parquet_export.py`` measures it).
The file is written beside its destination and renamed into place when complete: an interrupted export
leaves no half file under the name asked for.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ingest.store.columns import UTC_COLUMNS

TIMESTAMP = pa.timestamp("us", tz="UTC")
ROW_GROUP_ROWS = 10_000
ROW_GROUP_BYTES = 64 * 1024 * 1024  # text held before a row group is written
COMPRESSION = "zstd"
MIN_PARALLEL = 20_000  # as exports/parallel.py's: below it, starting the workers costs more than it saves

_TAG = pa.struct([("tag", pa.string()), ("origin", pa.string()), ("label", pa.string()), ("score", pa.float64())])
_EVENT = pa.struct([("kind", pa.string()), ("at", TIMESTAMP), ("http_status", pa.int64()), ("url", pa.string()),
                    ("fetch_id", pa.int64())])
# Shapes known in code, used only where the first row group's values say nothing (a null column, lists
# that are all empty): the values themselves decide everything else.
KNOWN_TYPES: dict[str, pa.DataType] = {
    "id": pa.int64(), "version": pa.int64(), "gone_status": pa.int64(),
    "feed_urls": pa.list_(pa.string()), "tags": pa.list_(_TAG), "events": pa.list_(_EVENT),
}
_TIME_NAMES = frozenset(UTC_COLUMNS)


def is_time_name(name: str) -> bool:
    return name in _TIME_NAMES or name.endswith(("_at", "_since"))


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 date-time (naive = UTC) or date as an aware UTC datetime; None when it is neither."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- the schema (pure) ----------------------------------------------------------------------------

def infer_type(name: str, values: Iterable[Any]) -> pa.DataType:
    """The Arrow type of one field's values; ``pa.null()`` where they say nothing (all null, or lists
    that are all empty: then ``list<null>``). ``name`` decides timestamps, for list items and struct
    fields too (``events[].at``)."""
    present = [v for v in values if v is not None]
    if not present:
        return pa.null()
    if all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.float64()
    if all(isinstance(v, datetime | date) for v in present):
        return TIMESTAMP
    if all(isinstance(v, str) for v in present):
        if is_time_name(name) and all(parse_time(v) is not None for v in present):
            return TIMESTAMP
        return pa.string()
    if all(isinstance(v, list | tuple) for v in present):
        return pa.list_(infer_type(name, [x for v in present for x in v]))
    if all(isinstance(v, Mapping) for v in present):
        keys: dict[str, None] = {}
        for v in present:
            keys.update(dict.fromkeys(str(k) for k in v))
        return pa.struct([(k, infer_type(k, [v.get(k) for v in present])) for k in keys])
    return pa.string()  # mixed kinds: kept as JSON text


def complete_type(name: str, inferred: pa.DataType, known: pa.DataType | None) -> pa.DataType:
    """``inferred`` with what it left open (``null``) taken from ``known``, else a timestamp for a
    timestamp's name, else ``string``."""
    if pa.types.is_null(inferred):
        return known if known is not None else TIMESTAMP if is_time_name(name) else pa.string()
    if pa.types.is_list(inferred):
        known_item = known.value_type if known is not None and pa.types.is_list(known) else None
        return pa.list_(complete_type(name, inferred.value_type, known_item))
    if pa.types.is_struct(inferred):
        known_fields = {f.name: f.type for f in known} if known is not None and pa.types.is_struct(known) else {}
        fields = [(f.name, complete_type(f.name, f.type, known_fields.get(f.name))) for f in inferred]
        names = {f.name for f in inferred}
        fields += [(n, t) for n, t in known_fields.items() if n not in names]  # keys known but not seen yet
        return pa.struct(fields)
    return inferred


def infer_schema(records: Sequence[Mapping[str, Any]], fields: Sequence[str],
                 known: Mapping[str, pa.DataType] = KNOWN_TYPES) -> pa.Schema:
    """The schema of ``fields`` (in that order) from sample ``records``."""
    return pa.schema([(f, complete_type(f, infer_type(f, [r.get(f) for r in records]), known.get(f)))
                      for f in fields])


# --- values -> columns (pure) ---------------------------------------------------------------------

class _Unconverted(Exception):
    pass


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def converter(t: pa.DataType) -> Callable[[Any], Any]:
    """A function taking one value to what ``pa.array(..., type=t)`` accepts; :class:`_Unconverted`
    when it cannot be (the caller writes null and counts it)."""
    if pa.types.is_timestamp(t):
        def to_time(v: Any) -> Any:
            parsed = parse_time(v)
            if parsed is None:
                raise _Unconverted
            return parsed
        return to_time
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _json_text
    if pa.types.is_integer(t):
        def to_int(v: Any) -> int:
            if isinstance(v, int):
                return int(v)
            if isinstance(v, float) and v.is_integer():
                return int(v)
            if isinstance(v, str) and v.strip().lstrip("-").isdigit():
                return int(v)
            raise _Unconverted
        return to_int
    if pa.types.is_floating(t):
        def to_float(v: Any) -> float:
            try:
                return float(v)
            except (TypeError, ValueError):
                raise _Unconverted from None
        return to_float
    if pa.types.is_boolean(t):
        def to_bool(v: Any) -> bool:
            if isinstance(v, bool):
                return v
            raise _Unconverted
        return to_bool
    if pa.types.is_list(t):
        item = _nullable(converter(t.value_type), None)

        def to_list(v: Any) -> list[Any]:
            return [item(x) for x in (v if isinstance(v, list | tuple) else [v])]
        return to_list
    if pa.types.is_struct(t):
        parts = [(f.name, _nullable(converter(f.type), None)) for f in t]

        def to_struct(v: Any) -> dict[str, Any]:
            if not isinstance(v, Mapping):
                raise _Unconverted
            return {name: conv(v.get(name)) for name, conv in parts}
        return to_struct
    return lambda v: v


def _nullable(conv: Callable[[Any], Any], counter: Counter[str] | None, name: str = "") -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        if v is None:
            return None
        try:
            return conv(v)
        except _Unconverted:
            if counter is not None:
                counter[name] += 1
            return None
    return convert


def to_table(records: Sequence[Mapping[str, Any]], schema: pa.Schema, unconverted: Counter[str]) -> pa.Table:
    """The records as a table of ``schema``; values that do not fit are null and counted by field (a
    nested one counts once, on its top-level field)."""
    arrays = [column([r.get(f.name) for r in records], f.type, unconverted, f.name) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _leaves(t: pa.DataType) -> Iterator[pa.DataType]:
    if pa.types.is_list(t):
        yield from _leaves(t.value_type)
    elif pa.types.is_struct(t):
        for f in t:
            yield from _leaves(f.type)
    else:
        yield t


# Arrow's own conversion of Python values, where it is exact: ~10x faster than converting each value in
# Python. Not for integers (Arrow truncates 2.5 to 2 without a word) nor timestamps (strings) nested in
# lists or structs: those take the converter.
# (the exact Python types each takes: ``type(v)``, so a bool is not an int here)
_NONE = type(None)
_PLAIN: dict[str, frozenset[type]] = {
    "string": frozenset({str, _NONE}), "int64": frozenset({int, _NONE}),
    "double": frozenset({float, int, _NONE}), "bool": frozenset({bool, _NONE}),
}
_TEXT = frozenset({str, _NONE})


def column(values: list[Any], t: pa.DataType, unconverted: Counter[str], name: str) -> pa.Array:
    """One column of type ``t`` (see :func:`to_table`)."""
    fits = _PLAIN.get(str(t))
    kinds = set(map(type, values))  # one pass in C, where a check per value was a third of the time
    if fits is not None and kinds <= fits:
        return pa.array(values, type=t)
    if pa.types.is_timestamp(t) and kinds <= _TEXT:
        with contextlib.suppress(pa.ArrowInvalid):  # ISO with an offset or Z; anything else below
            return pa.array(values, type=pa.string()).cast(t)
    if (pa.types.is_list(t) or pa.types.is_struct(t)) and not any(
            pa.types.is_integer(x) or pa.types.is_timestamp(x) for x in _leaves(t)):
        with contextlib.suppress(pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            return pa.array(values, type=t)
    conv = _nullable(converter(t), unconverted, name)
    return pa.array([conv(v) for v in values], type=t)


def _text_bytes(record: Mapping[str, Any]) -> int:
    return sum(len(v) for v in record.values() if isinstance(v, str))


# --- the file -------------------------------------------------------------------------------------

@dataclass
class ParquetResult:
    path: str
    rows: int = 0
    row_groups: int = 0
    schema: pa.Schema | None = None
    unconverted: Counter[str] = field(default_factory=Counter)  # field -> values written null

    def problems(self) -> list[str]:
        return [f"{n} value{'s' * (n > 1)} of {name} did not fit its column ({self.schema.field(name).type}) "
                "and were written null" for name, n in sorted(self.unconverted.items())] if self.schema else []


def write_parquet(records: Iterable[Mapping[str, Any]], path: str | os.PathLike[str], fields: Sequence[str], *,
                  known: Mapping[str, pa.DataType] = KNOWN_TYPES, row_group_rows: int = ROW_GROUP_ROWS,
                  row_group_bytes: int = ROW_GROUP_BYTES, compression: str = COMPRESSION,
                  metadata: Mapping[str, str] | None = None,
                  then: Callable[[pa.Schema], Iterable[tuple[pa.Table, Counter[str]]]] | None = None) -> ParquetResult:
    """Write ``records`` (their ``fields``) to ``path``, one row group at a time; the schema comes from
    the first row group (:func:`infer_schema`). ``metadata`` is kept in the file's key-value metadata.
    ``then``: given the schema, the tables that follow the records, each a row group, with the values
    its making wrote null (the parallel export's workers make them: ``exports/parallel.py``)."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    result = ParquetResult(path=str(target))
    writer: pq.ParquetWriter | None = None
    buffer: list[Mapping[str, Any]] = []
    held = 0

    def flush() -> None:
        nonlocal writer, held
        if writer is None:
            schema = infer_schema(buffer, fields, known)
            if metadata:
                schema = schema.with_metadata({k.encode(): v.encode() for k, v in metadata.items()})
            result.schema = schema
            writer = pq.ParquetWriter(partial, schema, compression=compression)
        if buffer:
            writer.write_table(to_table(buffer, writer.schema, result.unconverted), row_group_size=len(buffer))
            result.rows += len(buffer)
            result.row_groups += 1
        buffer.clear()
        held = 0

    try:
        for rec in records:
            buffer.append(rec)
            held += _text_bytes(rec)
            if len(buffer) >= row_group_rows or held >= row_group_bytes:
                flush()
        flush()  # the last row group; with no records at all, a file of the schema and no rows
        assert writer is not None
        for table, unconverted in then(writer.schema) if then is not None else ():
            writer.write_table(table, row_group_size=max(1, table.num_rows))
            result.rows += table.num_rows
            result.row_groups += 1
            result.unconverted.update(unconverted)
        writer.close()
        writer = None
        os.replace(partial, target)
    finally:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
    return result


def export_metadata(fields: Sequence[str]) -> dict[str, str]:
    """What the file says about itself (``ingest`` key): the writer, its version, the record's fields."""
    from ingest import __version__

    return {"ingest": json.dumps({"format": "ingest export", "ingest_version": __version__, "fields": list(fields),
                                  "timestamps": "UTC; a date-only value is that day's midnight"})}


def export_parquet(engine: Any, ids: Sequence[int], path: str | os.PathLike[str], *, all_versions: bool = False,
                   **options: Any) -> ParquetResult:
    """The articles ``ids`` (``store.query.export_ids``) of an archive as a Parquet file, tags in full.
    From ``MIN_PARALLEL`` articles on, worker processes make the row groups after the first (the same
    table as one process makes: a test compares them)."""
    from ingest.exports.records import export_fields, export_records

    fields = export_fields()
    if len(ids) >= MIN_PARALLEL and not all_versions and not options:
        first = ids[:ROW_GROUP_ROWS]  # this process: the first row group, which the schema comes from
        return write_parquet(export_records(engine, first, tag_detail=True), path, fields,
                             metadata=export_metadata(fields),
                             then=lambda schema: parquet_tables(engine, ids[len(first):], schema))
    return write_parquet(export_records(engine, ids, all_versions=all_versions, tag_detail=True), path, fields,
                         metadata=export_metadata(fields), **options)


# --- the parallel export: row groups made by worker processes (exports/parallel.py's pool) ----------

PARQUET_ROWS = 5000  # articles per row group made by a worker (~20 MB of text)


def _parquet_chunk(args: tuple[list[int], pa.Schema]) -> tuple[pa.Table, Counter[str]]:
    from ingest.exports import parallel
    from ingest.exports.records import export_records

    ids, schema = args
    unconverted: Counter[str] = Counter()
    return to_table(list(export_records(parallel.worker_engine(), ids, tag_detail=True)), schema,
                    unconverted), unconverted


def parquet_tables(engine: Any, ids: Sequence[int], schema: pa.Schema, workers: int | None = None,
                   rows: int | None = None) -> Iterator[tuple[pa.Table, Counter[str]]]:
    """The Arrow tables of ``ids`` in ``schema``, ``rows`` articles each, in order, made by worker
    processes (pickled tables are Arrow's IPC buffers: cheap to pass), with each one's unconverted
    counts."""
    from multiprocessing import get_context

    from ingest.exports import parallel

    n = workers or min(2, os.cpu_count() or 1)
    rows = rows or PARQUET_ROWS
    jobs = [(list(ids[i:i + rows]), schema) for i in range(0, len(ids), rows)]
    with get_context("forkserver").Pool(n, initializer=parallel.init_worker,
                                        initargs=(parallel.url_of(engine), ())) as pool:
        pending = [pool.apply_async(_parquet_chunk, (job,)) for job in jobs[:n]]  # a table each in flight
        for k in range(len(jobs)):
            result = pending.pop(0).get()
            if k + n < len(jobs):
                pending.append(pool.apply_async(_parquet_chunk, (jobs[k + n],)))
            yield result
