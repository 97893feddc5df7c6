"""A simulated news world on 127.0.0.1 for the soak (tests/test_soak.py, bench/soak.py), driven by the
same clock as ingest.

Everything the world serves is a pure function of (seed, simulated time): which stories exist, their
text and headline at that time, whether they were deleted, each feed's items, and every fault. So a
second process (a second scheduler in bench/soak.py) can rebuild the same world from the seed, and a
run can be replayed. One HTTP server answers for every simulated host (routing on the Host header);
:meth:`World.resolve` maps host names to 127.0.0.1, or to 127.0.0.2 (where nothing listens: connection
refused) while a host is down.

The world, over ``days`` from :data:`START` (midnight in Kyiv, a few days before DST ends there):

* six sources on six hosts, RSS, Atom and JSON Feed, each publishing on its own rhythm: more by day
  than by night (in Kyiv time), with bursts; a feed lists its newest ``feed_size`` stories, so older
  ones scroll off;
* stories edited after publication (the text, later the headline); stories deleted (404, later 410,
  and gone from the feed);
* wire stories republished word for word on two other sites (the same story under three URLs);
* faults: a feed that moves (301), ETags that lie (a CDN answering 304 to a stale ETag), a feed that
  returns garbage for a day, 5xx and 429 storms with Retry-After, a host down for six hours;
* one source on a schedule of its own, in local time, across the DST change.

:attr:`World.log` records every request: simulated and real time, host, path, status, and for feeds the
stories listed, for pages the version served. The checks (tests/soakcheck.py) compare the archive with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import random
import socket
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import resource_tracker, shared_memory
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from ingest.clock import ManualClock

START = datetime(2026, 10, 19, 21, 0, tzinfo=UTC)  # 00:00 in Kyiv; DST ends there on 2026-10-25
TZ = ZoneInfo("Europe/Kyiv")
UP, DOWN = "127.0.0.1", "127.0.0.2"
DOMAIN = "soak.test"


class RunningClock(ManualClock):
    """Set to each tick's time by the soak, then running at real speed until the next tick: a poll
    scheduled at 12:00 that takes three seconds stamps its rows 12:00:00 to 12:00:03, as on a machine.

    With ``shared``, the tick's time and the moment it was set live in shared memory, so the world's
    server process reads the very same clock (CLOCK_MONOTONIC is one clock for the whole machine)."""

    def __init__(self, start: datetime, shared: str | None = None, *, create: bool = False,
                 untrack: bool = True) -> None:
        super().__init__(start)
        self._shm = shared_memory.SharedMemory(name=shared, create=create, size=16) if shared or create else None
        if self._shm is not None and not create and untrack:
            # only its creator may remove it: the resource tracker of an attached process (one started
            # apart, with a tracker of its own) would unlink it when that process exits (a killed
            # scheduler would take the clock with it); a multiprocessing child shares its parent's
            resource_tracker.unregister(self._shm._name, "shared_memory")  # type: ignore[attr-defined]
        self._since = time.monotonic()
        if self._shm is not None and (create or shared is None):
            self._store()

    @property
    def shared_name(self) -> str | None:
        return self._shm.name if self._shm is not None else None

    def _store(self) -> None:
        assert self._shm is not None
        struct.pack_into("dd", self._shm.buf, 0, super().now().timestamp(), self._since)

    def set(self, when: datetime) -> None:
        super().set(when)
        self._since = time.monotonic()
        if self._shm is not None:
            self._store()

    def now(self) -> datetime:
        if self._shm is not None:
            base, since = struct.unpack_from("dd", self._shm.buf, 0)
            return datetime.fromtimestamp(base, UTC) + timedelta(seconds=time.monotonic() - since)
        return super().now() + timedelta(seconds=time.monotonic() - self._since)

    def close(self, unlink: bool = False) -> None:
        if self._shm is not None:
            self._shm.close()
            if unlink:
                with contextlib.suppress(FileNotFoundError):
                    self._shm.unlink()


# --- what is published ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Version:
    at: datetime
    title: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


@dataclass
class Story:
    key: str  # unique per page: "<source>-<n>"
    source: str
    story_id: str  # shared by a wire story and its republished copies
    published: datetime
    versions: list[Version]
    deleted_at: datetime | None = None  # 404 from then on (and gone from the feed)
    gone_410_at: datetime | None = None  # 410 from then on

    @property
    def path(self) -> str:
        return f"/news/{self.key}.html"

    def version_at(self, t: datetime) -> tuple[int, Version] | None:
        """The version live at ``t`` (its index), or None before publication."""
        live = [(i, v) for i, v in enumerate(self.versions) if v.at <= t]
        return live[-1] if live else None

    def status_at(self, t: datetime) -> int:
        if t < self.published:
            return 404
        if self.gone_410_at is not None and t >= self.gone_410_at:
            return 410
        if self.deleted_at is not None and t >= self.deleted_at:
            return 404
        return 200


@dataclass(frozen=True)
class Fault:
    kind: str  # garbage | 5xx | 429 | down | stale_etag
    start: datetime
    end: datetime
    retry_after_s: int | None = None

    def active(self, t: datetime) -> bool:
        return self.start <= t < self.end


@dataclass
class SourceSpec:
    name: str
    kind: str  # rss | atom | json
    per_hour: float  # day-time rate (7:00-23:00 Kyiv); a tenth of it at night
    feed_size: int
    schedule: str | None = None  # a cron of its own (in Kyiv time), else the default tick
    faults: list[Fault] = field(default_factory=list)
    moves_at: datetime | None = None  # the feed answers 301 to its new address from then on
    lying_etag: bool = False  # one ETag for every version of the feed
    rebuilds: bool = True  # the CMS stamps the build time into the feed: its bytes change on every request

    @property
    def host(self) -> str:
        return f"{self.name}.{DOMAIN}"

    @property
    def feed_path(self) -> str:
        return {"rss": "/rss.xml", "atom": "/atom.xml", "json": "/feed.json"}[self.kind]

    def feed_path_at(self, t: datetime) -> str:
        return "/feeds/v2" + self.feed_path if self.moves_at is not None and t >= self.moves_at else self.feed_path


def _day(n: float) -> timedelta:
    return timedelta(days=n)


def source_specs(days: int) -> list[SourceSpec]:
    """The world's sources and their faults, laid out over ``days`` (scaled to the run's length)."""
    d = max(days, 1) / 14  # fault times are set for 14 days and stretched for longer runs

    def at(day: float, hour: float) -> datetime:
        return START + _day(day * d) + timedelta(hours=hour)

    return [
        SourceSpec("wire", "rss", per_hour=0.9, feed_size=25),
        SourceSpec("daily", "rss", per_hour=0.5, feed_size=20, rebuilds=False),
        SourceSpec("evening", "atom", per_hour=0.35, feed_size=15, moves_at=at(3, 10)),
        SourceSpec("times", "json", per_hour=0.3, feed_size=30, lying_etag=True, faults=[
            Fault("stale_etag", at(2, 6), at(5, 6)),
            Fault("garbage", at(8, 0), at(9, 0))]),
        SourceSpec("storm", "rss", per_hour=0.3, feed_size=30, faults=[
            Fault("5xx", at(4, 8), at(4, 12), retry_after_s=600),
            Fault("429", at(6, 9), at(6, 11), retry_after_s=1800),
            Fault("down", at(10, 2), at(10, 8))]),
        SourceSpec("morning", "rss", per_hour=0.3, feed_size=20, schedule="5 6-22 * * *", rebuilds=False),
    ]


# --- text ----------------------------------------------------------------------------------------------

_SYLLABLES = ("ka", "lo", "mir", "ten", "sa", "vo", "ril", "den", "pa", "gor", "ush", "el", "an", "tor",
              "mi", "nes", "ba", "lu", "ko", "rat", "sel", "vin", "dar", "ho", "zen", "pol", "fi", "mar")


def _vocabulary(rng: random.Random, n: int = 3000) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


class Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words = _vocabulary(rng)

    def sentence(self) -> str:
        words = [self.rng.choice(self.words) for _ in range(self.rng.randint(8, 18))]
        return " ".join(words).capitalize() + "."

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(3, 5)))

    def title(self) -> str:
        return " ".join(self.rng.choice(self.words) for _ in range(self.rng.randint(4, 8))).capitalize()


# --- the world -------------------------------------------------------------------------------------

@dataclass
class Request:
    sim: datetime
    real: float  # time.monotonic() on arrival
    host: str
    path: str
    status: int
    conditional: bool
    listed: tuple[str, ...] = ()  # story keys in a feed response
    version: int | None = None  # the version index served for a page


class World:
    def __init__(self, days: int, seed: int = 7, rate: float = 1.0) -> None:
        self.days = days
        self.seed = seed
        self.rate = rate
        self.end = START + _day(days)
        self.sources = {s.name: s for s in source_specs(days)}
        self.stories: dict[str, Story] = {}
        self.by_source: dict[str, list[Story]] = defaultdict(list)
        self._generate(random.Random(seed), rate)
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self.in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight: dict[str, int] = defaultdict(int)
        self.port = 0  # set by the server (URLs carry it)
        self.clock: ManualClock | None = None  # the soak's: set by WorldServer, or by a second scheduler

    # generation (pure: the same seed gives the same world)
    def _generate(self, rng: random.Random, rate: float) -> None:
        writer = Writer(rng)
        for spec in self.sources.values():
            t, n, peak = START, 0, spec.per_hour * rate
            while True:
                # a Poisson process whose rate follows the day (thinning: draw at the peak rate, keep a
                # draw with probability rate(t) / peak)
                t += timedelta(hours=rng.expovariate(peak))
                if t >= self.end:
                    break
                if rng.random() >= (1.0 if 7 <= t.astimezone(TZ).hour < 23 else 0.1):
                    continue
                burst = 6 if rng.random() < 0.01 else 1  # breaking news: several stories in minutes
                for _ in range(burst):
                    n += 1
                    self._add(Story(f"{spec.name}-{n}", spec.name, f"{spec.name}-{n}", t,
                                    [Version(t, writer.title(), tuple(writer.paragraph() for _ in range(4)))]),
                              rng, writer)
                    t += timedelta(minutes=rng.uniform(0.5, 3))
        # the wire's stories, republished word for word by two papers, 10 to 60 minutes later
        for story in list(self.by_source["wire"]):
            if rng.random() < 0.2:
                for paper in ("daily", "evening"):
                    at = story.published + timedelta(minutes=rng.uniform(10, 60))
                    if at < self.end:
                        copy = Story(f"{paper}-w{story.key}", paper, story.story_id, at,
                                     [Version(at, story.versions[0].title, story.versions[0].paragraphs)])
                        self.stories[copy.key] = copy
                        self.by_source[paper].append(copy)
        for stories in self.by_source.values():
            stories.sort(key=lambda s: (s.published, s.key))

    def _add(self, story: Story, rng: random.Random, writer: Writer) -> None:
        v0 = story.versions[0]
        if story.source != "wire" and rng.random() < 0.15:  # an edit of the text, then of the headline
            at = story.published + timedelta(minutes=rng.uniform(20, 50))
            paragraphs = (*v0.paragraphs[:2], writer.paragraph(), *v0.paragraphs[3:], "Update: " + writer.sentence())
            story.versions.append(Version(at, v0.title, paragraphs))
            if rng.random() < 0.6:
                story.versions.append(Version(at + timedelta(hours=rng.uniform(3, 5)), writer.title(), paragraphs))
        if story.source != "wire" and rng.random() < 0.05:  # deleted after a day or two, then 410
            story.deleted_at = story.published + timedelta(hours=rng.uniform(30, 60))
            story.gone_410_at = story.deleted_at + _day(3)
        self.stories[story.key] = story
        self.by_source[story.source].append(story)

    # what is served
    def fault(self, source: str, t: datetime) -> Fault | None:
        return next((f for f in self.sources[source].faults if f.active(t)), None)

    def source_of_host(self, host: str) -> str | None:
        name = host.split(":")[0].removesuffix("." + DOMAIN)
        return name if name in self.sources else None

    def resolve(self, host: str, port: int) -> list[str]:
        """DNS for the world's hosts: a host that is down resolves where nothing listens."""
        source = self.source_of_host(host)
        if source is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        fault = self.fault(source, self.clock_now())
        return [DOWN] if fault is not None and fault.kind == "down" else [UP]

    def clock_now(self) -> datetime:
        assert self.clock is not None, "the world needs the soak's clock"
        return self.clock.now()

    def base(self, source: str) -> str:
        return f"http://{self.sources[source].host}:{self.port}"

    def feed_url(self, source: str) -> str:
        return self.base(source) + self.sources[source].feed_path

    def listed(self, source: str, t: datetime) -> list[Story]:
        """The feed's stories at ``t``: the newest published and not deleted, newest first."""
        live = [s for s in self.by_source[source] if s.published <= t and (s.deleted_at is None or t < s.deleted_at)]
        return list(reversed(live[-self.sources[source].feed_size:]))

    def respond(self, host: str, path: str, headers: dict[str, str], t: datetime
                ) -> tuple[int, dict[str, str], bytes, Request]:
        source = self.source_of_host(host)
        request = Request(t, time.monotonic(), host, path, 404, bool(headers.get("if-none-match")
                                                                       or headers.get("if-modified-since")))
        if source is None:
            return 404, {}, b"no such site", request
        spec, fault = self.sources[source], self.fault(source, t)
        if fault is not None and fault.kind in ("5xx", "429"):
            status = 503 if fault.kind == "5xx" else 429
            request.status = status
            return status, {"Retry-After": str(fault.retry_after_s)}, b"busy", request
        if path == "/robots.txt":
            request.status = 200
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private/\n", request
        if path in (spec.feed_path, spec.feed_path_at(t)) or path == "/feeds/v2" + spec.feed_path:
            if path != spec.feed_path_at(t):
                request.status = 301
                return 301, {"Location": spec.feed_path_at(t)}, b"", request
            return self._feed(spec, fault, headers, t, request)
        story = self.stories.get(path.removeprefix("/news/").removesuffix(".html"))
        if story is None or story.source != source:
            return 404, {"Content-Type": "text/plain"}, b"not found", request
        status = story.status_at(t)
        request.status = status
        if status != 200:
            return status, {"Content-Type": "text/plain"}, b"gone" if status == 410 else b"not found", request
        index, version = story.version_at(t)  # type: ignore[misc]
        request.version = index
        body = self.page(story, version)
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        if headers.get("if-none-match") == etag:
            request.status = 304
            return 304, {"ETag": etag}, b"", request
        return 200, {"Content-Type": "text/html; charset=utf-8", "ETag": etag}, body, request

    def _feed(self, spec: SourceSpec, fault: Fault | None, headers: dict[str, str], t: datetime,
              request: Request) -> tuple[int, dict[str, str], bytes, Request]:
        if fault is not None and fault.kind == "garbage":
            request.status = 200
            return 200, {"Content-Type": "application/json"}, b"<html><body>Temporarily unavailable", request
        stories = self.listed(spec.name, t)
        body = self.feed_body(spec, stories, t)
        etag = '"feed-1"' if spec.lying_etag else '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        stale = fault is not None and fault.kind == "stale_etag"
        if headers.get("if-none-match") == etag and (stale or not spec.lying_etag):
            request.status = 304  # honest: unchanged; stale: a CDN that believes its lying ETag
            return 304, {"ETag": etag}, b"", request
        request.status, request.listed = 200, tuple(s.key for s in stories)
        ctype = {"rss": "application/rss+xml", "atom": "application/atom+xml", "json": "application/feed+json"}
        return 200, {"Content-Type": ctype[spec.kind] + "; charset=utf-8", "ETag": etag}, body, request

    def feed_body(self, spec: SourceSpec, stories: list[Story], t: datetime) -> bytes:
        base = self.base(spec.name)
        # a CMS that rebuilds the feed stamps the build time in it; a stable one, its newest story's
        built = t.replace(microsecond=0) if spec.rebuilds else max((s.published for s in stories), default=START)

        def title(s: Story) -> str:
            return s.version_at(t)[1].title  # type: ignore[index]

        if spec.kind == "json":
            return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": spec.name,
                               "home_page_url": base + "/", "items": [
                {"id": s.key, "url": base + s.path, "title": title(s),
                 "date_published": s.published.isoformat(), "date_modified": built.isoformat()}
                for s in stories]}).encode()
        if spec.kind == "atom":
            entries = "".join(
                f"<entry><id>urn:soak:{s.key}</id><title>{title(s)}</title><link href='{base}{s.path}'/>"
                f"<published>{s.published.isoformat()}</published><updated>{built.isoformat()}</updated></entry>"
                for s in stories)
            return (f"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
                    f"<title>{spec.name}</title><id>urn:soak:{spec.name}</id><updated>{built.isoformat()}</updated>"
                    f"{entries}</feed>").encode()
        items = "".join(
            f"<item><guid isPermaLink='false'>{s.key}</guid><title>{title(s)}</title><link>{base}{s.path}</link>"
            f"<pubDate>{format_datetime(s.published)}</pubDate></item>" for s in stories)
        return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{spec.name}</title>"
                f"<link>{base}/</link><description>soak</description><lastBuildDate>{format_datetime(built)}"
                f"</lastBuildDate>{items}</channel></rss>").encode()

    def page(self, story: Story, version: Version) -> bytes:
        paras = "".join(f"<p>{p}</p>" for p in version.paragraphs)
        return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{version.title}</title>"
                f"</head><body><nav><a href='/'>{story.source}</a></nav><article><h1>{version.title}</h1>"
                f"{paras}</article><footer>{story.source} {DOMAIN}</footer></body></html>").encode()

    # the server
    def record(self, request: Request) -> None:
        with self._lock:
            self.log.append(request)

    def enter(self, host: str) -> None:
        with self._lock:
            self.in_flight[host] += 1
            self.max_in_flight[host] = max(self.max_in_flight[host], self.in_flight[host])

    def leave(self, host: str) -> None:
        with self._lock:
            self.in_flight[host] -= 1

    def faults_injected(self) -> int:
        return sum(len(s.faults) for s in self.sources.values()) + sum(
            s.moves_at is not None for s in self.sources.values())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: with Nagle on, each answer waits ~40 ms for an ACK
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        world = self.server.world
        host = (self.headers.get("Host") or "").split(":")[0]
        world.enter(host)
        try:
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, body, request = world.respond(host, urlsplit(self.path).path, headers, world.clock_now())
            world.record(request)  # before the answer: a client that has its answer finds it in the log
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        finally:
            world.leave(host)  # after the last byte: the client cannot have released its slot yet

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    world: World

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client closing a kept-alive connection (RST) is not the world's business


