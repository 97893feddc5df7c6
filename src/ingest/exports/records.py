"""The export records of a selection of articles, streamed in chunks, and the flat writers (JSON lines,
CSV) that put them in a file as they are.

The record is ``store.query.article_records``' (its ``EXPORT_FIELDS``): every format writes the same
fields, so a field added there reaches JSON lines, CSV and Parquet (``exports/parquet.py``) alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, TextIO

CHUNK = 2000  # articles read per round trip: memory stays flat at any archive size


def export_fields() -> tuple[str, ...]:
    """The fields of an export record, read at call time (``query.py`` owns them)."""
    from ingest.store.query import EXPORT_FIELDS

    return tuple(EXPORT_FIELDS)


def _connection(engine: Any, all_versions: bool) -> AbstractContextManager[Any]:
    if all_versions:  # the versions are read through the ORM: a SQLAlchemy engine is needed
        from ingest.store.db import read_session

        return read_session(engine)
    return engine.connect()


def export_records(engine: Any, ids: Sequence[int], *, all_versions: bool = False, tag_detail: bool = False,
                   chunk: int = CHUNK) -> Iterator[dict[str, Any]]:
    """The export records of ``ids`` in their order, ``chunk`` articles per read. ``all_versions``: one
    record per version (oldest first); ``tag_detail``: ``tags`` as ``{tag, origin, label, score}``
    dicts instead of names (``store/exportreads.py``). ``engine``: a SQLAlchemy engine, or the read
    commands' SQLite reader (``connect()``) when ``all_versions`` is off."""
    from ingest.store.query import article_records

    for i in range(0, len(ids), chunk):
        with _connection(engine, all_versions) as s:
            records = article_records(s, ids[i:i + chunk])
            if all_versions:
                from ingest.store.revisions import version_records

                records = version_records(s, records)
            if tag_detail:
                from ingest.store.exportreads import tag_details

                details = tag_details(s, sorted({r["id"] for r in records}))
                for r in records:
                    r["tags"] = details.get(r["id"], [])
        yield from records


# one encoder: json.dumps(value, ensure_ascii=False) builds a new JSONEncoder on every call (~3 µs a
# list, five lists a record); a list of strings (authors, tags, feed URLs) is joined from the
# encoder's own C string escaper, the same text in 0.3 µs
_JSON = json.JSONEncoder(ensure_ascii=False).encode
_STRING = json.encoder.encode_basestring


def _json_text(value: list[Any] | dict[str, Any]) -> str:
    if not value:
        return "[]" if isinstance(value, list) else "{}"
    if isinstance(value, list) and all(type(x) is str for x in value):
        return "[" + ", ".join(map(_STRING, value)) + "]"
    return _JSON(value)


def csv_row(values: Sequence[Any]) -> str:
    """One CSV line (``\r\n``) exactly as ``csv.writer``'s default dialect writes it (QUOTE_MINIMAL):
    None empty, a field with a comma, quote or line break quoted with its quotes doubled, lists and
    objects as JSON. Hand-written because the csv module's writer copies a field character by
    character: ~70 µs for a 3 kB article's text, against ~3 µs for these string methods (a test
    compares the two on every kind of value)."""
    cells = []
    for value in values:
        if value is None:
            cells.append("")
            continue
        if isinstance(value, list | dict):
            text = _json_text(value)
        elif isinstance(value, str):
            text = value
        elif isinstance(value, float):
            text = repr(value)
        else:
            text = str(value)
        if "," in text or '"' in text or "\n" in text or "\r" in text:  # (no generator: 27 cells a row)
            text = '"' + text.replace('"', '""') + '"'
        cells.append(text)
    if len(cells) == 1 and cells[0] == "":
        cells[0] = '""'  # csv.writer quotes a row's only field when it is empty
    return ",".join(cells) + "\r\n"


def write_jsonl(records: Iterable[dict[str, Any]], stream: TextIO, fields: Sequence[str] | None = None) -> int:
    """One JSON object per line (UTF-8, not ASCII-escaped); returns the number written. orjson: the
    standard library's encoder was a third of an export's time (~30 µs for a 3 kB article, orjson ~3)."""
    import orjson

    fields = fields or export_fields()
    n = 0
    lines: list[str] = []
    for rec in records:
        lines.append(orjson.dumps({k: rec.get(k) for k in fields}, option=orjson.OPT_APPEND_NEWLINE).decode())
        n += 1
        if len(lines) >= 1000:
            stream.write("".join(lines))
            lines.clear()
    stream.write("".join(lines))
    return n


def write_csv(records: Iterable[dict[str, Any]], stream: TextIO, fields: Sequence[str] | None = None) -> int:
    """CSV with a header row; lists and objects as JSON. Returns the number of records written."""
    fields = fields or export_fields()
    stream.write(csv_row(fields))
    n = 0
    lines: list[str] = []
    for rec in records:
        lines.append(csv_row([rec.get(k) for k in fields]))
        n += 1
        if len(lines) >= 1000:
            stream.write("".join(lines))
            lines.clear()
    stream.write("".join(lines))
    return n
