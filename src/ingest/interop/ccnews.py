"""Common Crawl News (CC-NEWS): which WARC files of the monthly listings can hold records of a date
range. Pure; the backfill story fetches the listings and streams the files (ingest.pipeline.archived).

Layout under the base URL (``backfill.ccnews_url``, default https://data.commoncrawl.org/):
``crawl-data/CC-NEWS/YYYY/MM/warc.paths.gz`` lists one file a line, each named
``crawl-data/CC-NEWS/YYYY/MM/CC-NEWS-YYYYMMDDHHMMSS-NNNNN.warc.gz`` after the time it was started. A
file holds the records fetched from its start until the next file's start.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_NAME = re.compile(r"CC-NEWS-(\d{14})-(\d{5})\.warc(?:\.gz)?$")
# A record written just after its file's successor was started (parallel writers, a slow fetch) would be
# missed by a cut at the successor's start: an hour's margin costs a file or two per range, not a day's.
SLACK = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class CcNewsFile:
    path: str  # relative to the base URL
    started: datetime
    serial: int


def paths_listing(base_url: str, year: int, month: int) -> str:
    return f"{base_url}crawl-data/CC-NEWS/{year:04d}/{month:02d}/warc.paths.gz"


def months(since: datetime, until: datetime) -> list[tuple[int, int]]:
    """The months whose files can hold records of ``[since, until)``, including the one before ``since``
    when the range starts within :data:`SLACK` of a month's start (its last file runs into it)."""
    start = since - SLACK
    y, m = start.year, start.month
    out = []
    while (y, m) < (until.year, until.month) or ((y, m) == (until.year, until.month) and until > datetime(
            y, m, 1, tzinfo=UTC)):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def parse_listing(data: bytes, max_bytes: int) -> list[str]:
    """The lines of a ``warc.paths.gz`` (gzip, or already decoded by the transfer), at most ``max_bytes``
    once decompressed."""
    if data[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(wbits=47)
        text = d.decompress(data, max_bytes + 1)
        if len(text) > max_bytes or d.unconsumed_tail:
            raise ValueError(f"warc.paths.gz over {max_bytes} bytes once decompressed")
        data = text
    return [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


def parse_file(path: str) -> CcNewsFile | None:
    m = _NAME.search(path)
    if m is None:
        return None
    try:
        started = datetime.strptime(m.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return CcNewsFile(path, started, int(m.group(2)))


def files_for_range(paths: Sequence[str], since: datetime, until: datetime) -> list[CcNewsFile]:
    """The files that can hold records of ``[since, until)``, oldest first: started before ``until``, and
    the next file started after ``since`` (less :data:`SLACK`); the newest file is open-ended. Names not
    in the CC-NEWS form are left out."""
    files = sorted({f.path: f for p in paths if (f := parse_file(p)) is not None}.values(),
                   key=lambda f: (f.started, f.serial))
    out = []
    for i, f in enumerate(files):
        nxt = files[i + 1].started if i + 1 < len(files) else None
        if f.started - SLACK < until and (nxt is None or nxt + SLACK > since):
            out.append(f)
    return out