class WorldServer:
    """The world on 127.0.0.1 (any free port), served by a process of its own: requests are stamped on
    arrival by a process the client's threads do not compete with for the interpreter, so the arrival
    times measure the client's request spacing, not the test's own load. The server rebuilds the world
    from its seed and reads the soak's clock from shared memory. :meth:`drain` brings its request log
    and the most requests it saw in flight per host back to this process's ``world``."""

    def __init__(self, world: World, clock: RunningClock) -> None:
        assert clock.shared_name is not None, "the world's server reads the clock from shared memory"
        self.world = world
        world.clock = clock
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(world.days, world.seed, world.rate, clock.shared_name, child),
                                    daemon=True, name="soak-world")

    def __enter__(self) -> WorldServer:
        self._process.start()
        self.world.port = self._conn.recv()
        return self

    def drain(self) -> None:
        self._conn.send("drain")
        requests, most = self._conn.recv()
        self.world.log += requests
        for host, n in most.items():
            self.world.max_in_flight[host] = max(self.world.max_in_flight[host], n)

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


def _serve(days: int, seed: int, rate: float, clock_name: str, conn: Any) -> None:
    world = World(days, seed, rate)
    world.clock = RunningClock(START, clock_name, untrack=False)
    server = _Server((UP, 0), _Handler)
    server.world = world
    world.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    conn.send(world.port)
    while (message := conn.recv()) != "stop":
        assert message == "drain"
        with world._lock:
            log, world.log = world.log, []
            most = dict(world.max_in_flight)
            world.max_in_flight.clear()
        conn.send((log, most))
    server.shutdown()
