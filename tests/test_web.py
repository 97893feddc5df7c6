"""`ingest web` in a real browser (Playwright driving Debian's chromium) against the demo archive plus a
source whose article was revised: search for the seed article, open it, follow the provenance links,
open a revision diff, the sources page with the demo's failing items and their kinds, screenshots.
And the safety: read-only connections (a write fails in the database), article HTML escaped, the CSP
and other headers, the Host check, the token beyond loopback (and the refusal to start without one)."""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.clock import ManualClock
from ingest.config import parse_config
from ingest.demo.server import NewsSite, Route
from ingest.pipeline.poll import poll
from ingest.store.db import open_archive

INGEST = str(Path(sys.executable).parent / "ingest")
SEED_QUERY = "North Korean prisoners"
SEED_TITLE = "Ukraine’s Stance on North Korean Prisoners of War"
HTML = (("Content-Type", "text/html; charset=utf-8"),)
PARAS = [
    "The ministry said the grain corridor through the Black Sea ports carried more cargo in March than in any "
    "month since the route opened, with insurers lowering premiums for ships calling at Odesa.",
    "Port officials expect the volume to keep rising as long as air defences protect the terminals, though "
    "strikes on the Danube ports last week damaged two silos and a pier.",
    "Traders in Istanbul said the cheaper insurance had drawn shipowners back to the route.",
]
README_SHOTS = ("article", "sources")  # the two the README shows (docs/screenshots/)
HOSTILE = ('Readers wrote <script>alert("x")</script> into the comment box, and '
           '<img src=x onerror=alert(1)> too, to see whether the archive renders what it stores.')


