"""The exception tree and the fixed set of error kinds.

Every failure the pipeline meets is reduced to one :class:`ErrorKind`. The kind is what gets stored on
fetch rows, source rows and failure rows, what ``ingest sources`` and ``ingest show`` print, and what
operators alert on, so the set is closed: add a member here rather than inventing strings elsewhere.

    IngestError
    ├── ConfigError          a config file or setting is wrong (CLI exit 2)
    ├── UsageError           a command-line argument is wrong (CLI exit 2)
    ├── DatabaseError        the archive cannot be opened or is at the wrong schema (CLI exit 2)
    │   └── SchemaMismatchError
    ├── FetchError           one HTTP fetch failed; carries its ErrorKind and URL
    ├── FeedParseError       feed bytes are unusable (no entries and not well-formed)
    └── ExtractionError      page bytes gave no archivable article
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    # network
    TIMEOUT = "timeout"
    DNS = "dns"
    REFUSED = "refused"
    CONNECTION = "connection"  # reset, closed, protocol error mid-transfer
    TLS = "tls"
    TRUNCATED = "truncated"  # body shorter than its Content-Length
    # HTTP
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    RATE_LIMITED = "rate_limited"  # 429
    TOO_MANY_REDIRECTS = "too_many_redirects"  # more than max_redirects, or a loop
    TOO_LARGE = "too_large"  # body over max_bytes (on the wire or once decompressed)
    # policy
    ROBOTS = "robots"
    FORBIDDEN_ADDRESS = "forbidden_address"  # private / loopback / link-local / multicast target
    UNSUPPORTED_URL = "unsupported_url"  # javascript:, data:, file:, ftp:, relative without base …
    # content
    NOT_HTML = "not_html"  # PDF, image, binary served as text/html
    BOT_WALL = "bot_wall"  # Cloudflare / DDoS-Guard / captcha challenge instead of the article
    EMPTY_EXTRACTION = "empty_extraction"  # no text, or trivially short
    PARSE_ERROR = "parse_error"  # a feed that yields nothing usable
    EXTRACTOR_ERROR = "extractor_error"  # the extractor raised or its worker died
    # ours
    INTERNAL = "internal"


class Interrupted(BaseException):
    """Raised in the main thread when the process is asked to stop (SIGTERM; the CLI installs the
    handler). Like KeyboardInterrupt it is not an error of the run: the run ends ``interrupted``, work
    already committed stays, and the next run picks up what was left pending."""


class IngestError(Exception):
    """Root of every error ingest raises on purpose."""


class ConfigError(IngestError):
    """A configuration problem, reported as one line: ``FILE: KEY: PROBLEM``."""

    def __init__(self, problem: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        super().__init__(": ".join(part for part in (file, key, problem) if part))


class UsageError(IngestError):
    """A bad command-line value (a date, a query, an unknown source)."""


class DatabaseError(IngestError):
    """The archive database cannot be reached or used."""


class SchemaMismatchError(DatabaseError):
    """The database schema is not the one this code expects; the message says what to run."""


class FetchError(IngestError):
    def __init__(self, kind: ErrorKind, url: str, detail: str = "", status: int | None = None) -> None:
        self.kind = kind
        self.url = url
        self.detail = detail
        self.status = status
        super().__init__(f"{kind.value}: {url}" + (f" ({detail})" if detail else ""))


class FeedParseError(IngestError):
    kind = ErrorKind.PARSE_ERROR

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"parse_error: {url} ({detail})")


class ExtractionError(IngestError):
    def __init__(self, kind: ErrorKind, url: str, detail: str = "") -> None:
        self.kind = kind
        self.url = url
        self.detail = detail
        super().__init__(f"{kind.value}: {url}" + (f" ({detail})" if detail else ""))
