"""A small news-site server on loopback, for the demo, the tests and the benchmark.

Routes are matched on the request path: the exact path+query first (so a site can serve two pages
that differ only by query), then the bare path, then the one route whose own path (ignoring its query)
is the request path. The last rule lets a page recorded at ``/story?ref=rss`` be fetched as ``/story``
or with tracking parameters, the way a real site ignores unknown query parameters. Percent-encoding
is normalised before matching, since clients may re-encode a path.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["NewsSite", "Route"]


@dataclass(frozen=True, slots=True)
class Route:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    # A callable receives the site's base_url: feeds embed absolute links with the live port.
    body: bytes | Callable[[str], bytes] = b""


_NOT_FOUND = Route(404, (("Content-Type", "text/plain; charset=utf-8"),), b"404 not found\n")
_SERVER_ERROR_BODY = b"500 route failed\n"
_SERVER_ERROR = Route(500, (("Content-Type", "text/plain; charset=utf-8"),), _SERVER_ERROR_BODY)


def _norm(target: str) -> str:
    return unquote(target)


def _accepts_gzip(header: str | None) -> bool:
    for part in (header or "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = params.strip().lower()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


class _RouteTable:
    def __init__(self, routes: Mapping[str, Route]) -> None:
        self._exact: dict[str, Route] = {}
        by_path: dict[str, list[Route]] = {}
        for key, route in routes.items():
            self._exact[_norm(key)] = route
            by_path.setdefault(_norm(urlsplit(key).path), []).append(route)
        # Only an unambiguous path may stand in for its query-carrying route.
        self._by_path = {path: rs[0] for path, rs in by_path.items() if len(rs) == 1}

    def find(self, target: str) -> Route | None:
        parts = urlsplit(target)
        path = _norm(parts.path or "/")
        full = f"{path}?{_norm(parts.query)}" if parts.query else path
        return self._exact.get(full) or self._exact.get(path) or self._by_path.get(path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections are closed, as real servers do
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle on, each keep-alive response waits ~40 ms
        # for the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.site._lock:
            self.server.site._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.site._lock:
            self.server.site._connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, *, send_body: bool) -> None:
        site = self.server.site
        site._record(self.command, self.path)
        route = site._table.find(self.path) or _NOT_FOUND
        try:
            body = route.body(site.base_url) if callable(route.body) else route.body
        except Exception:
            traceback.print_exc()  # a broken route is a bug in the test or site, not a request to log
            route, body = _SERVER_ERROR, _SERVER_ERROR_BODY
        headers = list(route.headers)
        names = {name.lower() for name, _ in headers}
        if body and "content-encoding" not in names and _accepts_gzip(self.headers.get("Accept-Encoding")):
            body = site._gzip(route, body)
            headers.append(("Content-Encoding", "gzip"))
        if "content-encoding" not in names:
            headers.append(("Vary", "Accept-Encoding"))
        self._server_name = next((v for n, v in headers if n.lower() == "server"), "ingest-demo")
        self.send_response(route.status)
        for name, value in headers:
            if name.lower() not in ("server", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def version_string(self) -> str:
        return getattr(self, "_server_name", "ingest-demo")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections when a poll opens many at once; clients then stall
    # in SYN retries for a second or more.
    request_queue_size = 128
    site: NewsSite

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-response are normal (timeouts, cancelled fetches); anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class NewsSite:
    """Serve ``routes`` on ``http://host:port`` from a daemon thread (port 0 = any free port)."""

    def __init__(self, routes: Mapping[str, Route], *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes = dict(routes)
        self.host = host
        self.port = port
        self.requests: list[tuple[str, str]] = []
        self._table = _RouteTable(self.routes)
        self._lock = threading.Lock()
        # Static bodies are compressed once, as a real server's cache would: compressing on every
        # request would spend the CPU of a benchmark's client machine on the server's work.
        self._gzipped: dict[int, bytes] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Open keep-alive connections, closed on stop so that a stopped site really stops answering.
        self._connections: set[socket.socket] = set()

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("NewsSite has no port until it is started")
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def _gzip(self, route: Route, body: bytes) -> bytes:
        if callable(route.body):
            return gzip.compress(body, compresslevel=5, mtime=0)
        key = id(route)
        cached = self._gzipped.get(key)
        if cached is None:
            cached = self._gzipped[key] = gzip.compress(body, compresslevel=5, mtime=0)
        return cached

    def start(self) -> NewsSite:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.site = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"news-site-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _record(self, method: str, target: str) -> None:
        with self._lock:
            self.requests.append((method, target))

    def __enter__(self) -> NewsSite:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
