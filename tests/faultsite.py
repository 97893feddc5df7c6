"""A local HTTP server that misbehaves on request, for fetcher and fault-injection tests.

    with FaultSite() as site:                    # 127.0.0.1, any free port
        site.url("/truncated")                   # -> "http://127.0.0.1:PORT/truncated"
        site.routes["/mine"] = lambda h: reply(h, 200, b"hi")   # add or replace a path
        site.requests                            # every request received, in order
        site.connections                         # TCP connections accepted (even with no request)

A handler receives the request handler object ``h`` (an ``http.server.BaseHTTPRequestHandler`` with
``h.site``, ``h.route`` (path without query) and ``h.query`` (first value of each parameter)); it may
answer with :func:`reply` or write whatever it likes to ``h.wfile`` / ``h.connection``. Routes match
the path exactly; the query string parameterises them (see DEFAULT_ROUTES).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import gzip
import json
import socket
import ssl
import struct
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import brotli

PAGE_HTML = (b"<!doctype html><html><head><meta charset='utf-8'><title>Fault site</title></head><body>"
             + b"<article><h1>Headline</h1>" + b"<p>Paragraph of text for the fault site.</p>" * 50
             + b"</article></body></html>")
PDF_BYTES = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>"
             b"endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
BINARY_BYTES = bytes(range(256)) * 16
ETAG = '"v1"'
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
BOMB_SIZE = 200 * 1024 * 1024  # zeros inflated from ~200 KB of gzip
BR_BOMB_SIZE = 64 * 1024 * 1024  # zeros inflated from ~50 bytes of brotli

Handler = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    method: str
    path: str  # with query
    headers: dict[str, str]  # lower-case names
    at: float  # time.monotonic() on arrival


@cache
def gzip_bomb() -> bytes:
    """gzip of BOMB_SIZE zero bytes, built once per process in 1 MiB steps (~0.7 s)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    parts = [c.compress(zeros) for _ in range(BOMB_SIZE >> 20)]
    parts.append(c.flush())
    return b"".join(parts)


@cache
def br_bomb() -> bytes:
    return brotli.compress(bytes(BR_BOMB_SIZE), quality=1)


def http_date(when: float) -> str:
    return email.utils.formatdate(when, usegmt=True)


def reply(h: Any, status: int, body: bytes = b"", headers: dict[str, str] | None = None, *,
          content_type: str | None = "text/html; charset=utf-8") -> None:
    """A complete response with Content-Length (unless the headers given set one)."""
    h.send_response(status)
    all_headers = {"Content-Type": content_type} if content_type else {}
    all_headers |= {"Content-Length": str(len(body))} | (headers or {})
    for name, value in all_headers.items():
        h.send_header(name, value)
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def _head(h: Any, status: int, headers: dict[str, str]) -> None:
    h.send_response(status)
    for name, value in headers.items():
        h.send_header(name, value)
    h.end_headers()
    h.wfile.flush()


def _redirect(h: Any, location: str, status: int = 302) -> None:
    reply(h, status, b"", {"Location": location}, content_type=None)


# --- the default routes ---------------------------------------------------------------------------

def _ok(h: Any) -> None:
    reply(h, 200, PAGE_HTML, {"ETag": ETAG, "Cache-Control": "max-age=60", "X-Other": "not recorded"})


def _echo(h: Any) -> None:
    reply(h, 200, json.dumps(dict(h.headers.items())).encode(), content_type="application/json")


def _status(code: int | None = None) -> Handler:
    def handler(h: Any) -> None:
        status = code or int(h.query.get("code", "500"))
        reply(h, status, f"status {status}".encode(), content_type="text/plain")
    return handler


def _slow(h: Any) -> None:  # ?delay=seconds before the status line
    if h.site.stopping.wait(float(h.query.get("delay", "5"))):
        return
    reply(h, 200, b"slow but here", content_type="text/plain")


