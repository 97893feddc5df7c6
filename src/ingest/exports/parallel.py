"""JSON lines, CSV and Parquet exports made on every core: worker processes read and render chunks of articles,
the calling process writes them in order.

Why: an export is CPU-bound in Python (reading the rows, building the record, encoding it: ~50-100 µs
an article on one core); the database is not the limit. Each worker opens its own read connection to
the archive and returns a chunk's finished bytes (JSON lines, CSV) or Arrow table (Parquet: this
process infers the schema from the first row group and writes the file); at most ``2 × workers``
chunks (Parquet: ``workers`` tables) are in flight, which keeps memory flat at any archive size. The
output is the serial writers' (``exports/records.py``, ``exports/parquet.py``; tests compare them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from multiprocessing import get_context
from typing import Any, TextIO

CHUNK = 2000
MIN_PARALLEL = 20_000  # below this, starting the workers costs more than it saves

_ENGINE: Any = None
_FIELDS: tuple[str, ...] = ()


def init_worker(url: str, fields: tuple[str, ...]) -> None:
    global _ENGINE, _FIELDS
    from ingest.store.directreads import open_direct

    _ENGINE = open_direct(url)
    if _ENGINE is None:
        from ingest.store.db import open_engine

        _ENGINE = open_engine(url)
    _FIELDS = fields


def worker_engine() -> Any:
    """The archive a worker process opened (:func:`init_worker`)."""
    return _ENGINE


def render_bytes(records: list[dict[str, Any]], fmt: str, fields: Sequence[str]) -> bytes:
    """The lines of ``records`` in ``fmt`` (no CSV header), as UTF-8: what crosses from a worker (orjson
    makes bytes; decoding them here to encode them again in the writer cost ~10 % of an export)."""
    if fmt == "jsonl":
        import orjson

        # OPT_UTC_Z: an aware UTC datetime as query.iso writes it ("…T12:00:00Z", microseconds when
        # there are any), for records read with times=True
        dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z
        if records and tuple(records[0]) == tuple(fields):  # the records are the lines' dicts already
            return b"".join([dumps(rec, option=option) for rec in records])
        return b"".join([dumps({k: rec.get(k) for k in fields}, option=option) for rec in records])
    from ingest.exports.records import csv_row

    if records and tuple(records[0]) == tuple(fields):
        return "".join([csv_row(list(rec.values())) for rec in records]).encode()
    return "".join([csv_row([rec.get(k) for k in fields]) for rec in records]).encode()


def _chunk(args: tuple[list[int], str]) -> tuple[int, bytes]:
    from ingest.store.query import article_records

    ids, fmt = args
    with _ENGINE.connect() as s:
        records = article_records(s, ids, export_only=True, times=fmt == "jsonl")
    return len(records), render_bytes(records, fmt, _FIELDS)


def url_of(engine: Any) -> str:
    url = engine.url
    return url if isinstance(url, str) else url.render_as_string(hide_password=False)


def write_parallel(engine: Any, ids: Sequence[int], stream: TextIO, fmt: str, fields: Sequence[str],
                   workers: int | None = None) -> int:
    """Write the records of ``ids`` to ``stream`` in ``fmt`` ("jsonl" or "csv", with its header);
    returns the number written."""
    if fmt == "csv":
        from ingest.exports.records import csv_row

        stream.write(csv_row(fields))
    binary = getattr(stream, "buffer", None)  # a text file or stdout: its bytes underneath
    if binary is not None:
        stream.flush()
    n = 0
    for count, data in _chunks(url_of(engine), ids, fmt, tuple(fields), workers or min(2, os.cpu_count() or 1)):
        if binary is not None:
            binary.write(data)
        else:
            stream.write(data.decode())
        n += count
    if binary is not None:
        binary.flush()
    return n


def _chunks(url: str, ids: Sequence[int], fmt: str, fields: tuple[str, ...], workers: int) -> Iterator[tuple[int, bytes]]:
    jobs = [(list(ids[i:i + CHUNK]), fmt) for i in range(0, len(ids), CHUNK)]
    ahead = 2 * workers
    # forkserver: a clean process that imports only what a chunk needs (fork would copy the caller's
    # threads and connections)
    with get_context("forkserver").Pool(workers, initializer=init_worker, initargs=(url, fields)) as pool:
        pending = [pool.apply_async(_chunk, (job,)) for job in jobs[:ahead]]
        for k in range(len(jobs)):
            result = pending.pop(0).get()
            if k + ahead < len(jobs):
                pending.append(pool.apply_async(_chunk, (jobs[k + ahead],)))
            yield result