def chromium() -> str | None:
    for candidate in (os.environ.get("INGEST_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def page(title: str, paras: list[str]) -> bytes:
    from html import escape

    body = "".join(f"<p>{escape(p)}</p>" for p in paras)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
            f"<body><article><h1>{escape(title)}</h1>{body}</article></body></html>").encode()


def feed(base: str) -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>{base}{p}</link><guid>{p}</guid>"
        f"<pubDate>Thu, 20 Mar 2025 08:00:00 GMT</pubDate></item>"
        for t, p in (("Grain corridor", "/news/grain.html"), ("Comments", "/news/comments.html")))
    return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title><link>{base}/</link>"
            f"<description>d</description>{items}</channel></rss>").encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`ingest web` as a process, as a user starts it."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        environ = {k: v for k, v in os.environ.items() if k != "INGEST_WEB_TOKEN"} | (env or {})
        self.proc = subprocess.Popen([INGEST, "web", *args, "--port", str(self.port)], env=environ,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"ingest web exited {self.proc.returncode}: {self.proc.stdout.read()}")
            try:
                httpx.get(self.base + "/static/style.css", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError("ingest web did not answer within 90 s") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def wire_site() -> Iterator[Any]:
    state = {"grain": page("Grain corridor carries record cargo", PARAS)}
    site = NewsSite({
        "/feed.xml": Route(200, (("Content-Type", "application/rss+xml"),), feed),
        "/news/grain.html": Route(200, HTML, lambda base: state["grain"]),
        "/news/comments.html": Route(200, HTML, page('What readers typed: <b>bold</b> & "quotes"', [HOSTILE] + PARAS)),
        "/robots.txt": Route(200, (("Content-Type", "text/plain"),), b"User-agent: *\nAllow: /\n"),
    })
    site.start()
    site.state = state
    yield site
    site.stop()


def add_wire_source(url: str, site: Any) -> None:
    """A source whose article is edited between two polls (version 2), polled as runs on a driven clock."""
    config = parse_config({"taxonomy": None, "fetch": {"allow_private_networks": True, "per_host_delay_s": 0},
                           "sources": [{"name": "wire", "feed": site.url("/feed.xml")}]})
    clock = ManualClock(datetime.now(UTC))
    engine = open_archive(url)
    try:
        assert poll(config, engine, clock=clock).totals["new"] == 2
        site.state["grain"] = page("Grain corridor carries record cargo, ministry says",
                                   [PARAS[0], PARAS[1].replace("last week", "on Tuesday"), PARAS[2],
                                    "The ministry will publish April's figures next month."])
        clock.advance(timedelta(hours=2))  # the first re-check is due an hour after first seen
        assert poll(config, engine, clock=clock).totals["updated"] == 1
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def archive(demo_archive: str, wire_site: Any) -> str:
    add_wire_source(demo_archive, wire_site)
    return demo_archive


@pytest.fixture(scope="module")
def server(archive: str) -> Iterator[Server]:
    s = Server("--db", archive)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium()
    if path is None:
        pytest.skip("no chromium found (apt-get install chromium; .ci/run does, or set INGEST_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []  # root (CI): no sandbox
        b = p.chromium.launch(executable_path=path, args=args)
        yield b
        b.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    dialogs: list[str] = []
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    p.dialogs = dialogs
    yield p
    context.close()


def shot(p: Any, name: str, tmp_path: Path, *, full_page: bool = False) -> Path:
    """A screenshot in the test's directory, and in $INGEST_WEB_SCREENSHOTS (docs/screenshots) when set."""
    out = tmp_path / f"{name}.png"
    p.screenshot(path=str(out), full_page=full_page)
    if (target := os.environ.get("INGEST_WEB_SCREENSHOTS")) and name in README_SHOTS:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(target) / out.name)
    assert out.stat().st_size > 10_000  # a page was drawn, not a blank
    return out


def test_search_the_seed_article_open_it_and_follow_its_provenance(server: Server, tab: Any, tmp_path: Path) -> None:
    tab.goto(server.base + "/")
    tab.get_by_label("Query").fill(SEED_QUERY)
    tab.get_by_label("Query").press("Enter")
    tab.wait_for_url("**/search?q=North+Korean+prisoners*")
    first = tab.locator("li.hit a.hit-title").first
    assert SEED_TITLE in first.inner_text()
    source = tab.locator("li.hit .hit-meta span").first.inner_text()
    assert source in tab.locator("aside.facets ul").first.inner_text()  # the source facet
    shot(tab, "search", tmp_path)
    # the search lives in the URL: the same address gives the same page
    shared = tab.url
    first.click()
    tab.wait_for_url("**/articles/*")
    article_url = tab.url
    assert SEED_TITLE in tab.locator("h1").inner_text()
    assert "North Korea" in tab.locator("section.text").inner_text()
    meta = tab.locator("aside table.kv").first.inner_text()
    assert "language" in meta and "published_at" in meta
    provenance = tab.locator("#provenance")
    chain = provenance.locator("ol.chain").first.inner_text()
    assert "SOURCE" in chain.upper() and "FEED FETCH" in chain.upper() and "PAGE FETCH" in chain.upper()
    shot(tab, "article", tmp_path)
    # follow the provenance: the page fetch, with its status, headers and sha256
    provenance.locator("ol.chain").first.locator("li").nth(3).locator("a").click()  # source, feed fetch, entry, page fetch
    tab.wait_for_url("**/fetches/*")
    fetch = tab.locator("main").inner_text()
    assert "HTTP 200" in fetch and "sha256" in fetch and "content-type" in fetch.lower()
    assert "download" in fetch
    tab.go_back()
    # and the source it came from
    provenance.locator("ol.chain").first.locator("li").first.locator("a").click()
    tab.wait_for_url("**/sources#source-*")
    assert tab.locator("h1").inner_text() == "Sources"
    tab.goto(shared)
    assert SEED_TITLE in tab.locator("li.hit a.hit-title").first.inner_text()
    tab.goto(article_url)
    assert tab.locator("a", has_text="Download raw bytes").count() == 1


def test_a_revision_diff_side_by_side_and_the_runs_behind_it(server: Server, tab: Any, tmp_path: Path) -> None:
    tab.goto(server.base + "/search?q=grain+corridor")
    tab.locator("li.hit a.hit-title", has_text="Grain corridor").first.click()
    tab.wait_for_url("**/articles/*")
    assert "version 2" in tab.locator("p.byline").inner_text()
    history = tab.locator("#history").inner_text()
    assert "version 1" in history and "version 2" in history
    # the extraction's run, linked from the provenance
    tab.locator("#provenance table.grid a", has_text="run #").first.click()
    tab.wait_for_url("**/runs/*")
    assert "poll" in tab.locator("h1").inner_text() and "wire" in tab.locator("main").inner_text()
    tab.go_back()
    tab.locator("a.diff-link").first.click()
    tab.wait_for_url("**/diff?a=1&b=2")
    diff = tab.locator("table.diff")
    assert "Grain corridor carries record cargo, ministry says" in diff.locator("tr.changed").first.inner_text()
    assert "The ministry will publish April's figures next month." in "\n".join(diff.locator("tr.added").all_inner_texts())
    changed = diff.locator("tr.changed").all_inner_texts()
    assert any("last week" in row and "on Tuesday" in row for row in changed)
    shot(tab, "diff", tmp_path, full_page=True)
    # any two versions: the form keeps the choice in the URL
    tab.get_by_label("older version").select_option("2")
    tab.get_by_role("button", name="Show diff").click()
    tab.wait_for_url("**/diff?a=2&b=2")
    assert tab.locator("table.diff tr.changed, table.diff tr.added, table.diff tr.removed").count() == 0
    tab.goto(server.base + "/runs")
    assert tab.locator("table.runs tbody tr").count() >= 2


def test_the_sources_page_shows_the_failing_items_with_their_kinds(server: Server, tab: Any, tmp_path: Path) -> None:
    response = tab.goto(server.base + "/sources")
    assert response.status == 200
    rows = tab.locator("table.sources tbody tr")
    assert {r.split("\n")[0].strip() for r in rows.all_inner_texts()} >= {"demo-europe", "demo-world", "wire"}
    failed = tab.locator("table.failed").all_inner_texts()
    text = "\n".join(failed)
    assert "bot_wall" in text and "cloudflare" in text.lower()  # the demo's Cloudflare challenge
    assert "http_4xx" in text and "HTTP 404" in text  # its dead link
    assert tab.locator("table.sources svg.spark").count() == rows.count()  # items per day, per source
    assert "Extraction health" in tab.locator("main").inner_text()
    shot(tab, "sources", tmp_path, full_page=True)


def test_article_html_is_shown_as_text_never_run(server: Server, tab: Any, archive: str) -> None:
    response = tab.goto(server.base + "/search?q=readers+typed")
    tab.locator("li.hit a.hit-title").first.click()
    tab.wait_for_url("**/articles/*")
    response = tab.goto(tab.url)  # the article page's own response
    headers = response.headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # none at all: default-src 'none'
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert tab.locator("h1").inner_text() == 'What readers typed: <b>bold</b> & "quotes"'
    assert '<script>alert("x")</script>' in tab.locator("section.text").inner_text()
    assert tab.evaluate("document.querySelectorAll('script, img, article b').length") == 0
    assert tab.dialogs == []


def test_json_at_the_same_urls(server: Server) -> None:
    hits = httpx.get(server.base + "/search.json", params={"q": SEED_QUERY}).json()["hits"]
    assert SEED_TITLE in hits[0]["title"]
    by_accept = httpx.get(server.base + f"/articles/{hits[0]['id']}", headers={"Accept": "application/json"})
    assert by_accept.headers["content-type"] == "application/json"
    record = by_accept.json()
    assert record == httpx.get(server.base + f"/articles/{hits[0]['id']}.json").json()
    assert record["sightings"][0]["page_fetch"]["sha256"] and record["extractions"][0]["extractor"] == "trafilatura"
    facets = httpx.get(server.base + "/search.json").json()["facets"]
    assert {f["value"] for f in facets["source"]} >= {"demo-europe", "demo-world", "wire"}
    sources = httpx.get(server.base + "/sources.json").json()["sources"]
    assert {"state", "drift", "failed", "items_by_day"} <= set(sources[0])
    runs = httpx.get(server.base + "/runs.json").json()["runs"]
    assert runs and runs[0]["summary"]["totals"]
    assert httpx.get(server.base + "/articles/999999.json").status_code == 404
    assert httpx.post(server.base + "/search").status_code == 405  # it only reads


def test_raw_bytes_download_as_an_attachment(server: Server) -> None:
    record = httpx.get(server.base + "/articles/1.json").json()
    fetch_id = next(x["fetch"]["id"] for x in record["extractions"] if x["current"])
    raw = httpx.get(server.base + f"/fetches/{fetch_id}/raw")
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-disposition"].startswith("attachment;")
    import hashlib

    assert hashlib.sha256(raw.content).hexdigest() == httpx.get(server.base + f"/fetches/{fetch_id}.json").json()["sha256"]
    if record.get("warc_url"):  # the interop exporter is installed: the article's WARC
        warc = httpx.get(server.base + record["warc_url"])
        assert warc.status_code == 200 and b"WARC/1.1" in gzip.decompress(warc.content)[:200]


def test_requests_to_another_host_name_are_refused(server: Server) -> None:
    # a page elsewhere whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing
    assert httpx.get(server.base + "/sources.json", headers={"Host": "attacker.example"}).status_code == 421
    assert httpx.get(server.base + "/sources.json", headers={"Host": f"localhost:{server.port}"}).status_code == 200


def test_the_connection_is_read_only(archive: str) -> None:
    import ingest

    with ingest.Archive.read_only(archive) as a:
        assert a.search(SEED_QUERY)[0].title.startswith("Ukraine")
        assert_refuses_writes(a)


def assert_refuses_writes(a: Any) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    for statement in ("UPDATE articles SET title = 'x'", "DELETE FROM sources",
                      "CREATE TABLE intruder (id INTEGER)"):
        with a.engine.connect() as conn, pytest.raises(DBAPIError, match="(?i)read.?only"):
            conn.execute(text(statement))
            conn.commit()


@pytest.mark.postgres
def test_the_web_on_postgresql_reads_and_cannot_write(postgres_url: str, wire_site: Any) -> None:
    import ingest

    open_archive(postgres_url).dispose()
    wire_site.state["grain"] = page("Grain corridor carries record cargo", PARAS)
    add_wire_source(postgres_url, wire_site)
    with ingest.Archive.read_only(postgres_url) as a:
        assert_refuses_writes(a)
    s = Server("--db", postgres_url)
    try:
        hits = httpx.get(s.base + "/search.json", params={"q": "grain corridor"}).json()["hits"]
        assert hits and hits[0]["source"] == "wire"
        article = httpx.get(s.base + f"/articles/{hits[0]['id']}.json").json()
        assert [v["version"] for v in article["history"]] == [1, 2]
        diff = httpx.get(s.base + f"/articles/{hits[0]['id']}/diff.json").json()
        assert any(r["kind"] == "added" for r in diff["text"])
        assert "wire" in httpx.get(s.base + "/sources").text
    finally:
        s.stop()


def test_beyond_loopback_it_refuses_to_start_without_a_token(archive: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "INGEST_WEB_TOKEN"}
    done = subprocess.run([INGEST, "web", "--db", archive, "--host", "0.0.0.0", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 2
    assert "INGEST_WEB_TOKEN" in done.stderr and "refusing to start" in done.stderr


def test_with_a_token_every_request_needs_it(archive: str) -> None:
    token = "s3cret-token-for-the-test-0123456789"
    s = Server("--db", archive, "--host", "0.0.0.0", env={"INGEST_WEB_TOKEN": token})
    try:
        assert httpx.get(s.base + "/sources.json").status_code == 401
        assert httpx.get(s.base + "/sources.json", params={"token": "wrong"}).status_code == 401
        assert httpx.get(s.base + "/sources.json", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # once in the URL: a cookie, and the same URL without the token
        first = httpx.get(s.base + "/search", params={"q": "kyiv", "token": token})
        assert first.status_code == 303 and first.headers["location"] == "/search?q=kyiv"
        assert "HttpOnly" in first.headers["set-cookie"] and "SameSite=Strict" in first.headers["set-cookie"]
        with httpx.Client(base_url=s.base, cookies=first.cookies) as client:
            assert client.get("/search?q=kyiv").status_code == 200
        # the token protects: the Host check is for loopback without one
        assert httpx.get(s.base + "/sources.json", headers={"Authorization": f"Bearer {token}",
                                                            "Host": "archive.example.org"}).status_code == 200
    finally:
        s.stop()
