"""WARC out: the page fetches behind articles as WARC/1.1 (warcio), one gzip member per record.

For each fetch: a ``request`` record and a ``response`` record (the status line and the recorded
response headers). Bodies are stored decoded, so ``Content-Encoding`` is dropped and ``Content-Length`` is
the decoded length; the originals are kept as ``X-Original-Content-Encoding`` / ``X-Original-Content-Length``
HTTP headers. ``WARC-Target-URI`` is the requested URL; each redirect hop the fetch recorded is a
``response`` of its own (status 302 with its ``Location``, or for a ``<meta http-equiv="refresh">`` hop a
200 with a ``Refresh`` header: the hop's own status and body were not kept, which ``X-Ingest-Hop`` says).
``WARC-Date`` is the fetch time, and warcio sets ``WARC-Payload-Digest`` and ``WARC-Block-Digest``. A
payload already written becomes a ``revisit`` (identical-payload-digest) record. Then one ``metadata``
record per article (``application/json``, ``WARC-Target-URI: metadata://ingest/article/ID``): its
provenance, with ``WARC-Refers-To`` the response of its current extraction and
``WARC-Refers-To-Target-URI`` its canonical URL.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import BinaryIO
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from ingest import __version__
from ingest.store.warcexport import ArticleExport, PageFetch

_DROPPED = ("content-encoding", "content-length", "transfer-encoding")
METADATA_URI = "metadata://ingest/article/"  # + the article id


@dataclass
class WarcCounts:
    articles: int = 0
    fetches: int = 0
    responses: int = 0
    revisits: int = 0
    redirects: int = 0
    records: int = 0
    payloads: dict[str, tuple[str, str, str]] = field(default_factory=dict, repr=False)  # sha256 -> (digest, uri, date)


def _date(at: datetime) -> str:
    naive = at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at  # warcio appends the Z itself
    return datetime_to_iso_date(naive, use_micros=True)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _request_headers(url: str) -> StatusAndHeaders:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return StatusAndHeaders(f"GET {target} HTTP/1.1", [("Host", parts.netloc)], is_http_request=True)


def response_headers(status: int, headers: dict[str, str], body_length: int) -> StatusAndHeaders:
    """The status line and the recorded headers, made true of the decoded body."""
    out = [(k.title(), v) for k, v in headers.items() if k.lower() not in _DROPPED]
    for name in ("content-encoding", "content-length"):
        if name in headers:
            out.append((f"X-Original-{name.title()}", headers[name]))
    out.append(("Content-Length", str(body_length)))
    return StatusAndHeaders(f"{status} {_reason(status)}", out, protocol="HTTP/1.1")


class WarcExporter:
    """Writes records to ``stream`` (binary); see the module docstring."""

    def __init__(self, stream: BinaryIO, *, gzip: bool = True, info: dict[str, str] | None = None) -> None:
        self.writer = WARCWriter(stream, gzip=gzip, warc_version="1.1")
        self.counts = WarcCounts()
        self.written: dict[int, str] = {}  # fetch id -> its response (or revisit) record id
        fields = {"software": f"ingest/{__version__} (warcio)", "format": "WARC File Format 1.1",
                  "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                  **(info or {})}
        self._write(self.writer.create_warcinfo_record("ingest-export.warc.gz", fields))

    def _write(self, record: object) -> None:
        self.writer.write_record(record)
        self.counts.records += 1

    def _pair(self, url: str, at: datetime, http: StatusAndHeaders, body: bytes, *,
              revisit_of: tuple[str, str, str] | None = None) -> tuple[str, str | None]:
        """A request record and its response (or revisit); returns the response's record id and payload
        digest (set by warcio as it writes)."""
        date = _date(at)
        if revisit_of is not None:
            digest, ref_uri, ref_date = revisit_of
            resp = self.writer.create_revisit_record(url, digest, ref_uri, ref_date, http_headers=http,
                                                     warc_headers_dict={"WARC-Date": date})
        else:
            resp = self.writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=None,
                                                  http_headers=http, warc_headers_dict={"WARC-Date": date})
        resp_id = resp.rec_headers.get_header("WARC-Record-ID")
        req = self.writer.create_warc_record(url, "request", payload=io.BytesIO(b""), length=0,
                                             http_headers=_request_headers(url),
                                             warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": resp_id})
        self._write(req)
        self._write(resp)
        return resp_id, resp.rec_headers.get_header("WARC-Payload-Digest")

    def fetch(self, f: PageFetch) -> str:
        """The fetch's hops and its response (or a revisit of an identical payload written before)."""
        if f.id in self.written:
            return self.written[f.id]
        self.counts.fetches += 1
        chain = [f.url, *f.redirects]
        for here, nxt in zip(chain, chain[1:], strict=False):
            if nxt in f.meta_refresh:
                hop = StatusAndHeaders("200 OK", [("Refresh", f"0; url={nxt}"), ("Content-Length", "0"),
                                                  ("X-Ingest-Hop", "meta-refresh; the page's status and body were not kept")],
                                       protocol="HTTP/1.1")
            else:
                hop = StatusAndHeaders("302 Found", [("Location", nxt), ("Content-Length", "0"),
                                                     ("X-Ingest-Hop", "redirect; its original status was not kept")],
                                       protocol="HTTP/1.1")
            self._pair(here, f.started_at, hop, b"")
            self.counts.redirects += 1
        http = response_headers(f.status, f.headers, len(f.body))
        seen = self.counts.payloads.get(f.sha256)
        if seen is not None:
            record_id, _ = self._pair(f.final_url, f.started_at, http, b"", revisit_of=seen)
            self.counts.revisits += 1
        else:
            record_id, digest = self._pair(f.final_url, f.started_at, http, f.body)
            if digest:
                self.counts.payloads[f.sha256] = (digest, f.final_url, _date(f.started_at))
            self.counts.responses += 1
        self.written[f.id] = record_id
        return record_id

    def article(self, a: ArticleExport) -> None:
        ids = [self.fetch(f) for f in a.fetches]
        # the response its current text was extracted from; else its latest
        refers = self.written.get(a.current_fetch_id) if a.current_fetch_id else None
        refers = refers or (ids[-1] if ids else None)
        headers = {"WARC-Date": _date(a.fetched_at), "WARC-Refers-To-Target-URI": a.canonical_url}
        if refers:
            headers["WARC-Refers-To"] = refers
        payload = json.dumps(a.provenance, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
        # its own URI (wget's convention: metadata://…): under the article's URL, replay tools (pywb)
        # would serve the JSON in place of the page
        self._write(self.writer.create_warc_record(f"{METADATA_URI}{a.id}", "metadata", payload=io.BytesIO(payload),
                                                   length=len(payload), warc_content_type="application/json",
                                                   warc_headers_dict=headers))
        self.counts.articles += 1


def write_warc(stream: BinaryIO, articles: Iterable[ArticleExport], *, gzip: bool = True,
               info: dict[str, str] | None = None) -> WarcCounts:
    """Every article's fetches and metadata record, in order; returns what was written."""
    exporter = WarcExporter(stream, gzip=gzip, info=info)
    for a in articles:
        exporter.article(a)
    return exporter.counts
