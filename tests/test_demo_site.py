"""The local news-site server, the bundled demo site and the corpus site, over real HTTP on loopback."""

from __future__ import annotations

import gzip
import json
import os
import urllib.robotparser
from collections import Counter
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import feedparser
import httpx
import pytest
import yaml

from ingest.config import parse_config
from ingest.demo.server import NewsSite, Route
from ingest.demo.site import (
    ATOM_PATH,
    RSS_PATH,
    DemoArticle,
    corpus_routes,
    demo_config_yaml,
    demo_manifest,
    demo_routes,
    demo_site,
)

REPO = Path(__file__).resolve().parents[1]
TRACKING = "utm_source=rss&utm_medium=feed&fbclid=abc"
SEED_PATH = "/news/ukraine-s-stance-on-north-korean-prisoners.html"
STATUS_FOR = {"archived": 200, "duplicate": 200, "http_4xx": 404, "bot_wall": 403}


def corpus_dir() -> Path:
    return Path(os.environ.get("INGEST_CORPUS_DIR") or REPO.parent / "shared" / "corpus")


needs_corpus = pytest.mark.skipif(
    not (corpus_dir() / "news-pages").is_dir(),
    reason=f"shared corpus not found at {corpus_dir()} (set INGEST_CORPUS_DIR)",
)


@pytest.fixture(scope="module")
def site() -> Iterator[NewsSite]:
    with demo_site(port=0) as s:
        yield s


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    # trust_env=False: a proxy from the environment must not sit between the tests and loopback.
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def feeds(site: NewsSite, client: httpx.Client) -> dict[str, feedparser.FeedParserDict]:
    out = {}
    for key, path in (("rss", RSS_PATH), ("atom", ATOM_PATH)):
        response = client.get(site.url(path))
        assert response.status_code == 200
        out[key] = feedparser.parse(response.content)
    return out


def _path_of(site: NewsSite, link: str) -> str:
    assert link.startswith(site.base_url + "/"), link
    return link[len(site.base_url):]


# --- the demo content -------------------------------------------------------------------------------


def test_manifest_holds_the_promised_cases() -> None:
    items = demo_manifest()
    counts = Counter(i.expected for i in items)
    assert counts["duplicate"] == 1 and counts["http_4xx"] == 1 and counts["bot_wall"] == 1
    assert counts["archived"] >= 30
    assert set(counts) == set(STATUS_FOR)
    assert len({i.path for i in items}) == len(items)
    assert not [i.path for i in items if i.path.startswith("/private/")]
    archived = [i for i in items if i.expected == "archived"]
    languages = {i.language for i in archived}
    assert {"en", "de", "ja", "ru", "fr", "es", "it", "pl", "tr", "ko", "ar"} <= languages
    assert [i.path for i in items if i.feeds == ("rss", "atom")] == ["/news/articles/clymn8zyrp9o"]
    assert [(i.path, i.tracking_query) for i in items if i.tracking_query] == [
        ("/politique/article/2023/08/30/sophie-binet-met-en-garde-emmanuel-macron-sur-la-gravite-de-la-"
         "situation-dans-le-pays_6187099_823448.html", TRACKING)]
    assert [(i.path, i.language) for i in items if i.charset != "utf-8"] == [
        ("/rus/articles/2026/01/08/8015225/", "ru")]
    seed = next(i for i in items if i.path == SEED_PATH)
    assert seed == DemoArticle(
        path=SEED_PATH, title="Ukraine’s Stance on North Korean Prisoners of War and Military Cooperation "
        "with South Korea", expected="archived", feeds=("rss",), original_url=None, language="en",
        charset="utf-8")


