"""SSRF through the pipeline: with ``allow_private_networks: false``, feed entries (and feeds) that point
at internal addresses are recorded as ``forbidden_address`` and never requested.

Only loopback ever receives packets: non-loopback targets (169.254.x, 10.x, fd00::) are refused before
any connect; 127.0.0.2 and ::1 play "internal host" with listeners that must stay untouched, and the
fault site's own request log shows every request that did arrive. The resolver stub maps test names.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from faultsite import FaultSite, SilentListener, rss, serve, stub_resolver
from sqlalchemy import select

from ingest.config import parse_config
from ingest.fetch.client import Fetcher
from ingest.pipeline.stages import PollContext, poll_source
from ingest.store.db import open_archive, read_session
from ingest.store.models import Entry, Fetch, Source

RESOLVER = {
    "public.test": ["127.0.0.1"],  # plays a public news site (allowed_addresses below)
    "metadata.test": ["169.254.169.254"],
    "intranet.test": ["10.0.0.5"],
    "inside.test": ["127.0.0.2"],
    "v6local.test": ["::1"],
    "v6ula.test": ["fd00::5"],
    "mixed.test": ["127.0.0.1", "10.0.0.5"],  # one bad record spoils the name
}


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def listeners() -> Iterator[tuple[SilentListener, SilentListener | None]]:
    with SilentListener("127.0.0.2") as v4:
        if _has_ipv6_loopback():
            with SilentListener("::1") as v6:
                yield v4, v6
        else:
            yield v4, None


def test_internal_targets_are_recorded_and_never_requested(
        listeners: tuple[SilentListener, SilentListener | None], database_url: str) -> None:
    inside, inside6 = listeners
    p4, p6 = inside.port, inside6.port if inside6 else 9
    with FaultSite() as site:
        public = site.url("", host="public.test")
        forbidden = [
            f"http://127.0.0.2:{p4}/secret", f"http://[::1]:{p6}/",
            "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/admin", "http://172.16.0.1/",
            "http://192.168.1.1/router", "http://[fd00::1]/", "http://[fe80::1]/",
            f"http://inside.test:{p4}/secret", "http://metadata.test/latest/meta-data/",
            "http://intranet.test/", f"http://v6local.test:{p6}/", "http://v6ula.test/",
            site.url("/ok", host="mixed.test"),
            f"{public}/redirect?to=http://127.0.0.2:{p4}/secret",
            f"{public}/redirect?to=http://metadata.test/latest/meta-data/",
            f"{public}/redirect?to=http://[::1]:{p6}/",
        ]
        good = f"{public}/article?n=public"
        site.routes["/feeds/ssrf.xml"] = serve(rss([(f"e{i}", link.replace("&", "&amp;"))
                                                    for i, link in enumerate([good, *forbidden])]))
        config = parse_config({"fetch": {"allow_private_networks": False, "respect_robots": False,
                                         "per_host_delay_s": 0, "retries": 1, "backoff_base_s": 0.01,
                                         "timeout_s": 2},
                               "extract": {"workers": 1},
                               "sources": [{"name": "ssrf", "feed": f"{public}/feeds/ssrf.xml"},
                                           {"name": "meta-feed", "feed": "http://metadata.test/feed.xml"},
                                           {"name": "inside-feed", "feed": f"http://127.0.0.2:{p4}/feed.xml"}]})
        engine = open_archive(database_url)
        with Fetcher(config.fetch, resolver=stub_resolver(RESOLVER), allowed_addresses=("127.0.0.1",)) as fetcher, \
                PollContext(config, engine, run_id=None, fetcher=fetcher) as ctx:
            reports = {s.name: poll_source(ctx, s) for s in config.select(None)}
        requested = site.paths()

    with read_session(engine) as s:
        ids = dict(s.execute(select(Source.name, Source.id)).all())
        entries = {e.link: (e.status, e.error_kind) for e in s.scalars(select(Entry).where(Entry.source_id == ids["ssrf"]))}
        page_fetches = Counter(s.scalars(select(Fetch.url).where(Fetch.kind == "page")))
        feed_errors = dict(s.execute(select(Source.name, Source.error_kind)).all())
    engine.dispose()

    assert entries == {good: ("archived", None), **{link: ("failed", "forbidden_address") for link in forbidden}}
    assert reports["ssrf"].failures == Counter({"forbidden_address": len(forbidden)})
    assert page_fetches == Counter({good: 1, **{link: 1 for link in forbidden}})  # refused once, never retried
    assert feed_errors == {"ssrf": None, "meta-feed": "forbidden_address", "inside-feed": "forbidden_address"}
    # the server saw the feed, the good page and the two public redirects that led inside: nothing else
    assert sorted(requested) == sorted(["/feeds/ssrf.xml", "/article?n=public", *(
        link.removeprefix(public) for link in forbidden if link.startswith(f"{public}/redirect"))])
    assert not inside.accepted_any()
    assert inside6 is None or not inside6.accepted_any()


def test_the_same_feed_is_fetched_when_private_networks_are_allowed(database_url: str) -> None:
    """The control: allow_private_networks lets 127.0.0.2 through, so the test above is not vacuous."""
    with FaultSite(host="127.0.0.2") as inside:
        inside.routes["/feeds/in.xml"] = serve(rss([("a", inside.url("/article?n=inside"))]))
        config = parse_config({"fetch": {"allow_private_networks": True, "respect_robots": False,
                                         "per_host_delay_s": 0},
                               "extract": {"workers": 1},
                               "sources": [{"name": "in", "feed": inside.url("/feeds/in.xml")}]})
        engine = open_archive(database_url)
        with PollContext(config, engine, run_id=None) as ctx:
            report: Any = poll_source(ctx, config.sources[0])
        engine.dispose()
        assert inside.paths() == ["/feeds/in.xml", "/article?n=inside"]
    assert report.counts["new"] == 1