def _trickle(h: Any) -> None:  # a byte every ?interval seconds, for ever (well, 30 s)
    _head(h, 200, {"Content-Type": "text/html", "Content-Length": "1000000"})
    interval = float(h.query.get("interval", "0.05"))
    end = time.monotonic() + 30
    while time.monotonic() < end and not h.site.stopping.wait(interval):
        h.wfile.write(b"x")
        h.wfile.flush()


def _reset(h: Any) -> None:  # 1000 of 100000 bytes, then a TCP RST
    _head(h, 200, {"Content-Type": "text/html", "Content-Length": "100000"})
    h.wfile.write(b"y" * 1000)
    h.wfile.flush()
    h.site.stopping.wait(0.05)
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()
    h.close_connection = True


def _truncated(h: Any) -> None:  # 500 of 1000 bytes, then a clean close
    _head(h, 200, {"Content-Type": "text/html", "Content-Length": "1000"})
    h.wfile.write(b"z" * 500)
    h.wfile.flush()
    h.connection.shutdown(socket.SHUT_RDWR)
    h.close_connection = True


def _retry_after_value(q: dict[str, str]) -> dict[str, str]:
    if "after" in q:
        return {"Retry-After": q["after"]}
    if "date" in q:  # seconds from now, sent as an HTTP-date
        return {"Retry-After": http_date(time.time() + float(q["date"]))}
    return {}


def _retry_after(h: Any) -> None:  # ?status=429&after=N | &date=N
    status = int(h.query.get("status", "429"))
    reply(h, status, b"slow down", _retry_after_value(h.query), content_type="text/plain")


def _flaky(h: Any) -> None:  # the first ?fail=N hits of this exact URL get ?status, then 200
    if h.site.hits(h.path) <= int(h.query.get("fail", "1")):
        reply(h, int(h.query.get("status", "503")), b"not yet", _retry_after_value(h.query),
              content_type="text/plain")
    else:
        reply(h, 200, b"recovered", content_type="text/plain")


def _redirect_to(h: Any) -> None:  # ?to=URL&status=302
    _redirect(h, h.query.get("to", "/ok"), int(h.query.get("status", "302")))


def _chain(h: Any) -> None:  # ?n=3&status=302: n more hops, then 200
    n = int(h.query.get("n", "3"))
    status = h.query.get("status", "302")
    if n > 0:
        _redirect(h, f"/chain?n={n - 1}&status={status}", int(status))
    else:
        reply(h, 200, b"end of chain", content_type="text/plain")


def _big(h: Any) -> None:  # ?size=N&mode=cl|chunked|close
    size, mode = int(h.query.get("size", "2000000")), h.query.get("mode", "cl")
    block = b"b" * 65536
    if mode == "cl":
        _head(h, 200, {"Content-Type": "text/html", "Content-Length": str(size)})
    elif mode == "chunked":
        _head(h, 200, {"Content-Type": "text/html", "Transfer-Encoding": "chunked"})
    else:
        _head(h, 200, {"Content-Type": "text/html", "Connection": "close"})
        h.close_connection = True
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if mode == "chunked" else piece)
        sent += len(piece)
    if mode == "chunked":
        h.wfile.write(b"0\r\n\r\n")


def _encoded(encoding: str, encode: Callable[[bytes], bytes]) -> Handler:
    def handler(h: Any) -> None:
        reply(h, 200, encode(PAGE_HTML), {"Content-Encoding": encoding})
    return handler


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def _gzip_bomb(h: Any) -> None:
    reply(h, 200, gzip_bomb(), {"Content-Encoding": "gzip"})


def _conditional(h: Any) -> None:  # ETag "v1" and a fixed Last-Modified; 304 when either matches
    validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
    inm, ims = h.headers.get("If-None-Match"), h.headers.get("If-Modified-Since")
    fresh = inm == ETAG if inm is not None else (
        ims is not None and email.utils.parsedate_to_datetime(ims)
        >= email.utils.parsedate_to_datetime(LAST_MODIFIED))
    if fresh:
        reply(h, 304, b"", validators, content_type=None)
    else:
        reply(h, 200, b"<rss version='2.0'><channel><title>t</title></channel></rss>", validators,
              content_type="application/rss+xml")


