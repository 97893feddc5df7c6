"""WARC in: the HTML ``response`` records of a site, read as a stream (warcio) from any WARC: CC-NEWS
files, wget ``--warc-file``, Browsertrix crawls, ingest's own export. Record by record, the payload of
each kept record alone in memory (at most ``max_bytes``), never the file."""

from __future__ import annotations

import glob
import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from ingest.errors import UsageError
from ingest.interop.captures import Capture, is_html

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")


class WarcFormatError(Exception):
    """The bytes are not (or stop being) a WARC file."""


def warc_files(spec: str) -> list[str]:
    """The files ``spec`` names: one file, a glob (``crawl/*.warc.gz``, ``**`` allowed) or a directory
    (every WARC file under it), sorted; none is a usage error."""
    path = Path(spec).expanduser()
    if path.is_dir():
        found = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.name.endswith(WARC_SUFFIXES))
    elif path.is_file():
        found = [str(path)]
    else:
        found = sorted(p for p in glob.glob(os.path.expanduser(spec), recursive=True) if os.path.isfile(p))
    if not found:
        raise UsageError(f"warc:{spec}: no WARC file there (a file, a glob or a directory)")
    return [os.path.abspath(p) for p in found]


def parse_warc_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _status(statusline: str) -> int | None:
    head = (statusline or "").split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def read_warc(stream: BinaryIO, name: str, *, keep_url: Callable[[str], bool], since: datetime | None = None,
              until: datetime | None = None, max_bytes: int = 10_000_000,
              counts: Counter[str] | None = None) -> Iterator[Capture]:
    """The HTML 2xx ``response`` records of ``stream`` whose target URI ``keep_url`` accepts and whose
    WARC-Date is in ``[since, until)``. ``counts`` (if given) counts every record by what became of it:
    ``records`` (all), ``kept``, ``other_site``, ``out_of_range``, ``not_html``, ``not_response``,
    ``status`` (not 2xx), ``too_large``, ``no_date``. Raises :class:`WarcFormatError` for bytes that are
    not WARC (and lets a broken stream's error through)."""
    tally: Counter[str] = counts if counts is not None else Counter()
    arc = name.endswith((".arc", ".arc.gz"))  # ARC files (the Internet Archive's older format) read as WARC
    it = ArchiveIterator(stream, arc2warc=arc)
    try:
        for record in it:
            tally["records"] += 1
            if not arc and record.format != "warc":
                # warcio reads any line of text as an ARC header: bytes that are not WARC are refused here
                raise WarcFormatError(f"{name}: not a WARC file (record {tally['records']} is no WARC record)")
            if record.rec_type != "response":
                tally["not_response"] += 1
                continue
            url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
            if not url or not keep_url(url):
                tally["other_site"] += 1
                continue
            date = parse_warc_date(record.rec_headers.get_header("WARC-Date"))
            if date is None:
                tally["no_date"] += 1
                continue
            if (since is not None and date < since) or (until is not None and date >= until):
                tally["out_of_range"] += 1
                continue
            http = record.http_headers
            status = _status(http.get_statuscode() if http is not None else "")
            if status is None or not 200 <= status < 300 or status in (204, 206):
                tally["status"] += 1
                continue
            headers = {k.lower(): v for k, v in http.headers}
            if not is_html(headers.get("content-type")):
                tally["not_html"] += 1
                continue
            body = record.content_stream().read(max_bytes + 1)
            if len(body) > max_bytes:
                tally["too_large"] += 1
                continue
            tally["kept"] += 1
            yield Capture(url=url, captured_at=date, status=status, headers=headers, body=body, warc_file=name,
                          warc_offset=it.get_record_offset(),
                          warc_record_id=record.rec_headers.get_header("WARC-Record-ID"))
    except ArchiveLoadFailed as exc:
        raise WarcFormatError(f"{name}: not a WARC file, or broken after {tally['records']} records: {exc}") from None
