"""URL canonicalisation: exact (input, expected) tables, idempotence, and the link/site/canonical rules."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import tld.base

from ingest import urls
from ingest.urls import (
    TRACKING_PARAMS,
    canonicalize,
    choose_canonical,
    registrable_domain,
    resolve_link,
    same_site,
)

CANONICAL_CASES: list[tuple[str, str]] = [
    # scheme and host case, default ports, fragment, userinfo, empty path
    ("HTTP://WWW.Example.COM/Path", "http://www.example.com/Path"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com?", "https://example.com/"),
    ("https://example.com/?", "https://example.com/"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://example.com:443/a", "http://example.com:443/a"),
    ("https://example.com:80/a", "https://example.com:80/a"),
    ("https://example.com:0443/a", "https://example.com/a"),
    ("http://example.com:/a", "http://example.com/a"),
    ("https://example.com/a#section-2", "https://example.com/a"),
    ("https://example.com/a?x=1#frag?y=2", "https://example.com/a?x=1"),
    ("https://user:secret@example.com/a", "https://example.com/a"),
    ("https://user@example.com:8443/a", "https://example.com:8443/a"),
    ("https://example.com./a", "https://example.com/a"),
    ("  https://example.com/a\n", "https://example.com/a"),
    ("https://exam\tple.com/a\r\nb", "https://example.com/ab"),
    # dot segments; trailing slash kept; double slashes kept
    ("https://example.com/a/./b/../c", "https://example.com/a/c"),
    ("https://example.com/a/b/..", "https://example.com/a/"),
    ("https://example.com/../../a", "https://example.com/a"),
    ("https://example.com/a/%2E%2E/b", "https://example.com/b"),
    ("https://example.com/news/", "https://example.com/news/"),
    ("https://example.com/news", "https://example.com/news"),
    ("https://example.com/a//b", "https://example.com/a//b"),
    # percent-encoding: upper-case hex, unreserved decoded, reserved kept encoded, the rest encoded
    ("https://example.com/%7euser/%2fpath%3f", "https://example.com/~user/%2Fpath%3F"),
    ("https://example.com/%41%42c-%5F", "https://example.com/ABc-_"),
    ("https://example.com/a b<c>|d", "https://example.com/a%20b%3Cc%3E%7Cd"),
    ("https://example.com/50%", "https://example.com/50%25"),
    ("https://example.com/%zz", "https://example.com/%25zz"),
    ("https://example.com/a:b@c;d=e,f", "https://example.com/a:b@c;d=e,f"),
    ("https://example.com/s?q=a%2Bb&r=a+b", "https://example.com/s?q=a%2Bb&r=a+b"),
    ("https://example.com/s?q=%e2%82%ac&p=%7E", "https://example.com/s?p=~&q=%E2%82%AC"),
    ("https://example.com/s?next=/a?b", "https://example.com/s?next=/a?b"),
    ("https://example.com/s?a[]=1", "https://example.com/s?a%5B%5D=1"),
    # unicode paths (rbc.ua and others): UTF-8, percent-encoded, same as the pre-encoded form
    (
        "https://www.rbc.ua/rus/news/новина-1700000000.html",
        "https://www.rbc.ua/rus/news/%D0%BD%D0%BE%D0%B2%D0%B8%D0%BD%D0%B0-1700000000.html",
    ),
    (
        "https://www.rbc.ua/rus/news/%d0%bd%d0%be%d0%b2%d0%b8%d0%bd%d0%b0-1700000000.html",
        "https://www.rbc.ua/rus/news/%D0%BD%D0%BE%D0%B2%D0%B8%D0%BD%D0%B0-1700000000.html",
    ),
    ("https://example.com/caf%E9", "https://example.com/caf%E9"),  # not UTF-8: left as bytes
    # IDN hosts: punycode, whichever way the host was written
    ("http://Bücher.de/Straße", "http://xn--bcher-kva.de/Stra%C3%9Fe"),
    ("http://xn--bcher-kva.de/", "http://xn--bcher-kva.de/"),
    ("http://b%C3%BCcher.de/", "http://xn--bcher-kva.de/"),
    ("https://президент.рф/news", "https://xn--d1abbgf6aiiy.xn--p1ai/news"),
    ("https://faß.de/", "https://xn--fa-hia.de/"),
    ("https://ｅｘａｍｐｌｅ.com/", "https://example.com/"),
    # IP literals and localhost
    ("http://127.0.0.1:8642/feed.xml", "http://127.0.0.1:8642/feed.xml"),
    ("http://127.0.0.1:80/", "http://127.0.0.1/"),
    ("http://[2001:DB8:0:0::1]:8080/x", "http://[2001:db8::1]:8080/x"),
    ("https://[::1]:443/a", "https://[::1]/a"),
    ("http://LOCALHOST:8000", "http://localhost:8000/"),
    ("http://m.localhost/", "http://m.localhost/"),
    # tracking parameters, alone and mixed, with the remaining ones sorted
    ("https://example.com/a?utm_source=rss&utm_medium=feed&utm_campaign=x", "https://example.com/a"),
    ("https://example.com/a?UTM_Source=x&Utm_Whatever=y", "https://example.com/a"),
    ("https://example.com/a?id=5&fbclid=IwAR0abc&utm_source=fb", "https://example.com/a?id=5"),
    ("https://example.com/a?gclid=1&dclid=2&msclkid=3&yclid=4&_ga=5&_gl=6", "https://example.com/a"),
    ("https://example.com/a?mc_cid=1&mc_eid=2&igshid=3&mkt_tok=4&_hsenc=5&_hsmi=6", "https://example.com/a"),
    ("https://example.com/a?ocid=msedgntp&taid=1&guccounter=1&guce_referrer=x", "https://example.com/a"),
    ("https://example.com/a?WT.mc_id=x&wt_mc=y&spm=a2c&smid=tw-share&share=1", "https://example.com/a"),
    ("https://example.com/a?at_medium=x&at_campaign=y&at_custom1=z&at_custom4=w", "https://example.com/a"),
    ("https://example.com/a?ns_mchannel=a&ns_source=b&ns_campaign=c&ns_linkname=d&ns_fee=0", "https://example.com/a"),
    ("https://example.com/a?p=2&page=3&src=twitter&ref=home", "https://example.com/a?p=2&page=3&ref=home&src=twitter"),
    ("https://example.com/a?src=rss&ref=RSS&feature=share", "https://example.com/a"),
    ("https://example.com/a?feature=related", "https://example.com/a?feature=related"),
    ("https://example.com/a?utm%5Fsource=x&b=1", "https://example.com/a?b=1"),
    ("https://example.com/a?b=2&a=1&c=3", "https://example.com/a?a=1&b=2&c=3"),
    ("https://example.com/a?tag=z&x=1&tag=a&tag=m", "https://example.com/a?tag=z&tag=a&tag=m&x=1"),
    ("https://example.com/a?&&b=1&&", "https://example.com/a?b=1"),
    ("https://example.com/a?b=&a", "https://example.com/a?a&b="),
    ("https://example.com/a?utm_source=x", "https://example.com/a"),
    (
        "https://www.politico.eu/article/catherine-connolly/?utm_source=RSS_Feed&utm_medium=RSS&utm_campaign=RSS_Syndication",
        "https://www.politico.eu/article/catherine-connolly/",
    ),
    ("https://www.cbc.ca/news/world/gaza-1.7287711?cmp=rss", "https://www.cbc.ca/news/world/gaza-1.7287711"),
    ("https://www.theguardian.com/world/2024/x?CMP=share_btn_tw", "https://www.theguardian.com/world/2024/x"),
    (
        "https://www.heise.de/news/Phishing-9691259.html?wt_mc=rss.red.ho.ho.rdf.beitrag.beitrag&seite=all",
        "https://www.heise.de/news/Phishing-9691259.html?seite=all",
    ),
    ("https://www.dw.com/de/a/a-65464327?maca=de-rss-de-all-1119-xml-mrss", "https://www.dw.com/de/a/a-65464327"),
    # AMP: path segment, trailing segment, suffixes, query switches, host prefix
    ("https://www.bbc.co.uk/news/amp/world-europe-68000000", "https://www.bbc.co.uk/news/world-europe-68000000"),
    ("https://www.bbc.co.uk/news/world-europe-68000000.amp", "https://www.bbc.co.uk/news/world-europe-68000000"),
    ("https://www.bbc.com/ukrainian/articles/c4nn.amp", "https://www.bbc.com/ukrainian/articles/c4nn"),
    ("https://amp.theguardian.com/world/2024/jan/01/slug", "https://theguardian.com/world/2024/jan/01/slug"),
    ("https://example.com/2024/01/slug/amp/", "https://example.com/2024/01/slug/"),
    ("https://example.com/2024/01/slug/amp", "https://example.com/2024/01/slug"),
    ("https://example.com/amp/2024/01/slug", "https://example.com/2024/01/slug"),
    ("https://example.com/amp", "https://example.com/"),
    ("https://example.com/news/story.amp.html", "https://example.com/news/story.html"),
    ("https://example.com/news/story?amp=1", "https://example.com/news/story"),
    ("https://example.com/news/story?amp&id=3", "https://example.com/news/story?id=3"),
    ("https://example.com/news/story?outputType=amp&id=3", "https://example.com/news/story?id=3"),
    ("https://example.com/news/story?outputType=print", "https://example.com/news/story?outputType=print"),
    ("https://example.com/news/amplifier/example.ampersand", "https://example.com/news/amplifier/example.ampersand"),
    ("https://example.com/x.amp/amp", "https://example.com/x"),
    ("https://amp.dev/documentation/", "https://amp.dev/documentation/"),
    # Google AMP cache and viewer URLs: the publisher's URL, itself canonicalised
    (
        "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/2024/01/slug/amp/?amp_js_v=0.1&usqp=mq331AQ",
        "https://www.example.com/2024/01/slug/",
    ),
    (
        "https://www-bbc-co-uk.cdn.ampproject.org/v/s/www.bbc.co.uk/news/amp/uk-68000000?amp_js_v=a6&amp_gsa=1",
        "https://www.bbc.co.uk/news/uk-68000000",
    ),
    ("https://example-com.cdn.ampproject.org/c/example.com/a?id=1", "http://example.com/a?id=1"),
    ("https://www.google.com/amp/s/www.example.com/news/story.amp.html", "https://www.example.com/news/story.html"),
    ("https://www.google.co.uk/amp/s/m.example.co.uk/a", "https://example.co.uk/a"),
    ("https://www.google.com/search?q=amp", "https://www.google.com/search?q=amp"),
    ("https://cdn.ampproject.org/v0.js", "https://cdn.ampproject.org/v0.js"),
    # mobile hosts: "m." and "mobile." dropped while a whole site remains; "www." kept
    ("https://m.facebook.com/story.php?story_fbid=1&id=2", "https://facebook.com/story.php?id=2&story_fbid=1"),
    ("https://mobile.twitter.com/user/status/1", "https://twitter.com/user/status/1"),
    ("https://m.example.co.uk/a", "https://example.co.uk/a"),
    ("https://m.co.uk/a", "https://m.co.uk/a"),
    ("https://m.com.ua/a", "https://m.com.ua/a"),
    ("https://www.example.com/a", "https://www.example.com/a"),
    ("https://amp.m.example.com/a", "https://example.com/a"),
    ("https://mail.example.com/a", "https://mail.example.com/a"),
    ("https://m.rbc.ua/ukr/news/slug-1700000000.html", "https://rbc.ua/ukr/news/slug-1700000000.html"),
    # rbc.ua and its subdomains are left apart (only "same_site" joins them)
    (
        "https://newsukraine.rbc.ua/news/slug-1700000000.html?utm_source=rss&utm_medium=rss",
        "https://newsukraine.rbc.ua/news/slug-1700000000.html",
    ),
]

INVALID_URLS = [
    "",
    "   ",
    "/relative/path",
    "example.com/a",
    "ftp://example.com/file",
    "javascript:alert(1)",
    "mailto:a@example.com",
    "data:text/html,hi",
    "file:///etc/passwd",
    "http://",
    "https:///path",
    "http://[::1/",
    "http://[not-ipv6]/",
    "http://example.com:99999/",
    "http://example.com:8x/",
    "http://exa mple.com/",
    "http://a..b.com/",
    "http://exa<mple.com/",
]


@pytest.mark.parametrize(("url", "expected"), CANONICAL_CASES)
def test_canonicalize(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


def test_case_table_is_large_and_unique() -> None:
    inputs = [url for url, _ in CANONICAL_CASES]
    assert len(inputs) >= 60
    assert len(set(inputs)) == len(inputs)


def test_canonicalize_is_idempotent_over_every_case() -> None:
    not_fixed = []
    for url, _ in CANONICAL_CASES:
        once = canonicalize(url)
        if canonicalize(once) != once:
            not_fixed.append((url, once, canonicalize(once)))
    assert not_fixed == []


def test_every_expected_value_is_itself_canonical() -> None:
    assert [e for _, e in CANONICAL_CASES if canonicalize(e) != e] == []


@pytest.mark.parametrize("url", INVALID_URLS)
def test_canonicalize_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        canonicalize(url)


def test_every_listed_tracking_parameter_is_dropped_and_is_lower_case() -> None:
    assert all(name == name.lower() for name in TRACKING_PARAMS)
    for name in sorted(TRACKING_PARAMS):
        assert canonicalize(f"https://example.com/a?{name}=1&keep=1") == "https://example.com/a?keep=1", name
        assert canonicalize(f"https://example.com/a?{name.upper()}=1") == "https://example.com/a", name


@pytest.mark.parametrize(
    ("href", "base", "expected"),
    [
        ("https://example.com/a", None, ("https://example.com/a", None)),
        ("  https://example.com/a\n", None, ("https://example.com/a", None)),
        ("HTTP://Example.com/a", None, ("HTTP://Example.com/a", None)),  # resolved, not canonicalised
        ("/news/1?x=1", "https://example.com/feed/rss.xml", ("https://example.com/news/1?x=1", None)),
        ("2.html", "https://example.com/news/1.html", ("https://example.com/news/2.html", None)),
        ("../b", "https://example.com/a/c/d", ("https://example.com/a/b", None)),
        ("//cdn.example.net/x", "https://example.com/", ("https://cdn.example.net/x", None)),
        ("?page=2", "http://127.0.0.1:8642/list?page=1", ("http://127.0.0.1:8642/list?page=2", None)),
        ("#top", "https://example.com/a", ("https://example.com/a#top", None)),  # fragments are the fetcher's to drop
        ("http://other.org/x", "https://example.com/", ("http://other.org/x", None)),
        (None, "https://example.com/", (None, "missing")),
        ("", "https://example.com/", (None, "missing")),
        (" \t\n", "https://example.com/", (None, "missing")),
        ("javascript:void(0)", "https://example.com/", (None, "unsupported scheme: javascript")),
        ("JavaScript:alert(1)", None, (None, "unsupported scheme: javascript")),
        ("data:text/html;base64,PGI+", "https://example.com/", (None, "unsupported scheme: data")),
        ("file:///etc/passwd", "https://example.com/", (None, "unsupported scheme: file")),
        ("ftp://example.com/f.txt", "https://example.com/", (None, "unsupported scheme: ftp")),
        ("mailto:desk@example.com", "https://example.com/", (None, "unsupported scheme: mailto")),
        ("tel:+380441234567", "https://example.com/", (None, "unsupported scheme: tel")),
        ("/news/1", None, (None, "relative without base")),
        ("/news/1", "not a url", (None, "relative without base")),
        ("/news/1", "ftp://example.com/", (None, "relative without base")),
        ("https://[::1/", None, (None, "unparseable")),
        ("https://example.com:70000/", None, (None, "unparseable")),
        ("https://", None, (None, "unparseable")),
    ],
)
def test_resolve_link(href: str | None, base: str | None, expected: tuple[str | None, str | None]) -> None:
    assert resolve_link(href, base) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("rbc.ua", "rbc.ua"),
        ("newsukraine.rbc.ua", "rbc.ua"),
        ("www.rbc.ua", "rbc.ua"),
        ("www.bbc.co.uk", "bbc.co.uk"),
        ("WWW.BBC.CO.UK.", "bbc.co.uk"),
        ("amp.theguardian.com", "theguardian.com"),
        ("news.example.com.ua", "example.com.ua"),
        ("foo.blogspot.com", "foo.blogspot.com"),  # private-section suffix: a separate owner
        ("президент.рф", "xn--d1abbgf6aiiy.xn--p1ai"),
        ("www.xn--d1abbgf6aiiy.xn--p1ai", "xn--d1abbgf6aiiy.xn--p1ai"),
        ("127.0.0.1", "127.0.0.1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("localhost", "localhost"),
        ("co.uk", None),
        ("ua", None),
        ("intranet.internal", None),
        ("", None),
        ("bad host", None),
    ],
)
def test_registrable_domain(host: str, expected: str | None) -> None:
    assert registrable_domain(host) == expected


def test_public_suffix_list_is_never_downloaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("tld tried to download the Public Suffix List")

    monkeypatch.setattr(tld.base, "urlopen", no_network)
    assert urls._OfflinePSL.update_tld_names() is False
    # An unreadable list is an error here, where tld itself would fall back to downloading it.
    monkeypatch.setattr(urls._OfflinePSL, "local_path", str(tmp_path / "missing.dat"))
    with pytest.raises(tld.exceptions.TldIOError):
        urls._OfflinePSL.get_tld_names()


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("https://rbc.ua/a", "https://newsukraine.rbc.ua/b", True),
        ("https://www.rbc.ua/a", "https://newsukraine.rbc.ua/b", True),
        ("http://www.rbc.ua/a", "https://rbc.ua:8443/b", True),
        ("https://www.bbc.co.uk/news/1", "https://amp.bbc.co.uk/news/1", True),
        ("https://m.facebook.com/x", "https://www.facebook.com/x", True),
        ("https://www.bbc.co.uk/", "https://www.bbc.com/", False),
        ("https://rbc.ua/", "https://rbc.ru/", False),
        ("https://a.blogspot.com/", "https://b.blogspot.com/", False),
        ("https://www.example.com.ua/", "https://example2.com.ua/", False),
        ("http://127.0.0.1:8642/a", "http://127.0.0.1:8642/b", True),
        ("http://127.0.0.1:8642/a", "http://127.0.0.1:8643/a", False),
        ("http://127.0.0.1/a", "http://127.0.0.1:80/b", True),
        ("http://127.0.0.1/a", "https://127.0.0.1/a", False),
        ("http://127.0.0.1:8642/a", "http://localhost:8642/a", False),
        ("http://localhost:8000/", "http://localhost:8000/x", True),
        ("http://[::1]:9000/", "http://[0:0::1]:9000/x", True),
        ("http://a.internal/", "http://a.internal/x", True),
        ("http://a.internal/", "http://b.a.internal/", False),
        ("https://example.com/", "javascript:alert(1)", False),
        ("https://example.com/", "/relative", False),
    ],
)
def test_same_site(a: str, b: str, expected: bool) -> None:
    assert same_site(a, b) is expected
    assert same_site(b, a) is expected


@pytest.mark.parametrize(
    ("fetched", "declared", "expected"),
    [
        # real pairs from the corpus: the declared canonical drops what our list keeps
        (
            "https://www.derstandard.at/story/3000000218734/nach-kalifat?ref=rss",
            "https://www.derstandard.at/story/3000000218734/nach-kalifat",
            "https://www.derstandard.at/story/3000000218734/nach-kalifat",
        ),
        (
            "https://metro.co.uk/2024/07/17/king-charles-21244172/?ico=mosaic_politics",
            "https://metro.co.uk/2024/07/17/king-charles-21244172/",
            "https://metro.co.uk/2024/07/17/king-charles-21244172/",
        ),
        (  # relative declared canonical, resolved against the fetched URL
            "https://www.heise.de/news/Phishing-9691259.html?wt_mc=rss&seite=all",
            "/news/Phishing-9691259.html",
            "https://www.heise.de/news/Phishing-9691259.html",
        ),
        (  # another site (syndication): not trusted
            "https://www.stern.de/wirtschaft/geld/epi-33420056.html?utm_campaign=x",
            "https://www.capital.de/geld-versicherungen/epi-33412162.html",
            "https://www.stern.de/wirtschaft/geld/epi-33420056.html",
        ),
        (  # a sibling host of the same site is trusted
            "https://www.timeslive.co.za/news/2025-11-10-zuma/",
            "https://www.sundaytimes.timeslive.co.za/news/2025-11-10-zuma/",
            "https://www.sundaytimes.timeslive.co.za/news/2025-11-10-zuma/",
        ),
        (  # AMP page declaring its desktop original
            "https://amp.theguardian.com/world/2024/jan/01/slug",
            "https://www.theguardian.com/world/2024/jan/01/slug",
            "https://www.theguardian.com/world/2024/jan/01/slug",
        ),
        (  # fetched through the AMP cache: the site is the publisher's
            "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/a/amp",
            "https://www.example.com/a",
            "https://www.example.com/a",
        ),
        (  # the declared canonical is canonicalised too
            "https://newsukraine.rbc.ua/news/x-1700000000.html",
            "https://www.rbc.ua/ukr/news/x-1700000000.html?utm_source=newsukraine#top",
            "https://www.rbc.ua/ukr/news/x-1700000000.html",
        ),
        (  # CMS bug: every article declares the home page
            "https://example.com/2024/05/article-slug/",
            "https://example.com/",
            "https://example.com/2024/05/article-slug/",
        ),
        ("https://example.com/2024/05/article-slug/", "/", "https://example.com/2024/05/article-slug/"),
        ("https://example.com/", "https://www.example.com/", "https://www.example.com/"),  # home page of a home page
        ("https://example.com/?p=123", "https://example.com/?p=123", "https://example.com/?p=123"),
        ("https://example.com/news/1", "https://example.com/?p=1", "https://example.com/?p=1"),  # not a home page
        ("https://example.com/a?utm_source=x", None, "https://example.com/a"),
        ("https://example.com/a", "", "https://example.com/a"),
        ("https://example.com/a", "javascript:void(0)", "https://example.com/a"),
        ("https://example.com/a", "ftp://example.com/a", "https://example.com/a"),
        ("https://example.com/a", "https://[::1/", "https://example.com/a"),
        ("https://example.com/a", "https://evil.example.org/a", "https://example.com/a"),
        ("http://127.0.0.1:8642/a/1", "http://127.0.0.1:8642/a/1?page=1", "http://127.0.0.1:8642/a/1?page=1"),
        ("http://127.0.0.1:8642/a/1", "http://127.0.0.1:9999/a/1", "http://127.0.0.1:8642/a/1"),
        ("http://127.0.0.1:8642/a/1", "../b/2", "http://127.0.0.1:8642/b/2"),
    ],
)
def test_choose_canonical(fetched: str, declared: str | None, expected: str) -> None:
    assert choose_canonical(fetched, declared) == expected


def test_choose_canonical_rejects_an_unusable_fetched_url() -> None:
    with pytest.raises(ValueError):
        choose_canonical("ftp://example.com/a", "https://example.com/a")


# Real feed-linked URLs and the pages' own <link rel="canonical">: whatever the publisher did, the result is
# canonical, on the publisher's site, and free of tracking parameters.


def _corpus_dir() -> Path:
    env = os.environ.get("INGEST_CORPUS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


_CANONICAL_LINK = re.compile(rb"<link[^>]+rel=[\"']?canonical[\"']?[^>]*>", re.IGNORECASE)
_HREF = re.compile(rb"href=[\"']([^\"']+)[\"']", re.IGNORECASE)


def _corpus_pages() -> list[tuple[str, str | None]]:
    pages_dir = _corpus_dir() / "news-pages"
    if not pages_dir.is_dir():
        pytest.skip(f"news-page corpus not found at {pages_dir} (set INGEST_CORPUS_DIR)")
    pages = []
    for meta in sorted(pages_dir.glob("*/meta.info")):
        for name, info in json.loads(meta.read_text(encoding="utf-8")).items():
            declared = None
            if (meta.parent / name).exists():
                link = _CANONICAL_LINK.search(gzip.decompress((meta.parent / name).read_bytes()))
                href = _HREF.search(link.group(0)) if link else None
                declared = href.group(1).decode("utf-8", "replace") if href else None
            pages.append((info["url"], declared))
    return pages


def test_corpus_urls_and_declared_canonicals() -> None:
    pages = _corpus_pages()
    assert len(pages) > 200
    assert sum(declared is not None for _, declared in pages) > 150
    for url, declared in pages:
        for result in (canonicalize(url), choose_canonical(url, declared)):
            assert canonicalize(result) == result, url
            assert same_site(url, result), url
            parts = urlsplit(result)
            assert parts.fragment == "" and parts.scheme in ("http", "https"), url
            assert not {key.lower() for key, _ in parse_qsl(parts.query)} & TRACKING_PARAMS, url
            assert not any(key.lower().startswith("utm_") for key, _ in parse_qsl(parts.query)), url


def test_public_suffix_list_loads_with_the_network_cut_off() -> None:
    # A fresh interpreter, so that the list is read here rather than found already loaded.
    code = (
        "import socket\n"
        "def cut(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = socket.socket.connect_ex = cut\n"
        "socket.create_connection = socket.getaddrinfo = cut\n"
        "from ingest.urls import registrable_domain\n"
        "print(registrable_domain('newsukraine.rbc.ua'), registrable_domain('www.bbc.co.uk'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "rbc.ua bbc.co.uk\n", "")