def _br_bomb(h: Any) -> None:
    reply(h, 200, br_bomb(), {"Content-Encoding": "br"})


def _close(h: Any) -> None:
    reply(h, 200, PAGE_HTML, {"Connection": "close"})
    h.close_connection = True


def _robots(h: Any) -> None:
    status, text = h.site.robots
    reply(h, status, text.encode(), content_type="text/plain")


DEFAULT_ROUTES: dict[str, Handler] = {
    "/ok": _ok,
    "/echo": _echo,
    "/status": _status(),
    "/404": _status(404),
    "/410": _status(410),
    "/500": _status(500),
    "/503": _status(503),
    "/slow": _slow,
    "/trickle": _trickle,
    "/reset": _reset,
    "/truncated": _truncated,
    "/retry-after": _retry_after,
    "/flaky": _flaky,
    "/redirect": _redirect_to,
    "/chain": _chain,
    "/loop-a": lambda h: _redirect(h, "/loop-b"),
    "/loop-b": lambda h: _redirect(h, "/loop-a"),
    "/big": _big,
    "/gzip": _encoded("gzip", gzip.compress),
    "/deflate": _encoded("deflate", zlib.compress),
    "/deflate-raw": _encoded("deflate", _raw_deflate),
    "/br": _encoded("br", brotli.compress),
    "/gzip-bomb": _gzip_bomb,
    "/br-bomb": _br_bomb,
    "/gzip-then-br": _encoded("gzip, br", lambda b: brotli.compress(gzip.compress(b))),
    "/gzip-corrupt": _encoded("gzip", lambda b: gzip.compress(b)[:10] + b"\xff" * 64),  # bad block type
    "/gzip-cut": _encoded("gzip", lambda b: gzip.compress(b)[:-30]),  # no end marker
    "/not-modified": lambda h: reply(h, 304, b"", content_type=None),
    "/conditional": _conditional,
    "/empty": lambda h: reply(h, 200, b""),
    "/binary-html": lambda h: reply(h, 200, BINARY_BYTES),
    "/pdf": lambda h: reply(h, 200, PDF_BYTES, content_type="application/pdf"),
    "/close": _close,
    "/robots.txt": _robots,
}


# --- the server -----------------------------------------------------------------------------------

class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        site = self.server.site
        parts = urllib.parse.urlsplit(self.path)
        self.site, self.route = site, parts.path
        self.query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        site._arrived(LoggedRequest("GET", self.path, {k.lower(): v for k, v in self.headers.items()},
                                    time.monotonic()))
        try:
            handler = site.routes.get(parts.path)
            if handler is None:
                reply(self, 404, b"no such route", content_type="text/plain")
            else:
                handler(self)
        except (ConnectionError, TimeoutError, ssl.SSLError, ValueError):
            self.close_connection = True  # the client went away or the socket was closed on purpose
        finally:
            site._left()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    site: FaultSite

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        self.site._connected()
        if self.site.ssl_context is not None:
            sock = self.site.ssl_context.wrap_socket(sock, server_side=True,
                                                     do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # failed handshakes, resets: the test asserts on what the client saw


@dataclass(eq=False)
class FaultSite:
    """Context manager: a threaded HTTP(S) server on ``host``, port 0 unless given."""

    host: str = "127.0.0.1"
    port: int = 0
    ssl_context: ssl.SSLContext | None = None
    routes: dict[str, Handler] = field(default_factory=lambda: dict(DEFAULT_ROUTES))
    robots: tuple[int, str] = (404, "")  # (status, text) served at /robots.txt
    requests: list[LoggedRequest] = field(default_factory=list)
    connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, int] = {}
        self._server: _Server | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context else "http"

    def url(self, path: str = "/", host: str | None = None) -> str:
        """This site's URL for ``path``; ``host`` replaces the address (a name the resolver maps)."""
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits.get(path, 0)

    def _arrived(self, request: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            self._hits[request.path] = self._hits.get(request.path, 0) + 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _left(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _connected(self) -> None:
        with self._lock:
            self.connections += 1

    def __enter__(self) -> FaultSite:
        server = _Server((self.host, self.port), _RequestHandler)
        server.site = self
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name=f"faultsite-{self.host}:{self.port}").start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound, then released): connecting to it is refused."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def stub_resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    """A resolver for fake names; unknown names fail like getaddrinfo does."""
    def resolve(host: str, port: int) -> list[str]:
        try:
            return list(table[host])
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
    return resolve


def make_certificate(hostname: str, directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``hostname`` (cert.pem, key.pem). Needs ``cryptography``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class RecordingSleep:
    """An injectable sleep that records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class SilentListener:
    """A bound, listening socket that never answers: proves nobody connected to an address.

    A client's connect() completes the TCP handshake into the backlog, so ``accepted_any()`` right
    after a refused fetch is not racy.
    """

    def __init__(self, host: str, port: int = 0) -> None:
        self.host = host
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._sock.bind((host, port))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]

    def accepted_any(self) -> bool:
        self._sock.setblocking(False)
        try:
            conn, _ = self._sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    def __enter__(self) -> SilentListener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._sock.close()