def test_every_manifest_page_has_its_data_file() -> None:
    data = files("ingest.demo").joinpath("data")
    manifest = json.loads(data.joinpath("manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["items"]) == len(demo_manifest())
    for item in manifest["items"]:
        if item["status"] == 404:
            assert item["file"] is None
            continue
        raw = gzip.decompress(data.joinpath(item["file"]).read_bytes())
        assert len(raw) > 1000, item["file"]
    routes = demo_routes()
    assert {i.path for i in demo_manifest() if i.expected != "http_4xx"} <= set(routes)
    assert [i.path for i in demo_manifest() if i.path in routes and i.expected == "http_4xx"] == []


def test_feeds_parse_and_list_exactly_the_manifest(site: NewsSite, feeds: dict) -> None:
    assert feeds["rss"].version == "rss20" and not feeds["rss"].bozo
    assert feeds["atom"].version == "atom10" and not feeds["atom"].bozo
    items = demo_manifest()
    for key, feed in feeds.items():
        listed = {_path_of(site, e.link).split("?")[0] for e in feed.entries}
        assert listed == {i.path for i in items if key in i.feeds}, key
        assert len(feed.entries) == len(listed)


def test_feed_entries_carry_realistic_fields(site: NewsSite, feeds: dict) -> None:
    by_path = {i.path: i for i in demo_manifest()}
    for feed in feeds.values():
        for entry in feed.entries:
            article = by_path[_path_of(site, entry.link).split("?")[0]]
            assert entry.title == article.title
            assert entry.id == site.url(article.path)
            assert entry.published_parsed is not None
            assert entry.tags and entry.tags[0].term
            assert entry.summary
    rss_seed = next(e for e in feeds["rss"].entries if e.link == site.url(SEED_PATH))
    assert rss_seed.author == "RBC-Ukraine newsroom"
    assert rss_seed.published == "Thu, 20 Feb 2025 08:15:00 GMT"
    assert rss_seed.tags[0].term == "War in Ukraine"
    bbc = next(e for e in feeds["atom"].entries if e.link == site.url("/news/articles/clymn8zyrp9o"))
    assert bbc.published == "2026-04-25T15:30:36+00:00"
    assert bbc.author == "Duncan Walker"


def test_tracking_link_and_double_listing(site: NewsSite, client: httpx.Client, feeds: dict) -> None:
    rss_links = [e.link for e in feeds["rss"].entries]
    atom_links = [e.link for e in feeds["atom"].entries]
    assert set(rss_links) & set(atom_links) == {site.url("/news/articles/clymn8zyrp9o")}
    tracked = [link for link in rss_links + atom_links if "?" in link]
    lemonde = ("/politique/article/2023/08/30/sophie-binet-met-en-garde-emmanuel-macron-sur-la-gravite-de-la-"
               "situation-dans-le-pays_6187099_823448.html")
    assert tracked == [site.url(f"{lemonde}?{TRACKING}")]
    assert tracked[0] in atom_links
    with_params = client.get(tracked[0])
    assert with_params.status_code == 200
    assert with_params.content == client.get(site.url(lemonde)).content


def test_every_listed_link_answers_with_its_expected_status(site: NewsSite, client: httpx.Client,
                                                           feeds: dict) -> None:
    by_path = {i.path: i for i in demo_manifest()}
    for feed in feeds.values():
        for entry in feed.entries:
            article = by_path[_path_of(site, entry.link).split("?")[0]]
            response = client.get(entry.link)
            assert response.status_code == STATUS_FOR[article.expected], entry.link
            if article.expected == "bot_wall":
                assert response.headers["cf-mitigated"] == "challenge"
                assert "<title>Just a moment...</title>" in response.text
            elif response.status_code == 200:
                assert response.headers["content-type"] == f"text/html; charset={article.charset}"
                assert b"<html" in response.content[:3000].lower()


def test_cp1251_page_is_really_windows_1251(site: NewsSite, client: httpx.Client) -> None:
    article = next(i for i in demo_manifest() if i.charset == "windows-1251")
    response = client.get(site.url(article.path))
    assert response.headers["content-type"] == "text/html; charset=windows-1251"
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")
    text = response.content.decode("cp1251")
    assert article.title == "157 миллионов за бездействие. Как судьи ликвидированного ОАСК до сих пор сидят на выплатах из госбюджета"
    assert article.title in text
    assert '<meta charset="windows-1251">' in text
    assert "utf-8" not in text[:2000].lower()


@needs_corpus
def test_cp1251_page_extracts_like_its_utf8_original(site: NewsSite, client: httpx.Client) -> None:
    import trafilatura

    article = next(i for i in demo_manifest() if i.charset == "windows-1251")
    original = gzip.decompress((corpus_dir() / "news-pages/ua/Pravda_2026_01_08.html.gz").read_bytes())
    served = client.get(site.url(article.path)).content.decode("cp1251")
    expected = trafilatura.extract(original, url=article.original_url)
    assert expected and len(expected) > 5000
    assert trafilatura.extract(served, url=article.original_url) == expected


def test_seed_article_page(site: NewsSite, client: httpx.Client) -> None:
    import trafilatura

    seed_file = corpus_dir() / "seed-article.txt"
    lines = [ln for ln in seed_file.read_text(encoding="utf-8").splitlines() if ln] if seed_file.is_file() else []
    page = client.get(site.url(SEED_PATH))
    assert page.status_code == 200
    html = page.text
    assert '<html lang="en">' in html
    assert f'<link rel="canonical" href="{SEED_PATH}">' in html
    assert '<meta property="og:site_name" content="RBC-Ukraine">' in html
    assert '<meta property="article:published_time" content="2025-02-20T10:15:00+02:00">' in html
    text = trafilatura.extract(page.content, url=site.url(SEED_PATH))
    assert text is not None
    if lines:  # the seed text itself lives in the shared corpus
        assert text.splitlines()[-1] == lines[-1] == "Original Source: newsukraine.rbc.ua"
        assert all(p in text for p in lines[1:])
    copy_path = next(a.path for a in demo_manifest() if a.expected == "duplicate")
    copy = client.get(site.url(copy_path))
    assert f'<link rel="canonical" href="{copy_path}">' in copy.text  # a partner's own URL, not the original's
    assert '<meta property="og:site_name" content="Kyiv Wire">' in copy.text
    assert trafilatura.extract(copy.content, url=site.url(copy_path)) == text


def test_robots_txt_keeps_out_of_private_only(site: NewsSite, client: httpx.Client, feeds: dict) -> None:
    robots = client.get(site.url("/robots.txt"))
    assert robots.status_code == 200
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(robots.text.splitlines())
    assert not parser.can_fetch("ingest", site.url("/private/staff-notes.html"))
    assert client.get(site.url("/private/staff-notes.html")).status_code == 200
    for feed in feeds.values():
        for entry in feed.entries:
            assert parser.can_fetch("ingest", entry.link)


def test_gzip_when_asked_with_content_length(site: NewsSite, client: httpx.Client) -> None:
    url = site.url("/news/articles/clymn8zyrp9o")
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert int(plain.headers["content-length"]) == len(plain.content) > 100_000
    with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
        assert int(response.headers["content-length"]) == len(raw) < len(plain.content) // 3
    assert gzip.decompress(raw) == plain.content
    refused = client.get(url, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers


def test_head_matches_get_without_body(site: NewsSite, client: httpx.Client) -> None:
    url = site.url(RSS_PATH)
    head = client.head(url, headers={"Accept-Encoding": "identity"})
    get = client.get(url, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
    assert ("HEAD", RSS_PATH) in site.requests


def test_demo_config_yaml_is_a_valid_config() -> None:
    text = demo_config_yaml("http://127.0.0.1:8642", database="sqlite:///data/demo.db")
    config = parse_config(yaml.safe_load(text))
    assert config.database == "sqlite:///data/demo.db"
    assert [(s.name, s.feed) for s in config.sources] == [
        ("demo-world", "http://127.0.0.1:8642/feeds/world.rss"),
        ("demo-europe", "http://127.0.0.1:8642/feeds/europe.atom"),
    ]
    assert config.invalid_sources == ()
    fetch = config.fetch
    assert (fetch.allow_private_networks, fetch.per_host_delay_s, fetch.per_host_concurrency,
            fetch.respect_robots, fetch.timeout_s) == (True, 0, 8, True, 10)
    assert parse_config(yaml.safe_load(demo_config_yaml("http://127.0.0.1:1/"))).database is None


# --- the generic server -----------------------------------------------------------------------------


def test_server_routing_by_path_and_query(client: httpx.Client) -> None:
    routes = {
        "/a": Route(200, (("Content-Type", "text/plain"),), b"a"),
        "/b?x=1": Route(200, (), b"b1"),
        "/b?x=2": Route(200, (), b"b2"),
        "/story?ref=rss": Route(200, (), b"story"),
        "/f%C3%BCr": Route(200, (), b"fuer"),
        "/live": Route(201, (("X-Demo", "yes"),), lambda base: base.encode()),
    }
    with NewsSite(routes) as s:
        def get(path: str) -> tuple[int, bytes]:
            r = client.get(s.url(path))
            return r.status_code, r.content

        assert get("/a") == (200, b"a")
        assert get("/a?utm_source=x") == (200, b"a")
        assert get("/b?x=2") == (200, b"b2")
        assert get("/b")[0] == 404  # two routes share the path: only the exact query picks one
        assert get("/story") == (200, b"story")
        assert get("/story?ref=rss&utm_medium=feed") == (200, b"story")
        assert get("/für") == (200, b"fuer")
        assert get("/nothing")[0] == 404
        live = client.get(s.url("/live"))
        assert (live.status_code, live.content, live.headers["x-demo"]) == (201, s.base_url.encode(), "yes")
        assert s.base_url == f"http://127.0.0.1:{s.port}" and s.port > 0
        assert s.requests[:3] == [("GET", "/a"), ("GET", "/a?utm_source=x"), ("GET", "/b?x=2")]
        assert len(s.requests) == 9
    with pytest.raises(httpx.TransportError):  # the pooled keep-alive connection is gone too
        client.get(s.url("/a"))


# --- the corpus site --------------------------------------------------------------------------------


@needs_corpus
def test_corpus_routes_serve_every_existing_page(client: httpx.Client) -> None:
    root = corpus_dir() / "news-pages"
    existing = {(m.parent.name, n) for m in root.glob("*/meta.info")
                for n in json.loads(m.read_text(encoding="utf-8")) if (m.parent / n).is_file()}
    routes, pages = corpus_routes(corpus_dir())
    assert {(p.country, p.file.name) for p in pages} == existing
    assert len({p.path for p in pages}) == len(pages)
    taz = sorted(p.path for p in pages if p.publisher == "Taz")
    assert taz == ["/Entwurf-des-Selbstbestimmungsgesetzes/!5928990/",
                   "/Taz/Entwurf-des-Selbstbestimmungsgesetzes/!5928990/"]
    with NewsSite(routes) as s:
        for page in pages:
            response = client.get(s.url(page.path))
            assert response.status_code == 200, page.path
            assert response.content == gzip.decompress(page.file.read_bytes()), page.path
        feed = feedparser.parse(client.get(s.url("/feed.xml")).content)
        assert not feed.bozo
        assert sorted(_path_of(s, e.link) for e in feed.entries) == sorted(p.path for p in pages)
        uk = feedparser.parse(client.get(s.url("/feed-uk.xml")).content)
        assert sorted(_path_of(s, e.link) for e in uk.entries) == sorted(
            p.path for p in pages if p.country == "uk")
