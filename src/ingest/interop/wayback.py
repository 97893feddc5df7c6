"""The Wayback Machine's CDX API: queries, pages, capture URLs. Pure; the backfill story fetches them
(ingest.pipeline.archived) through a fetcher with the configured rate limit.

A query is ``cdx/search/cdx?url=HOST/*&from=…&to=…&output=json&filter=statuscode:200&filter=
mimetype:text/html&collapse=urlkey`` under ``backfill.wayback_url``, paged with ``limit`` and
``showResumeKey``: a page is a JSON array whose first row names the fields, then one row per capture,
then (when more follow) an empty row and a row holding the next page's ``resumeKey``. A capture's
original bytes are ``web/{timestamp}id_/{original}`` (``id_``: as archived, not rewritten for replay).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode


@dataclass(frozen=True, slots=True)
class CdxCapture:
    timestamp: str  # 14 digits, UTC
    original: str
    mimetype: str | None
    status: str | None
    digest: str | None

    @property
    def captured_at(self) -> datetime:
        return parse_timestamp(self.timestamp)


@dataclass(frozen=True, slots=True)
class CdxPage:
    captures: list[CdxCapture]
    resume_key: str | None  # the next page's key; None: this was the last page


class CdxFormatError(ValueError):
    pass


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def parse_timestamp(value: str) -> datetime:
    digits = (value + "00000000000000")[:14]  # the CDX API shortens timestamps at times
    return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def cdx_query(base_url: str, host: str, since: datetime, until: datetime, *, limit: int,
              resume_key: str | None = None) -> str:
    """The CDX query of a host's HTML captures (status 200) in ``[since, until)``, one per URL."""
    params = [("url", f"{host}/*"), ("from", timestamp(since)),
              # ``to`` is inclusive at second precision: the last second before ``until``
              ("to", timestamp(until - timedelta(seconds=1))), ("output", "json"),
              ("filter", "statuscode:200"), ("filter", "mimetype:text/html"), ("collapse", "urlkey"),
              ("limit", str(limit)), ("showResumeKey", "true")]
    if resume_key:
        params.append(("resumeKey", resume_key))
    return f"{base_url}cdx/search/cdx?{urlencode(params)}"


def capture_url(base_url: str, ts: str, original: str) -> str:
    return f"{base_url}web/{ts}id_/{original}"


def parse_page(body: bytes) -> CdxPage:
    """One page of JSON output (an empty body or ``[]``: no captures)."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return CdxPage([], None)
    try:
        rows = json.loads(text)
    except ValueError as exc:
        raise CdxFormatError(f"CDX answer is not JSON: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise CdxFormatError("CDX answer is not a JSON array of rows")
    if not rows:
        return CdxPage([], None)
    fields = [str(f) for f in rows[0]]
    for need in ("timestamp", "original"):
        if need not in fields:
            raise CdxFormatError(f"CDX header row has no {need!r} field: {fields}")
    body_rows, resume = rows[1:], None
    if len(body_rows) >= 2 and body_rows[-2] == [] and len(body_rows[-1]) == 1:
        resume, body_rows = str(body_rows[-1][0]), body_rows[:-2]
    captures = []
    for row in body_rows:
        if len(row) != len(fields):
            continue  # a short or empty row: nothing to know the capture by
        rec = dict(zip(fields, (str(v) for v in row), strict=True))
        if not rec["timestamp"].isdigit():
            continue
        captures.append(CdxCapture(rec["timestamp"], rec["original"], rec.get("mimetype"), rec.get("statuscode"),
                                   rec.get("digest")))
    return CdxPage(captures, resume or None)
