"""Fault injection through the whole pipeline: a local site whose feeds list every fault we know of,
polled with ``PollContext`` + ``poll_source`` into a real archive, checked row by row and through the
CLI. The fetcher-level behaviour of each fault is in test_fetch.py; this proves what the archive keeps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from faultsite import FaultSite, article_html, gzip_bomb, reply, rss, serve
from sqlalchemy import func, select

from ingest.cli import main
from ingest.config import Config, parse_config
from ingest.pipeline.stages import PollContext, SourceReport, poll_source
from ingest.store.db import open_archive, read_session
from ingest.store.models import Article, Entry, Extraction, Fetch, Source

FETCH = {"timeout_s": 3.0, "max_bytes": 2_000_000, "retries": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.05,
         "retry_after_max_s": 60, "per_host_delay_s": 0, "per_host_concurrency": 8, "respect_robots": False,
         "allow_private_networks": True, "max_redirects": 5}

RUSSIAN = "Съешь же ещё этих мягких французских булок, да выпей чаю. " * 12
FRENCH = "Café crème à la française, où l'été dénoué reçoit Noël et ses élèves. " * 12

# page path -> (error kind on the entry, or None when the page is archived; fetch rows for the URL)
PAGES: dict[str, tuple[str | None, int]] = {
    "/article?n=plain": (None, 1),
    "/slow?delay=10": ("timeout", 2),  # no status line within timeout_s; retried once
    "/trickle": ("timeout", 2),  # a byte every 50 ms for ever: the per-attempt deadline stops it
    "/reset": ("connection", 2),
    "/truncated": ("truncated", 2),
    "/retry-after?after=120": ("rate_limited", 1),  # Retry-After beyond retry_after_max_s: not waited
    "/retry-after?date=120": ("rate_limited", 1),
    "/500": ("http_5xx", 2),
    "/503": ("http_5xx", 2),
    "/404": ("http_4xx", 1),
    "/410": ("http_4xx", 1),
    "/go?n=2&status=301&id=r301": (None, 1),  # one fetch row holds all hops
    "/go?n=2&status=302&id=r302": (None, 1),
    "/go?n=2&status=307&id=r307": (None, 1),
    "/go?n=2&status=308&id=r308": (None, 1),
    "/go?n=9&status=302&id=rlong": ("too_many_redirects", 1),
    "/loop-a": ("too_many_redirects", 1),
    "/redirect?to=OTHER/article%3Fn%3Delsewhere": (None, 1),  # to a second host (127.0.0.2)
    "/big?size=3000000&mode=cl": ("too_large", 1),  # Content-Length over max_bytes: not read
    "/big?size=3000000&mode=chunked": ("too_large", 1),  # no Content-Length: stopped while reading
    "/big?size=3000000&mode=close": ("too_large", 1),
    "/gzip-bomb": ("too_large", 1),  # 200 KB on the wire, 200 MB inflated
    "/br-bomb": ("too_large", 1),
    "/br-article?n=brotli": (None, 1),
    "/cp1251": (None, 1),  # declared UTF-8, is windows-1251
    "/latin1": (None, 1),  # declared UTF-8, is ISO-8859-1
    "/undeclared": (None, 1),  # no charset anywhere
    "/binary-html": ("not_html", 1),
    "/pdf": ("not_html", 1),
    "/empty": ("empty_extraction", 1),
}
BAD_LINKS = {"javascript:alert(1)": "unsupported scheme 'javascript'",
             "data:text/html,hello": "unsupported scheme 'data'",
             "file:///etc/passwd": "unsupported scheme 'file'",
             "ftp://ftp.example.com/story": "unsupported scheme 'ftp'"}
BIG_FEED_ITEMS = 10_000


def fault_routes(other: str) -> dict[str, Any]:
    laughs = ("<?xml version='1.0'?><!DOCTYPE rss [<!ENTITY lol 'lol'>"
              + "".join(f"<!ENTITY lol{i} '{('&lol%s;' % (i - 1 if i > 1 else '')) * 10}'>" for i in range(1, 10))
              + "]><rss version='2.0'><channel><title>Laughs &lol9;</title><item><title>&lol9;</title>"
              "<link>/article?n=laughs</link></item></channel></rss>").encode()
    xxe = (b"<?xml version='1.0'?><!DOCTYPE rss SYSTEM '/evil.dtd' [<!ENTITY local SYSTEM 'file:///etc/passwd'>"
           b"<!ENTITY remote SYSTEM '/remote.txt'>]><rss version='2.0'><channel><title>XXE &local;</title>"
           b"<item><title>x &local; &remote;</title><link>/article?n=xxe</link></item></channel></rss>")
    malformed = (b"<rss version='2.0'><channel><title>Broken & proud</title>"
                 b"<item><title>One & two</title><link>/article?n=mal1</link></item>"
                 b"<item><title>Three <b>four</title><link>/article?n=mal2</link></item></channel></rss>")
    big = rss([(f"big-{i}", f"/article?n=big#item-{i}") for i in range(BIG_FEED_ITEMS)], "Big")
    dupes = rss([("same", "/article?n=dup1"), ("same", "/article?n=dup2"), ("same", "/article?n=dup3"),
                 ("other", "/article?n=dup4")])
    links = rss([("nolink", None), ("relative", "../article?n=relative"),
                 *((f"bad-{i}", link.replace("&", "&amp;")) for i, link in enumerate(BAD_LINKS))])
    utf16 = rss([("u16", "/article?n=utf16")], "Фид в UTF-16").decode().replace("utf-8", "utf-16").encode("utf-16")
    pages = rss([(path, path.replace("OTHER", other).replace("&", "&amp;")) for path in PAGES])
    return {
        "/feeds/pages.xml": serve(pages),
        "/feeds/laughs.xml": serve(laughs),
        "/feeds/xxe.xml": serve(xxe),
        "/feeds/malformed.xml": serve(malformed),
        "/feeds/big.xml": serve(big),
        "/feeds/dupes.xml": serve(dupes),
        "/feeds/links.xml": serve(links),
        "/feeds/utf16.xml": serve(utf16, "application/rss+xml"),
        "/cp1251": serve(article_html("cp1251", text=RUSSIAN, encoding="cp1251"), "text/html; charset=utf-8"),
        "/latin1": serve(article_html("latin1", text=FRENCH, encoding="latin-1"), "text/html; charset=utf-8"),
        "/undeclared": serve(article_html("undeclared", charset_meta=None), "text/html"),
        "/evil.dtd": lambda h: reply(h, 200, b"<!ENTITY leaked 'REMOTE'>", content_type="application/xml-dtd"),
        "/remote.txt": lambda h: reply(h, 200, b"REMOTE", content_type="text/plain"),
    }


FEEDS = ("pages", "laughs", "xxe", "malformed", "big", "dupes", "links", "utf16")


def fault_config(site: FaultSite, database: str, feeds: tuple[str, ...] = FEEDS, **fetch: Any) -> Config:
    sources = [{"name": name, "feed": site.url(f"/feeds/{name}.xml")} for name in feeds]
    sources.append({"name": "feed-500", "feed": site.url("/500")})
    return parse_config({"database": database, "fetch": FETCH | fetch, "extract": {"workers": 2},
                         "sources": sources})


@pytest.fixture
def sites() -> Iterator[tuple[FaultSite, FaultSite]]:
    gzip_bomb()  # built once up front: building it inside a request would look like a slow server
    with FaultSite() as site, FaultSite(host="127.0.0.2") as other:
        site.routes |= fault_routes(other.url(""))
        yield site, other


def poll_all(config: Config, url: str) -> dict[str, SourceReport]:
    engine = open_archive(url)
    try:
        with PollContext(config, engine, run_id=None) as ctx:
            return {s.name: poll_source(ctx, s) for s in config.select(None)}
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, int]:
    engine = open_archive(url)
    try:
        with read_session(engine) as s:
            def count(model: Any, *where: Any) -> int:
                return int(s.execute(select(func.count()).select_from(model).where(*where)).scalar_one())
            return {"articles": count(Article), "entries": count(Entry), "extractions": count(Extraction),
                    "page_fetches": count(Fetch, Fetch.kind == "page")}
    finally:
        engine.dispose()


def cli_json(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def test_every_fault_is_archived_or_recorded_exactly_once(sites: tuple[FaultSite, FaultSite],
                                                         database_url: str) -> None:
    site, other = sites
    config = fault_config(site, database_url)
    reports = poll_all(config, database_url)
    link = {path: (site.url(path) if "OTHER" not in path else site.url(path.replace("OTHER", other.url(""))))
            for path in PAGES}
    engine = open_archive(database_url)
    with read_session(engine) as s:
        ids = dict(s.execute(select(Source.name, Source.id)).all())
        rows = {e.link: e for e in s.scalars(select(Entry).where(Entry.source_id == ids["pages"]))}
        fetch_counts = Counter(s.scalars(select(Fetch.url).where(Fetch.kind == "page")))
        observed = {path: (rows[link[path]].error_kind, fetch_counts[link[path]]) for path in PAGES}
        statuses = {path: rows[link[path]].status for path in PAGES}
        articles = {a.url: a for a in s.scalars(select(Article))}
        # no half-written article: each has its current extraction, and each canonical URL is unique
        assert all(a.current_extraction_id is not None for a in articles.values())
        by_source = Counter(s.execute(select(Source.name, Entry.status).join(Entry, Entry.source_id == Source.id)).all())
        big_articles = s.execute(select(func.count(func.distinct(Entry.article_id))).where(
            Entry.source_id == ids["big"])).scalar_one()
        dup_keys = s.scalars(select(Entry.entry_key).where(Entry.source_id == ids["dupes"])
                             .order_by(Entry.entry_key)).all()
        link_rows = {e.entry_key: (e.status, e.error_kind, e.error_detail)
                     for e in s.scalars(select(Entry).where(Entry.source_id == ids["links"]))}
        texts = {a.url: a.text for a in articles.values()}
    engine.dispose()

    assert observed == PAGES
    assert statuses == {p: "failed" if kind else "archived" for p, (kind, _) in PAGES.items()}
    assert RUSSIAN.strip() in texts[site.url("/cp1251")]
    assert FRENCH.strip() in texts[site.url("/latin1")]
    assert site.url("/undeclared") in texts and other.url("/article?n=elsewhere") in texts

    # feeds: hostile XML still yields its entries, never expands or fetches entities
    assert by_source[("laughs", "archived")] == 1 and by_source[("xxe", "archived")] == 1
    assert by_source[("malformed", "archived")] == 2 and by_source[("utf16", "archived")] == 1
    assert "/evil.dtd" not in site.paths() and "/remote.txt" not in site.paths()
    assert "lollollol" not in texts.get(site.url("/article?n=laughs"), "") + reports["laughs"].as_dict()["source"]
    # 10,000 items that all lead to one page (fragments differ): 10,000 sightings, one fetch, one article
    assert by_source[("big", "archived")] == BIG_FEED_ITEMS and big_articles == 1
    assert fetch_counts[site.url("/article?n=big#item-0")] == 1 and sum(
        n for u, n in fetch_counts.items() if "n=big" in u) == 1
    # duplicate GUIDs in one feed: one entry per GUID, the first occurrence wins
    assert dup_keys == ["guid:other", "guid:same"]
    assert by_source[("dupes", "archived")] == 2
    assert link_rows == {
        "guid:nolink": ("failed", "unsupported_url", "missing"),
        "guid:relative": ("archived", None, None),
        **{f"guid:bad-{i}": ("failed", "unsupported_url", detail) for i, detail in enumerate(BAD_LINKS.values())},
    }

    # the reports and `ingest sources` count the same failures
    expected_failures = Counter(kind for kind, _ in PAGES.values() if kind)
    assert reports["pages"].failures == expected_failures
    assert reports["links"].failures == Counter({"unsupported_url": 5})
    assert (reports["feed-500"].feed_status, reports["feed-500"].error_kind) == ("failed", "http_5xx")
    listed = {row["source"]: row for row in cli_json("sources", "--db", database_url, "--json")}
    assert listed["pages"]["failed_items"] == sum(expected_failures.values())
    assert listed["links"]["failed_items"] == 5
    assert (listed["feed-500"]["error_kind"], listed["feed-500"]["error_count"]) == ("http_5xx", 1)
    assert listed["pages"]["state"] == "healthy"

    # `ingest show URL` tells why each bad page is missing
    for path, (kind, _) in PAGES.items():
        shown = cli_json("show", link[path], "--db", database_url, "--json")[0]
        if kind is None:
            assert shown["canonical_url"], path
        else:
            assert (shown["article"], [e["error_kind"] for e in shown["entries"]]) == (None, [kind]), path
            # the fetch row carries fetch failures; extraction failures come after a good fetch
            fetched = shown["entries"][0]["page_fetch"]
            assert fetched["error_kind"] == (None if kind in ("not_html", "empty_extraction") else kind), path

    # a second run over the same input adds nothing
    before = snapshot(database_url)
    again = poll_all(config, database_url)
    assert snapshot(database_url) == before
    assert again["pages"].feed_status == "unchanged" and sum(again["pages"].counts.values()) == 0


def test_memory_stays_bounded_under_bombs_and_oversized_bodies(tmp_path: Path) -> None:
    """Peak RSS of a process polling gzip/brotli bombs and 3 MB bodies (max_bytes 2 MB) stays < 300 MB."""
    gzip_bomb()
    bombs = [f"{path}{'&' if '?' in path else '?'}copy={n}" for n in range(2) for path in (
        "/gzip-bomb", "/br-bomb", "/big?size=50000000&mode=chunked", "/big?size=50000000&mode=close",
        "/big?size=50000000&mode=cl")]
    with FaultSite() as site:
        site.routes["/feeds/bombs.xml"] = serve(rss([(f"b{i}", site.url(p).replace("&", "&amp;"))
                                                      for i, p in enumerate(bombs)]))
        config_path = tmp_path / "feeds.json"
        config_path.write_text(json.dumps({"database": f"sqlite:///{tmp_path / 'a.db'}", "fetch": FETCH,
                                           "extract": {"workers": 1},
                                           "sources": [{"name": "bombs", "feed": site.url("/feeds/bombs.xml")}]}))
        child = textwrap.dedent("""
            import json, sys
            from ingest.config import load_config
            from ingest.pipeline.stages import PollContext, poll_source
            from ingest.store.db import open_archive
            config = load_config(sys.argv[1])
            engine = open_archive(config.database)
            with PollContext(config, engine, run_id=None) as ctx:
                report = poll_source(ctx, config.sources[0])
            # VmHWM: the peak RSS of this process image. ru_maxrss would also count the parent's RSS
            # at fork time (Linux folds the pre-exec address space's peak into it).
            hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
            print(json.dumps({"peak_rss_kb": hwm, "failures": report.failures}))
        """)
        done = subprocess.run([sys.executable, "-c", child, str(config_path)], capture_output=True, text=True,
                              timeout=300, env=os.environ | {"PYTHONPATH": str(Path(__file__).parent)})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["failures"] == {"too_large": len(bombs)}
    assert result["peak_rss_kb"] < 300 * 1024, result