# --- articles and feeds for pipeline-level fault tests ---------------------------------------------

ARTICLE_PARAGRAPH = "This paragraph belongs to a well-formed article served by the fault site. "


def article_html(key: str, *, text: str | None = None, charset_meta: str | None = "utf-8",
                 encoding: str = "utf-8") -> bytes:
    """A page trafilatura extracts, with text unique to ``key`` (so exact dedup keeps each apart)."""
    body = text if text is not None else f"Article {key}. " + ARTICLE_PARAGRAPH * 8 + f"End of article {key}."
    meta = f"<meta charset='{charset_meta}'>" if charset_meta else ""
    html = (f"<!doctype html><html><head>{meta}<title>Story {key}</title></head><body><article>"
            f"<h1>Story {key}</h1><p>{body}</p><p>{ARTICLE_PARAGRAPH * 3}</p></article></body></html>")
    return html.encode(encoding)


def _article(h: Any) -> None:  # ?n=KEY: a unique, extractable article
    reply(h, 200, article_html(h.query.get("n", "x")))


def _go(h: Any) -> None:  # ?n=HOPS&status=301&id=KEY: a redirect chain ending at /article?n=KEY
    n, status, key = int(h.query.get("n", "2")), h.query.get("status", "302"), h.query.get("id", "x")
    if n > 0:
        _redirect(h, f"/go?n={n - 1}&status={status}&id={key}", int(status))
    else:
        _redirect(h, f"/article?n={key}", int(status))


def rss(items: list[tuple[str | None, str | None]], title: str = "Fault feed") -> bytes:
    """RSS 2.0 with (guid, link) items; None leaves the element out."""
    parts = []
    for i, (guid, link) in enumerate(items):
        g = f"<guid isPermaLink='false'>{guid}</guid>" if guid is not None else ""
        lk = f"<link>{link}</link>" if link is not None else ""
        parts.append(f"<item><title>Item {i}</title>{g}{lk}</item>")
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{title}</title>"
            + "".join(parts) + "</channel></rss>").encode()


def serve(body: bytes, content_type: str = "application/rss+xml", headers: dict[str, str] | None = None
          ) -> Handler:
    def handler(h: Any) -> None:
        reply(h, 200, body, headers, content_type=content_type)
    return handler


DEFAULT_ROUTES |= {
    "/article": _article,
    "/go": _go,
    "/copy": _article,  # the same text under another URL: an exact duplicate
    "/br-article": lambda h: reply(h, 200, brotli.compress(article_html(h.query.get("n", "br"))),
                                   {"Content-Encoding": "br"}),
}
