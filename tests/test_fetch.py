"""The fetcher against a misbehaving local server (tests/faultsite.py): limits, retries, redirects,
decoding, conditional requests, robots.txt and politeness. Waits go through an injected sleep that
records them and returns at once."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path

import pytest
from faultsite import (
    BINARY_BYTES,
    PAGE_HTML,
    PDF_BYTES,
    FaultSite,
    RecordingSleep,
    br_bomb,
    closed_port,
    gzip_bomb,
    make_certificate,
    server_tls_context,
    stub_resolver,
)

from ingest.config import FetchSettings
from ingest.errors import ErrorKind
from ingest.fetch.client import DECODE_CHUNK, Fetcher, FetchResult
from ingest.fetch.robots import ROBOTS_MAX_BYTES, robots_url, user_agent_token

CAP = 1_000_000
FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
               "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5")
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.8"


def settings(**overrides: object) -> FetchSettings:
    base: dict[str, object] = {
        # Generous: a loaded CI machine once took over 0.5 s to answer a plain 500. The tests of
        # timeouts themselves ask for 0.5 s.
        "timeout_s": 3.0, "retries": 2, "backoff_base_s": 0.0, "per_host_delay_s": 0.0,
        "respect_robots": False, "allow_private_networks": True, "max_bytes": CAP,
        "retry_after_max_s": 5.0,
    }
    return FetchSettings(**(base | overrides))


@pytest.fixture
def site() -> Iterator[FaultSite]:
    with FaultSite() as s:
        yield s


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def make_fetcher(sleep: RecordingSleep) -> Iterator[Callable[..., Fetcher]]:
    made: list[Fetcher] = []

    def make(resolver: Callable[[str, int], list[str]] | None = None, **overrides: object) -> Fetcher:
        fetcher = Fetcher(settings(**overrides), resolver=resolver, sleep=sleep)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def fetcher(make_fetcher: Callable[..., Fetcher]) -> Fetcher:
    return make_fetcher()


def kinds(result: FetchResult) -> list[ErrorKind | None]:
    return [r.error_kind for r in result.records]


def error_kind(result: FetchResult) -> ErrorKind | None:
    return result.error.kind if result.error else None


# --- success and what is recorded ---------------------------------------------------------------

def test_ok_page_and_its_record(site: FaultSite, fetcher: Fetcher, sleep: RecordingSleep) -> None:
    url = site.url("/ok")
    result = fetcher.fetch_page(url)
    assert (result.ok, result.status, result.url, result.final_url, result.body) == (True, 200, url, url, PAGE_HTML)
    assert (result.not_modified, result.error, result.retry_after_s) == (False, None, None)
    assert result.content_type == "text/html; charset=utf-8"
    assert result.headers["x-other"] == "not recorded"
    [record] = result.records
    assert (record.url, record.final_url, record.redirects, record.status, record.attempt) == (url, url, (), 200, 1)
    assert (record.n_bytes, record.sha256) == (len(PAGE_HTML), hashlib.sha256(PAGE_HTML).hexdigest())
    assert (record.error_kind, record.error_detail) == (None, None)
    assert sorted(record.headers) == ["cache-control", "content-length", "content-type", "date", "etag", "server"]
    assert record.headers["etag"] == '"v1"'
    assert record.started_at.tzinfo is UTC
    assert record.duration_ms >= 0
    assert sleep.waits == []


def test_request_headers(site: FaultSite, fetcher: Fetcher) -> None:
    page = json.loads(fetcher.fetch_page(site.url("/echo")).body)
    feed = json.loads(fetcher.fetch_feed(site.url("/echo"), etag='"abc"', last_modified="Wed, 21 Oct 2015 07:28:00 GMT").body)
    plain = json.loads(fetcher.fetch_feed(site.url("/echo")).body)
    assert page["User-Agent"] == FetchSettings().user_agent
    assert page["Accept-Encoding"] == "gzip, deflate, br"
    assert (page["Accept"], feed["Accept"]) == (PAGE_ACCEPT, FEED_ACCEPT)
    assert (feed["If-None-Match"], feed["If-Modified-Since"]) == ('"abc"', "Wed, 21 Oct 2015 07:28:00 GMT")
    assert "If-None-Match" not in plain and "If-Modified-Since" not in plain
    custom = json.loads(fetcher.fetch(site.url("/echo"), kind="other", headers={"X-Test": "1"}).body)
    assert (custom["Accept"], custom["X-Test"]) == ("*/*", "1")


@pytest.mark.parametrize(("path", "body", "content_type"), [
    ("/empty", b"", "text/html; charset=utf-8"),  # empty is the extractor's business, not an error
    ("/binary-html", BINARY_BYTES, "text/html; charset=utf-8"),
    ("/pdf", PDF_BYTES, "application/pdf"),
])
def test_bodies_are_passed_through(site: FaultSite, fetcher: Fetcher, path: str, body: bytes,
                                   content_type: str) -> None:
    result = fetcher.fetch_page(site.url(path))
    assert (result.ok, result.body, result.content_type) == (True, body, content_type)
    assert (result.records[0].n_bytes, result.records[0].sha256) == (len(body), hashlib.sha256(body).hexdigest())


@pytest.mark.parametrize("path", ["/gzip", "/deflate", "/deflate-raw", "/br", "/gzip-then-br"])
def test_content_encodings_are_decoded(site: FaultSite, fetcher: Fetcher, path: str) -> None:
    result = fetcher.fetch_page(site.url(path))
    assert (result.ok, result.body) == (True, PAGE_HTML)
    assert (result.records[0].n_bytes, result.records[0].sha256) == (len(PAGE_HTML), hashlib.sha256(PAGE_HTML).hexdigest())


def test_corrupt_gzip_is_a_connection_error_not_retried(site: FaultSite, fetcher: Fetcher) -> None:
    result = fetcher.fetch_page(site.url("/gzip-corrupt"))
    assert kinds(result) == [ErrorKind.CONNECTION]
    assert "gzip" in result.records[0].error_detail


def test_gzip_without_end_marker_is_truncated(site: FaultSite, fetcher: Fetcher) -> None:
    result = fetcher.fetch_page(site.url("/gzip-cut"))
    assert kinds(result) == [ErrorKind.TRUNCATED] * 3


# --- conditional requests -------------------------------------------------------------------------

def test_conditional_feed_requests(site: FaultSite, fetcher: Fetcher) -> None:
    url = site.url("/conditional")
    fresh = fetcher.fetch_feed(url)
    assert (fresh.status, fresh.not_modified, fresh.headers["etag"]) == (200, False, '"v1"')
    by_etag = fetcher.fetch_feed(url, etag=fresh.headers["etag"])
    by_date = fetcher.fetch_feed(url, last_modified=fresh.headers["last-modified"])
    stale = fetcher.fetch_feed(url, etag='"v0"')
    for result in (by_etag, by_date):
        assert (result.ok, result.not_modified, result.status, result.body) == (True, True, 304, b"")
        assert (result.records[0].n_bytes, result.records[0].sha256) == (0, None)
    assert (stale.status, stale.not_modified) == (200, False)
    assert [r.headers.get("if-none-match") for r in site.requests] == [None, '"v1"', None, '"v0"']


def test_unconditional_304_is_not_success(site: FaultSite, fetcher: Fetcher) -> None:
    result = fetcher.fetch_page(site.url("/not-modified"))
    assert (error_kind(result), result.status, result.not_modified) == (ErrorKind.UNSUPPORTED_URL, 304, False)


# --- limits ---------------------------------------------------------------------------------------

def test_content_length_over_cap_is_refused_before_reading(site: FaultSite, fetcher: Fetcher) -> None:
    result = fetcher.fetch_page(site.url(f"/big?size={CAP + 1}&mode=cl"))
    assert (error_kind(result), result.status, result.body) == (ErrorKind.TOO_LARGE, 200, b"")
    assert [(r.error_kind, r.n_bytes) for r in result.records] == [(ErrorKind.TOO_LARGE, 0)]


@pytest.mark.parametrize("mode", ["chunked", "close"])
def test_body_over_cap_without_length_stops_at_the_cap(site: FaultSite, fetcher: Fetcher, mode: str) -> None:
    result = fetcher.fetch_page(site.url(f"/big?size={5 * CAP}&mode={mode}"))
    assert kinds(result) == [ErrorKind.TOO_LARGE]
    assert CAP < result.records[0].n_bytes <= CAP + DECODE_CHUNK


def test_body_of_exactly_the_cap_is_fine(site: FaultSite, fetcher: Fetcher) -> None:
    result = fetcher.fetch_page(site.url(f"/big?size={CAP}&mode=chunked"))
    assert (result.ok, len(result.body)) == (True, CAP)


def test_gzip_bomb_stops_at_the_cap(site: FaultSite, fetcher: Fetcher) -> None:
    gzip_bomb()  # built before the request, not while the fetch's clock runs
    result = fetcher.fetch_page(site.url("/gzip-bomb"))
    assert kinds(result) == [ErrorKind.TOO_LARGE]
    assert CAP < result.records[0].n_bytes <= CAP + DECODE_CHUNK


def test_brotli_bomb_stops_at_the_cap(site: FaultSite, fetcher: Fetcher) -> None:
    br_bomb()
    result = fetcher.fetch_page(site.url("/br-bomb"))
    assert kinds(result) == [ErrorKind.TOO_LARGE]
    assert CAP < result.records[0].n_bytes <= CAP + 2 * DECODE_CHUNK  # brotli's buffer may overshoot


def test_slow_first_byte_times_out_and_is_retried(site: FaultSite, make_fetcher: Callable[..., Fetcher],
                                                  sleep: RecordingSleep) -> None:
    result = make_fetcher(retries=1, timeout_s=0.5).fetch_page(site.url("/slow?delay=5"))
    assert kinds(result) == [ErrorKind.TIMEOUT, ErrorKind.TIMEOUT]
    assert [r.status for r in result.records] == [None, None]
    assert sleep.waits == [0.0]


def test_trickling_body_hits_the_attempt_deadline(site: FaultSite, make_fetcher: Callable[..., Fetcher]) -> None:
    # A byte every 50 ms never trips the 0.5 s read timeout; only the per-attempt deadline ends it.
    result = make_fetcher(retries=0, timeout_s=0.5).fetch_page(site.url("/trickle?interval=0.05"))
    assert kinds(result) == [ErrorKind.TIMEOUT]
    assert result.records[0].status == 200


def test_connection_reset_mid_body(site: FaultSite, fetcher: Fetcher, sleep: RecordingSleep) -> None:
    result = fetcher.fetch_page(site.url("/reset"))
    assert kinds(result) == [ErrorKind.CONNECTION] * 3
    assert sleep.waits == [0.0, 0.0]


def test_truncated_body(site: FaultSite, fetcher: Fetcher) -> None:
    result = fetcher.fetch_page(site.url("/truncated"))
    assert kinds(result) == [ErrorKind.TRUNCATED] * 3
    assert "500 of 1000" in result.records[0].error_detail


# --- status codes and retries ----------------------------------------------------------------------

@pytest.mark.parametrize(("path", "status"), [("/404", 404), ("/410", 410), ("/status?code=403", 403)])
def test_client_errors_are_not_retried(site: FaultSite, fetcher: Fetcher, sleep: RecordingSleep,
                                       path: str, status: int) -> None:
    url = site.url(path)
    result = fetcher.fetch_page(url)
    assert kinds(result) == [ErrorKind.HTTP_4XX]
    assert result.error is not None
    assert (result.error.status, result.error.url, result.status, result.body) == (status, url, status, b"")
    assert sleep.waits == []


def test_server_errors_are_retried_with_backoff(site: FaultSite, fetcher: Fetcher, sleep: RecordingSleep) -> None:
    result = fetcher.fetch_page(site.url("/500"))
    assert kinds(result) == [ErrorKind.HTTP_5XX] * 3
    assert [r.attempt for r in result.records] == [1, 2, 3]
    assert sleep.waits == [0.0, 0.0]
    assert len(site.requests) == 3


def test_backoff_is_capped_full_jitter(site: FaultSite, make_fetcher: Callable[..., Fetcher],
                                      sleep: RecordingSleep) -> None:
    make_fetcher(retries=4, backoff_base_s=1.0, backoff_max_s=3.0).fetch_page(site.url("/500"))
    assert len(sleep.waits) == 4
    for wait, ceiling in zip(sleep.waits, [1.0, 2.0, 3.0, 3.0], strict=True):
        assert 0.0 <= wait <= ceiling


def test_no_retries_when_disabled(site: FaultSite, make_fetcher: Callable[..., Fetcher]) -> None:
    assert kinds(make_fetcher(retries=0).fetch_page(site.url("/500"))) == [ErrorKind.HTTP_5XX]


def test_retry_after_seconds_is_honoured(site: FaultSite, fetcher: Fetcher, sleep: RecordingSleep) -> None:
    result = fetcher.fetch_page(site.url("/retry-after?status=429&after=2"))
    assert kinds(result) == [ErrorKind.RATE_LIMITED] * 3
    assert (sleep.waits, result.retry_after_s) == ([2.0, 2.0], 2.0)


def test_recovery_after_rate_limiting(site: FaultSite, fetcher: Fetcher, sleep: RecordingSleep) -> None:
    result = fetcher.fetch_page(site.url("/flaky?fail=2&status=429&after=1"))
    assert (result.ok, result.body) == (True, b"recovered")
    assert kinds(result) == [ErrorKind.RATE_LIMITED, ErrorKind.RATE_LIMITED, None]
    assert sleep.waits == [1.0, 1.0]


def test_recovery_after_server_error(site: FaultSite, fetcher: Fetcher, sleep: RecordingSleep) -> None:
    result = fetcher.fetch_page(site.url("/flaky?fail=1&status=503"))
    assert (result.ok, kinds(result), sleep.waits) == (True, [ErrorKind.HTTP_5XX, None], [0.0])


@pytest.mark.parametrize(("status", "kind"), [(429, ErrorKind.RATE_LIMITED), (503, ErrorKind.HTTP_5XX)])
def test_long_retry_after_fails_at_once(site: FaultSite, fetcher: Fetcher, sleep: RecordingSleep,
                                        status: int, kind: ErrorKind) -> None:
    result = fetcher.fetch_page(site.url(f"/retry-after?status={status}&after=120"))
    assert kinds(result) == [kind]
    assert (result.retry_after_s, result.status, sleep.waits) == (120.0, status, [])


def test_retry_after_http_date(site: FaultSite, fetcher: Fetcher, sleep: RecordingSleep) -> None:
    far = fetcher.fetch_page(site.url("/retry-after?status=429&date=3600"))
    assert kinds(far) == [ErrorKind.RATE_LIMITED]
    assert far.retry_after_s is not None and 3590 < far.retry_after_s <= 3600
    past = fetcher.fetch_page(site.url("/retry-after?status=429&date=-60"))
    assert (kinds(past), past.retry_after_s, sleep.waits) == ([ErrorKind.RATE_LIMITED] * 3, 0.0, [0.0, 0.0])


def test_refused_connection_is_retried(make_fetcher: Callable[..., Fetcher], sleep: RecordingSleep) -> None:
    result = make_fetcher().fetch_page(f"http://127.0.0.1:{closed_port()}/")
    assert kinds(result) == [ErrorKind.REFUSED] * 3
    assert [(r.status, r.final_url) for r in result.records] == [(None, None)] * 3
    assert sleep.waits == [0.0, 0.0]


def test_tls_failure(tmp_path: Path, make_fetcher: Callable[..., Fetcher]) -> None:
    pytest.importorskip("cryptography", reason="cryptography makes the test certificate")
    cert, key = make_certificate("localhost", tmp_path)  # self-signed: not trusted by the fetcher
    with FaultSite(ssl_context=server_tls_context(cert, key)) as tls_site:
        result = make_fetcher().fetch_page(tls_site.url("/ok"))
    assert kinds(result) == [ErrorKind.TLS]
    assert "CERTIFICATE_VERIFY_FAILED" in result.records[0].error_detail


# --- redirects ------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_chain_is_followed_and_recorded(site: FaultSite, fetcher: Fetcher, status: int) -> None:
    url = site.url(f"/chain?n=3&status={status}")
    result = fetcher.fetch_page(url)
    hops = tuple(site.url(f"/chain?n={n}&status={status}") for n in (2, 1, 0))
    assert (result.ok, result.body, result.final_url) == (True, b"end of chain", hops[-1])
    [record] = result.records
    assert (record.url, record.redirects, record.final_url, record.status) == (url, hops, hops[-1], 200)


def test_too_many_redirects(site: FaultSite, make_fetcher: Callable[..., Fetcher]) -> None:
    fetcher = make_fetcher(max_redirects=2)
    assert fetcher.fetch_page(site.url("/chain?n=2")).ok
    result = fetcher.fetch_page(site.url("/chain?n=3"))
    assert kinds(result) == [ErrorKind.TOO_MANY_REDIRECTS]
    assert len(result.records[0].redirects) == 2
    assert (result.status, result.records[0].status) == (302, 302)


def test_redirect_loop(site: FaultSite, fetcher: Fetcher) -> None:
    result = fetcher.fetch_page(site.url("/loop-a"))
    assert kinds(result) == [ErrorKind.TOO_MANY_REDIRECTS]
    assert result.records[0].redirects == (site.url("/loop-b"),)
    assert "loop" in result.records[0].error_detail
    assert site.paths() == ["/loop-a", "/loop-b"]


def test_redirect_to_another_host(site: FaultSite, make_fetcher: Callable[..., Fetcher]) -> None:
    with FaultSite() as other:
        target = other.url("/ok", host="other.test")
        fetcher = make_fetcher(resolver=stub_resolver({"other.test": ["127.0.0.1"]}))
        result = fetcher.fetch_page(site.url(f"/redirect?to={target}&status=301"))
    assert (result.ok, result.final_url, result.body) == (True, target, PAGE_HTML)
    assert [r.headers["host"] for r in other.requests] == [f"other.test:{other.port}"]


@pytest.mark.parametrize("url", ["ftp://example.com/file", "javascript:alert(1)", "file:///etc/passwd",
                                 "/relative/path", "data:text/html,hi", "http://"])
def test_unsupported_urls(fetcher: Fetcher, sleep: RecordingSleep, url: str) -> None:
    result = fetcher.fetch_page(url)
    assert kinds(result) == [ErrorKind.UNSUPPORTED_URL]
    assert (result.status, result.records[0].final_url, sleep.waits) == (None, None, [])


def test_redirect_to_unsupported_scheme(site: FaultSite, fetcher: Fetcher) -> None:
    result = fetcher.fetch_page(site.url("/redirect?to=ftp://example.com/x"))
    assert kinds(result) == [ErrorKind.UNSUPPORTED_URL]
    assert (result.status, result.records[0].redirects) == (302, ("ftp://example.com/x",))


# --- robots.txt -----------------------------------------------------------------------------------

ROBOTS = "User-agent: *\nDisallow: /echo\n\nUser-agent: ingest\nDisallow: /private\nDisallow: /404\n"


def test_robots_disallow(site: FaultSite, make_fetcher: Callable[..., Fetcher]) -> None:
    site.robots = (200, ROBOTS)
    fetcher = make_fetcher(respect_robots=True)
    denied = fetcher.fetch_page(site.url("/404"))
    allowed = [fetcher.fetch_page(site.url(p)) for p in ("/ok", "/echo")]  # /echo: only for other agents
    assert kinds(denied) == [ErrorKind.ROBOTS]
    assert (denied.status, denied.records[0].final_url) == (None, None)
    assert [r.ok for r in allowed] == [True, True]
    assert site.paths() == ["/robots.txt", "/ok", "/echo"]
    [robots] = fetcher.take_robots_fetches()
    assert (robots.url, robots.status, robots.body) == (site.url("/robots.txt"), 200, ROBOTS.encode())
    assert fetcher.take_robots_fetches() == []


@pytest.mark.parametrize(("rules", "path", "allowed"), [
    # RFC 9309 2.2.2: the longest match wins, not the first
    ("User-agent: *\nDisallow: /\nAllow: /ok\n", "/ok", True),
    ("User-agent: *\nDisallow: /\nAllow: /ok\n", "/echo", False),
    # `*` and `$` are wildcards
    ("User-agent: *\nDisallow: /*?\n", "/ok?x=1", False),
    ("User-agent: *\nDisallow: /*?\n", "/ok", True),
    ("User-agent: *\nDisallow: /ok$\n", "/ok", False),
    ("User-agent: *\nDisallow: /ok$\n", "/ok?x=1", True),
])
def test_robots_rules_follow_rfc_9309(site: FaultSite, make_fetcher: Callable[..., Fetcher], rules: str,
                                      path: str, allowed: bool) -> None:
    site.robots = (200, rules)
    result = make_fetcher(respect_robots=True).fetch_page(site.url(path))
    assert result.ok is allowed
    assert kinds(result) == ([None] if allowed else [ErrorKind.ROBOTS])


def test_robots_is_checked_on_every_redirect_hop(site: FaultSite, make_fetcher: Callable[..., Fetcher]) -> None:
    site.robots = (200, ROBOTS)
    result = make_fetcher(respect_robots=True).fetch_page(site.url("/redirect?to=/private"))
    assert kinds(result) == [ErrorKind.ROBOTS]
    assert (result.status, result.records[0].redirects) == (302, (site.url("/private"),))
    assert site.paths() == ["/robots.txt", "/redirect?to=/private"]


def test_feeds_and_disabled_robots_skip_robots_txt(site: FaultSite, make_fetcher: Callable[..., Fetcher]) -> None:
    site.robots = (200, "User-agent: *\nDisallow: /\n")
    assert make_fetcher(respect_robots=True).fetch_feed(site.url("/conditional")).ok
    assert make_fetcher(respect_robots=False).fetch_page(site.url("/ok")).ok
    assert site.paths() == ["/conditional", "/ok"]


@pytest.mark.parametrize(("robots", "page_kind"), [
    ((404, ""), None), ((410, ""), None), ((403, ""), None),  # unavailable: allowed
    # unreachable (RFC 9309 2.3.1.4): disallowed for now, with a retryable kind, so the page is tried again
    ((500, ""), ErrorKind.HTTP_5XX), ((503, ""), ErrorKind.HTTP_5XX), ((429, ""), ErrorKind.RATE_LIMITED),
])
def test_robots_status_policy(site: FaultSite, make_fetcher: Callable[..., Fetcher],
                              robots: tuple[int, str], page_kind: ErrorKind | None) -> None:
    site.robots = robots
    fetcher = make_fetcher(respect_robots=True, retries=0)
    assert [error_kind(fetcher.fetch_page(site.url("/ok"))) for _ in range(2)] == [page_kind] * 2
    assert site.paths().count("/robots.txt") == 1
    assert ("/ok" in site.paths()) is (page_kind is None)


def test_unreachable_robots_reports_the_network_failure(make_fetcher: Callable[..., Fetcher]) -> None:
    result = make_fetcher(respect_robots=True, retries=0).fetch_page(f"http://127.0.0.1:{closed_port()}/a")
    assert kinds(result) == [ErrorKind.REFUSED]
    assert "robots.txt" in result.records[0].error_detail


def test_long_robots_txt_is_parsed_up_to_its_first_512_kib(site: FaultSite,
                                                           make_fetcher: Callable[..., Fetcher]) -> None:
    head = "User-agent: *\nDisallow: /404\n"
    site.robots = (200, head + "# padding\n" * 70_000 + "Disallow: /ok\n")  # ~700 KB
    fetcher = make_fetcher(respect_robots=True)
    assert kinds(fetcher.fetch_page(site.url("/404"))) == [ErrorKind.ROBOTS]
    assert fetcher.fetch_page(site.url("/ok")).ok  # its rule lies beyond the part read
    [robots] = fetcher.take_robots_fetches()
    assert (robots.ok, len(robots.body), robots.body[:len(head)]) == (True, ROBOTS_MAX_BYTES, head.encode())


def test_robots_helpers() -> None:
    assert user_agent_token("ingest/0.1.0 (+https://github.com/ingest-news/ingest)") == "ingest"
    assert user_agent_token("Mozilla/5.0 (X11)") == "mozilla"
    assert robots_url("https://Example.com:8443/a/b?c=1#f") == "https://example.com:8443/robots.txt"
    assert robots_url("http://example.com/a") == "http://example.com/robots.txt"
    assert robots_url("ftp://example.com/a") is None


def test_concurrent_pages_share_one_robots_fetch(site: FaultSite, make_fetcher: Callable[..., Fetcher]) -> None:
    site.robots = (200, ROBOTS)
    fetcher = make_fetcher(respect_robots=True, per_host_concurrency=8)
    results = run_threads(8, lambda i: fetcher.fetch_page(site.url(f"/echo?i={i}")))
    assert [r.ok for r in results] == [True] * 8
    assert site.paths().count("/robots.txt") == 1


# --- politeness -----------------------------------------------------------------------------------

def run_threads(n: int, work: Callable[[int], FetchResult]) -> list[FetchResult]:
    results: list[FetchResult | None] = [None] * n

    def run(i: int) -> None:
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_per_host_concurrency(site: FaultSite, make_fetcher: Callable[..., Fetcher]) -> None:
    fetcher = make_fetcher(per_host_concurrency=1, timeout_s=5.0)
    results = run_threads(3, lambda i: fetcher.fetch_page(site.url(f"/slow?delay=0.2&i={i}")))
    assert [r.ok for r in results] == [True] * 3
    assert site.max_in_flight == 1


def test_global_connection_cap(site: FaultSite, make_fetcher: Callable[..., Fetcher]) -> None:
    names = [f"h{i}.test" for i in range(4)]
    fetcher = make_fetcher(resolver=stub_resolver({n: ["127.0.0.1"] for n in names}),
                           max_connections=2, per_host_concurrency=4, timeout_s=5.0)
    results = run_threads(4, lambda i: fetcher.fetch_page(site.url("/slow?delay=0.2", host=names[i])))
    assert [r.ok for r in results] == [True] * 4
    assert site.max_in_flight <= 2


def test_per_host_delay_spaces_request_starts(site: FaultSite, make_fetcher: Callable[..., Fetcher],
                                              sleep: RecordingSleep) -> None:
    # The recording sleep returns at once, so each reservation lands 10 s after the previous one.
    fetcher = make_fetcher(resolver=stub_resolver({"other.test": ["127.0.0.1"]}), per_host_delay_s=10.0)
    for _ in range(3):
        assert fetcher.fetch_page(site.url("/ok")).ok
    assert fetcher.fetch_page(site.url("/ok", host="other.test")).ok  # another host: no wait
    assert len(sleep.waits) == 2
    assert 9.0 < sleep.waits[0] <= 10.0 and 19.0 < sleep.waits[1] <= 20.0
