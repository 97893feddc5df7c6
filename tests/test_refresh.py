"""<meta http-equiv="refresh"> redirects (ingest/refresh.py) and stray NUL bytes in pages: the parse,
the fetcher following a refresh within its redirect budget and address guard, and extraction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from faultsite import FaultSite, RecordingSleep, article_html, reply

from ingest.config import ExtractSettings, FetchSettings
from ingest.errors import ErrorKind
from ingest.extract.pages import Extraction, ExtractionFailure, PageInput, extract_page
from ingest.fetch.client import Fetcher
from ingest.fetch.refresh import meta_refresh_target, parse_refresh


def page(head: str) -> bytes:
    return f"<!doctype html><html><head>{head}<title>t</title></head><body><p>stub</p></body></html>".encode()


@pytest.mark.parametrize(("head", "target"), [
    ('<meta http-equiv="refresh" content="0; url=/a">', "/a"),
    ("<meta http-equiv='Refresh' content='0;URL=\"https://x.example/b?c=1&amp;d=2\"'>", "https://x.example/b?c=1&d=2"),
    ('<META HTTP-EQUIV=refresh CONTENT="3, url=/c">', "/c"),
    ('<meta content="0; /d" http-equiv="refresh">', "/d"),
    ('<meta http-equiv="refresh" content="300">', None),  # a reload, not a redirect
    ('<meta http-equiv="refresh" content="600; url=/">', None),  # too slow to be a stub
    ('<noscript><meta http-equiv="refresh" content="0; url=/nojs"></noscript>', None),  # for script-less browsers
    ('<!-- <meta http-equiv="refresh" content="0; url=/old"> -->', None),
    ('<meta name="refresh" content="0; url=/e">', None),
])
def test_meta_refresh_parse(head: str, target: str | None) -> None:
    assert meta_refresh_target(page(head)) == target


def test_a_refresh_in_the_body_is_not_the_pages() -> None:
    body = b"<html><head><title>t</title></head><body><meta http-equiv='refresh' content='0; url=/x'></body></html>"
    assert meta_refresh_target(body) is None
    assert parse_refresh("0") is None and parse_refresh("junk") is None and parse_refresh("1.5; url=/y") == "/y"


@pytest.fixture
def site() -> Iterator[FaultSite]:
    with FaultSite() as s:
        yield s


def fetcher(**overrides: object) -> Fetcher:
    settings = {"timeout_s": 2.0, "retries": 0, "per_host_delay_s": 0, "respect_robots": False,
                "allow_private_networks": True} | overrides
    return Fetcher(FetchSettings(**settings), sleep=RecordingSleep())  # type: ignore[arg-type]


def test_the_fetcher_follows_a_refresh_as_a_hop(site: FaultSite) -> None:
    site.routes["/stub"] = lambda h: reply(h, 200, page('<meta http-equiv="refresh" content="0; url=/article?n=t">'))
    with fetcher() as f:
        result = f.fetch_page(site.url("/stub"))
    assert result.ok and result.final_url == site.url("/article?n=t")
    assert result.body == article_html("t")
    [record] = result.records
    assert record.redirects == (site.url("/article?n=t"),) == record.meta_refresh


def test_refreshes_share_the_redirect_budget_and_loops_fail(site: FaultSite) -> None:
    site.routes["/r1"] = lambda h: reply(h, 200, page('<meta http-equiv="refresh" content="0; url=/redirect?to=/r2">'))
    site.routes["/r2"] = lambda h: reply(h, 200, page('<meta http-equiv="refresh" content="0; url=/r1">'))
    with fetcher(max_redirects=8) as f:
        looped = f.fetch_page(site.url("/r1"))
    assert looped.error is not None and looped.error.kind is ErrorKind.TOO_MANY_REDIRECTS
    site.routes["/self"] = lambda h: reply(h, 200, page('<meta http-equiv="refresh" content="0; url=/self">'))
    with fetcher() as f:
        itself = f.fetch_page(site.url("/self"))
    assert itself.ok and itself.records[0].redirects == ()  # a page refreshing itself is the page
    site.routes["/stub2"] = lambda h: reply(h, 200, page('<meta http-equiv="refresh" content="0; url=/ok">'))
    with fetcher(max_redirects=1) as f:
        over = f.fetch_page(site.url("/redirect?to=/stub2"))
    assert over.error is not None and over.error.kind is ErrorKind.TOO_MANY_REDIRECTS


def test_a_refresh_goes_through_the_address_guard(site: FaultSite) -> None:
    site.routes["/evil"] = lambda h: reply(h, 200, page(
        '<meta http-equiv="refresh" content="0; url=http://169.254.169.254/latest/meta-data/">'))
    f = Fetcher(FetchSettings(timeout_s=2.0, retries=0, per_host_delay_s=0, respect_robots=False),
                sleep=RecordingSleep(), allowed_addresses=["127.0.0.1"])
    with f:
        result = f.fetch_page(site.url("/evil"))
    assert result.error is not None and result.error.kind is ErrorKind.FORBIDDEN_ADDRESS


def test_feeds_are_not_refreshed(site: FaultSite) -> None:
    site.routes["/feed"] = lambda h: reply(h, 200, page('<meta http-equiv="refresh" content="0; url=/ok">'))
    with fetcher() as f:
        result = f.fetch_feed(site.url("/feed"))
    assert result.ok and result.records[0].redirects == ()


def test_stray_nul_bytes_are_dropped_but_binary_stays_refused() -> None:
    settings = ExtractSettings()
    good = article_html("nul").replace(b"<p>", b"<p>\x00", 1).replace(b"</h1>", b"\x00\x00</h1>")
    result = extract_page(PageInput(url="https://e.example/a", body=good, content_type="text/html"), settings)
    assert isinstance(result, Extraction) and "\x00" not in result.text and "Article nul." in result.text
    binary = b"<html>" + bytes(range(256)) * 40
    failed = extract_page(PageInput(url="https://e.example/b", body=binary, content_type="text/html"), settings)
    assert isinstance(failed, ExtractionFailure) and failed.kind is ErrorKind.NOT_HTML
