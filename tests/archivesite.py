"""Real-format fixtures of the public archives, served on 127.0.0.1: WARC files written with warcio from the
shared corpus's real pages, a CC-NEWS tree (``crawl-data/CC-NEWS/YYYY/MM/warc.paths.gz`` and its files), and
a Wayback Machine (a CDX server with JSON output and ``showResumeKey`` paging, ``web/{ts}id_/{url}``
captures). The server logs every request and can hold one path until a test releases it (to kill a
backfill at a known point)."""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter


@dataclass(frozen=True)
class Page:
    url: str
    body: bytes


def corpus_pages(corpus: Path) -> list[Page]:
    """Every page of the shared corpus, at its original URL, sorted by URL."""
    out = []
    for meta in sorted((corpus / "news-pages").glob("*/meta.info")):
        for name, info in json.loads(meta.read_text(encoding="utf-8")).items():
            if (meta.parent / name).is_file():  # meta.info lists a few pages the corpus does not hold
                out.append(Page(info["url"], gzip.decompress((meta.parent / name).read_bytes())))
    return sorted(out, key=lambda p: p.url)


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _date(at: datetime) -> str:
    return datetime_to_iso_date(at.astimezone(UTC).replace(tzinfo=None))


@dataclass(frozen=True)
class Rec:
    """A record to write: a response (``status``, ``content_type``) or, with ``kind``, another type."""

    url: str
    at: datetime
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    kind: str = "response"  # response | revisit | resource | request-only


def write_warc(path: Path, records: Iterable[Rec]) -> dict[str, str]:
    """A gzipped WARC/1.0 file as crawlers write it (warcinfo, then request/response pairs); returns
    URL -> WARC-Record-ID of its first response."""
    ids: dict[str, str] = {}
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "ingest tests (warcio)"}))
        for r in records:
            headers = {"WARC-Date": _date(r.at)}
            http = StatusAndHeaders(f"{r.status} X", [("Content-Type", r.content_type),
                                                      ("Content-Length", str(len(r.body)))], protocol="HTTP/1.1")
            parts = urlsplit(r.url)
            req = w.create_warc_record(r.url, "request", payload=io.BytesIO(b""), length=0, http_headers=StatusAndHeaders(
                f"GET {parts.path or '/'} HTTP/1.1", [("Host", parts.netloc)], is_http_request=True),
                warc_headers_dict=dict(headers))
            if r.kind == "revisit":
                rec = w.create_revisit_record(r.url, "sha1:AAAA", r.url, _date(r.at), http_headers=http,
                                              warc_headers_dict=dict(headers))
            elif r.kind == "resource":
                rec = w.create_warc_record(r.url, "resource", payload=io.BytesIO(r.body), length=len(r.body),
                                           warc_content_type=r.content_type, warc_headers_dict=dict(headers))
            else:
                rec = w.create_warc_record(r.url, "response", payload=io.BytesIO(r.body), length=len(r.body),
                                           http_headers=http, warc_headers_dict=dict(headers))
            w.write_record(req)
            if r.kind != "request-only":
                w.write_record(rec)
            if r.kind == "response":
                ids.setdefault(r.url, rec.rec_headers.get_header("WARC-Record-ID"))  # the first of a URL
    return ids


# --- the server -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Capture:
    timestamp: str
    original: str
    body: bytes
    mimetype: str = "text/html"
    status: str = "200"


class ArchiveServer:
    """Static files (``files``: path -> bytes), a CDX API over ``captures`` and their ``id_`` bytes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.captures: list[Capture] = []
        self.log: list[tuple[float, str]] = []  # (time.monotonic(), path with query)
        self.hold: dict[str, threading.Event] = {}  # path prefix -> released when set
        self.rate_limit_once: set[str] = set()  # capture paths answered 429 (Retry-After: 1) the first time
        self._limited: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.log.append((time.monotonic(), self.path))
                for prefix, event in server.hold.items():
                    if self.path.startswith(prefix):
                        event.wait(60)
                status, headers, body = server.answer(self.path)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> ArchiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        for event in self.hold.values():
            event.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def requested(self, prefix: str) -> list[str]:
        return [p for _, p in self.log if p.startswith(prefix)]

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        if parts.path == "/cdx/search/cdx":
            return 200, {"Content-Type": "application/json"}, self.cdx(parse_qs(parts.query))
        if parts.path.startswith("/web/"):
            return self.capture(path)
        body = self.files.get(parts.path)
        if body is None:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        return 200, {"Content-Type": "application/octet-stream"}, body

    def cdx(self, q: dict[str, list[str]]) -> bytes:
        """The CDX server's JSON output: the matching captures (``url=HOST/*`` prefix, ``from``/``to``
        inclusive, both filters, collapse=urlkey), ``limit`` per page, a resume key after a full page."""
        (url,) = q["url"]
        assert url.endswith("/*") and q["output"] == ["json"] and q["collapse"] == ["urlkey"]
        assert sorted(q["filter"]) == ["mimetype:text/html", "statuscode:200"] and q["showResumeKey"] == ["true"]
        host = url[:-2]
        lo, hi = q["from"][0], q["to"][0]
        limit = int(q["limit"][0])
        rows, seen = [], set()
        for c in sorted(self.captures, key=lambda c: (surt(c.original), c.timestamp)):
            h = host_of(c.original)
            if not (h == host or h == "www." + host) or not lo <= c.timestamp[:len(lo)] or c.timestamp[:len(hi)] > hi:
                continue
            if c.status != "200" or c.mimetype != "text/html" or surt(c.original) in seen:
                continue
            seen.add(surt(c.original))
            rows.append(c)
        start = 0
        if "resumeKey" in q:
            key = unquote(q["resumeKey"][0])
            start = next((i for i, c in enumerate(rows) if f"{surt(c.original)} {c.timestamp}" >= key), len(rows))
        page = rows[start:start + limit]
        out: list[list[str]] = [["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]]
        out += [[surt(c.original), c.timestamp, c.original, c.mimetype, c.status, "X", str(len(c.body))] for c in page]
        if start + limit < len(rows):
            nxt = rows[start + limit]
            out += [[], [quote(f"{surt(nxt.original)} {nxt.timestamp}")]]
        return json.dumps(out).encode()

    def capture(self, path: str) -> tuple[int, dict[str, str], bytes]:
        ts, _, original = path[len("/web/"):].partition("id_/")
        if path in self.rate_limit_once and path not in self._limited:
            self._limited.add(path)
            return 429, {"Retry-After": "1", "Content-Type": "text/plain"}, b"slow down"
        for c in self.captures:
            if c.timestamp == ts and c.original == original:
                return 200, {"Content-Type": "text/html; charset=utf-8", "X-Archive-Orig-Server": "news"}, c.body
        return 404, {"Content-Type": "text/plain"}, b"no capture"


def surt(url: str) -> str:
    """The CDX urlkey of a URL (SURT, www. dropped), enough for the fixtures' URLs."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    return ",".join(reversed(host.split("."))) + ")" + (parts.path or "/").lower() + (
        f"?{parts.query}" if parts.query else "")


def gz_lines(lines: Iterable[str]) -> bytes:
    return gzip.compress("".join(f"{line}\n" for line in lines).encode())
