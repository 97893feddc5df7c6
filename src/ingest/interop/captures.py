"""A page someone else fetched (a WARC response record, a Wayback capture), and which of them belong
to a source's site. Pure: no I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from ingest.config import SourceConfig
from ingest.fetch.client import RECORDED_HEADERS, FetchRecord, FetchResult
from ingest.urls import registrable_domain

HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True, slots=True)
class Capture:
    """One archived HTTP response: the URL requested, when the server answered, its status, headers
    (lower-case names) and payload (transfer and content encodings undone), and where it came from."""

    url: str
    captured_at: datetime
    status: int
    headers: dict[str, str]
    body: bytes
    warc_file: str | None = None  # a path or URL
    warc_offset: int | None = None
    warc_record_id: str | None = None
    capture_url: str | None = None  # the Wayback URL it was read from

    @property
    def found_in(self) -> str:
        return self.capture_url or self.warc_file or self.url

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    def provenance(self) -> dict[str, object]:
        return {"warc_file": self.warc_file, "warc_offset": self.warc_offset, "warc_record_id": self.warc_record_id,
                "capture_url": self.capture_url, "captured_at": self.captured_at}


def is_html(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() in HTML_TYPES


def as_fetch_result(c: Capture, *, started_at: datetime | None = None, duration_ms: int = 0) -> FetchResult:
    """The capture as the fetch result the page stage stores: a fetch row under the original URL, with
    the original status and headers, and the payload as its blob. ``started_at``: when ingest itself
    made the request (a Wayback capture); a WARC record's fetch time is its WARC-Date."""
    record = FetchRecord(url=c.url, final_url=c.url, redirects=(), status=c.status,
                         headers={k: c.headers[k] for k in RECORDED_HEADERS if k in c.headers},
                         n_bytes=len(c.body), sha256=c.sha256, started_at=started_at or c.captured_at,
                         duration_ms=duration_ms, attempt=1, error_kind=None, error_detail=None)
    return FetchResult(url=c.url, final_url=c.url, status=c.status, headers=dict(c.headers), body=c.body,
                       records=(record,), not_modified=False, error=None, retry_after_s=None)


def _host(url: str) -> str | None:
    try:
        rest = url.split("://", 1)[1]
    except IndexError:
        return None
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1].lower().rstrip(".")
    return host or None


def _bare(host: str) -> str:
    """The host without its port (IPv6 literals keep their brackets)."""
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.split(":")[0]


class SiteMatcher:
    """Whether a URL is on a source's site: one of its ``hosts:`` (or a subdomain of one), else on its
    feed's registrable domain (``feeds.bbci.co.uk`` -> ``bbci.co.uk``)."""

    def __init__(self, source: SourceConfig) -> None:
        self.hosts: tuple[str, ...]
        if source.hosts:
            self.hosts = source.hosts
        else:
            bare = _bare(_host(source.feed) or "")
            self.hosts = (registrable_domain(bare) or bare,)

    def __call__(self, url: str) -> bool:
        host = _host(url)
        if host is None:
            return False
        bare = _bare(host)
        return any(h == host or (":" not in h and (bare == h or bare.endswith("." + h))) for h in self.hosts)
