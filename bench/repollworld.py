"""The re-poll benchmark's world (bench/repoll.py): N feeds over H hosts, served by a process of its own.

Hosts are distinct loopback addresses (127.0.0.2, 127.0.0.3, …: all of 127/8 is loopback on Linux), so
the Prefect flow, which takes no resolver, sees H hosts too. Feed ``i`` lives on host ``i % H`` at
``/feed/i.xml`` and lists ``items`` of its host's ``PAGES_PER_HOST`` pages (``/a/h/p.html``, small pages
with distinct text, so the first poll archives them; feeds of one host share pages, as section feeds do). The server is a minimal asyncio HTTP/1.1 server (keep-alive, GET only):
the benchmark measures the client, so the server should cost as little as possible.

Modes (set between polls, shared memory): ``304`` (feeds carry an ETag and Last-Modified and answer 304
to a matching conditional GET) and ``200`` (no validators: every poll gets the identical body, 200).
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import random
import socket
from typing import Any

MODES = {"304": 0, "200": 1}
PAGES_PER_HOST = 20
LAST_MODIFIED = "Mon, 02 Nov 2026 08:00:00 GMT"
_WORDS = ["archive", "feed", "harbour", "council", "river", "market", "station", "budget", "election", "minister", "village", "reporter", "festival", "weather", "bridge", "railway", "museum", "school", "hospital", "court", "energy", "water", "grain", "summit", "treaty", "border", "coast", "forest", "island", "mountain", "valley", "factory", "union", "transport"]


def host(i: int, hosts: int) -> str:
    return f"127.0.0.{2 + i % hosts}"


def feed_url(i: int, hosts: int, port: int) -> str:
    return f"http://{host(i, hosts)}:{port}/feed/{i}.xml"


def page_path(h: int, p: int) -> str:
    return f"/a/{h}/{p}.html"


def listed_pages(i: int, items: int, hosts: int, pages: int) -> list[int]:
    """The pages of its host that feed ``i`` lists: neighbouring sections share pages, as a site's
    section feeds do (a page is listed by about ``items × feeds per host ÷ pages`` feeds)."""
    section = i // hosts
    return sorted({(section * items + k) % pages for k in range(items)})


def feed_body(i: int, items: int, hosts: int, port: int, pages: int = PAGES_PER_HOST) -> bytes:
    base, h = f"http://{host(i, hosts)}:{port}", i % hosts
    entries = "".join(
        f"<item><title>Story {h}-{p}</title><link>{base}{page_path(h, p)}</link><guid>{base}{page_path(h, p)}</guid>"
        f"<pubDate>Mon, 02 Nov 2026 0{p % 10}:00:00 GMT</pubDate><description>Summary {h}-{p}</description></item>"
        for p in listed_pages(i, items, hosts, pages))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Feed {i}</title>'
            f"<link>{base}/</link><description>feed {i}</description>{entries}</channel></rss>").encode()


def page_body(i: int, j: int) -> bytes:
    rng = random.Random(i * 1000 + j)
    paras = "".join("<p>" + " ".join(rng.choice(_WORDS) for _ in range(40)) + ".</p>" for _ in range(4))
    return (f"<!doctype html><html lang=en><head><title>Story {i}-{j}</title></head><body><article>"
            f"<h1>Story {i}-{j}</h1>{paras}</article></body></html>").encode()


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


class _State:
    def __init__(self, feeds: int, items: int, hosts: int, port: int, mode: Any, counter: Any) -> None:
        self.feeds, self.items, self.hosts, self.port = feeds, items, hosts, port
        self.mode, self.counter = mode, counter
        self._feeds: dict[int, tuple[bytes, str]] = {}

    def feed(self, i: int) -> tuple[bytes, str]:
        if i not in self._feeds:
            body = feed_body(i, self.items, self.hosts, self.port)
            self._feeds[i] = (body, etag(body))
        return self._feeds[i]

    def respond(self, path: str, headers: dict[bytes, bytes]) -> tuple[int, list[tuple[str, str]], bytes]:
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "feed" and parts[2].endswith(".xml"):
            i = int(parts[2][:-4])
            if not 0 <= i < self.feeds:
                return 404, [], b"no such feed"
            body, tag = self.feed(i)
            ctype = [("Content-Type", "application/rss+xml; charset=utf-8")]
            if self.mode.value == MODES["200"]:
                return 200, ctype, body
            validators = [("ETag", tag), ("Last-Modified", LAST_MODIFIED)]
            if headers.get(b"if-none-match", b"").decode() == tag:
                return 304, validators, b""
            return 200, ctype + validators, body
        if len(parts) == 4 and parts[1] == "a" and parts[3].endswith(".html"):
            return 200, [("Content-Type", "text/html; charset=utf-8")], page_body(int(parts[2]), int(parts[3][:-5]))
        return 404, [("Content-Type", "text/plain")], b"not found"


_REASONS = {200: "OK", 304: "Not Modified", 404: "Not Found", 400: "Bad Request"}


async def _handle(state: _State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.split(b"\r\n")
            method, path, _ = lines[0].split(b" ", 2)
            headers = {}
            for line in lines[1:]:
                if b":" in line:
                    k, v = line.split(b":", 1)
                    headers[k.strip().lower()] = v.strip()
            status, extra, body = state.respond(path.decode(), headers)
            state.counter.value += 1
            out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}", f"Content-Length: {len(body)}", *(
                f"{k}: {v}" for k, v in extra)]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + (body if method != b"HEAD" else b""))
            await writer.drain()
            if headers.get(b"connection", b"").lower() == b"close":
                return
    finally:
        writer.close()


def _serve(feeds: int, items: int, hosts: int, port: int, mode: Any, counter: Any, conn: Any) -> None:
    async def main() -> None:
        nonlocal port
        if not port:
            probe = socket.socket()
            probe.bind((host(0, hosts), 0))
            port = probe.getsockname()[1]
            probe.close()
        state = _State(feeds, items, hosts, port, mode, counter)
        servers = [await asyncio.start_server(lambda r, w: _handle(state, r, w), host(h, hosts), port,
                                              backlog=512) for h in range(hosts)]
        conn.send(port)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # "stop"
        for s in servers:
            s.close()

    asyncio.run(main())


class World:
    """The server process; ``set_mode('304'|'200')`` between polls; ``requests`` counts answers."""

    def __init__(self, feeds: int, items: int = 2, hosts: int = 50, port: int = 0) -> None:
        self.feeds, self.items, self.hosts = feeds, items, hosts
        ctx = multiprocessing.get_context("spawn")
        self._mode = ctx.Value("i", MODES["304"], lock=False)
        self._counter = ctx.Value("q", 0, lock=False)
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(feeds, items, hosts, port, self._mode, self._counter, child),
                                    daemon=True, name="repoll-world")
        self.port = 0

    def __enter__(self) -> World:
        self._process.start()
        self.port = self._conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()

    @property
    def pid(self) -> int:
        return int(self._process.pid or 0)

    def set_mode(self, mode: str) -> None:
        self._mode.value = MODES[mode]

    @property
    def requests(self) -> int:
        return int(self._counter.value)

    def feed_urls(self) -> list[str]:
        return [feed_url(i, self.hosts, self.port) for i in range(self.feeds)]
