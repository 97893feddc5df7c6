"""extract_page and ExtractorPool: faithful to trafilatura.extract on the real corpus, failures as values."""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ingest.analyse.precompute import Precompute
from ingest.config import ExtractSettings
from ingest.errors import ErrorKind
from ingest.extract.pages import (
    Extraction,
    ExtractionFailure,
    ExtractorPool,
    ExtractResult,
    PageInput,
    extract_chunk,
    extract_page,
)
from ingest.fetch.botwall import detect_bot_wall

SETTINGS = ExtractSettings()
CRASH_MARKER = b"<!-- test hook: this page kills its worker -->"


def corpus_pages(corpus_dir: Path) -> list[tuple[str, str, bytes]]:
    """(relative path, original URL, page bytes) of every corpus page present."""
    out = []
    for meta in sorted((corpus_dir / "news-pages").glob("*/meta.info")):
        for name, info in sorted(json.loads(meta.read_text(encoding="utf-8")).items()):
            path = meta.parent / name
            if path.is_file():
                out.append((f"{meta.parent.name}/{name}", info["url"], gzip.decompress(path.read_bytes())))
    return out


def corpus_page(corpus_dir: Path, relative: str) -> tuple[str, bytes]:
    country, name = relative.split("/")
    meta = json.loads((corpus_dir / "news-pages" / country / "meta.info").read_text(encoding="utf-8"))
    path = corpus_dir / "news-pages" / relative
    if not path.is_file():
        pytest.skip(f"{relative} is not in this copy of the corpus")
    return meta[name]["url"], gzip.decompress(path.read_bytes())


def expected_parse(corpus_dir: Path, relative: str) -> dict:
    """The corpus's expected parse: versions V1, V1_1, … in the sorted order of the publisher's pages."""
    country, name = relative.split("/")
    publisher = name.rsplit("_", 3)[0]
    folder = corpus_dir / "news-pages" / country
    pages = sorted(p.name for p in folder.glob(f"{publisher}_*.html.gz") if p.name.rsplit("_", 3)[0] == publisher)
    versions = list(json.loads((folder / f"{publisher}.json").read_text(encoding="utf-8")).values())
    assert len(pages) == len(versions), relative
    return versions[pages.index(name)]


def html_page(body: str, head: str = "", lang: str | None = None) -> bytes:
    lang_attr = f' lang="{lang}"' if lang else ""
    return (f"<!DOCTYPE html><html{lang_attr}><head><meta charset='utf-8'>{head}</head>"
            f"<body><article>{body}</article></body></html>").encode()


@pytest.fixture(scope="session")
def seed_paragraphs(corpus_dir: Path) -> list[str]:
    text = (corpus_dir / "seed-article.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def pool() -> Iterator[ExtractorPool]:
    with ExtractorPool(SETTINGS, workers=2) as started:
        yield started


# --- the faithfulness test ------------------------------------------------------------------------------

def test_text_is_exactly_trafilatura_extract_on_every_corpus_page(corpus_dir: Path, pool: ExtractorPool) -> None:
    import trafilatura

    pages = corpus_pages(corpus_dir)
    assert len(pages) == 258
    inputs = [PageInput(url, body, "text/html") for _, url, body in pages]
    ours: list[ExtractResult] = []
    # The pool's workers extract while this thread computes the reference (the only trafilatura
    # caller in this process, so no thread-safety issue).
    worker = threading.Thread(target=lambda: ours.extend(pool.extract_many(inputs)))
    worker.start()
    options = SETTINGS.trafilatura_options()
    assert options["include_comments"] is False  # the default: comments apart from the text
    # trafilatura's own output with comments: our text, then our comments (extracted apart, not lost)
    reference = [trafilatura.extract(body, url=url, **(options | {"include_comments": True}))
                 for _, url, body in pages]
    worker.join()

    assert len(ours) == len(pages)
    short, rescued = [], []
    for (relative, _, _), result, expected in zip(pages, ours, reference, strict=True):
        if isinstance(result, ExtractionFailure):
            # By design: too little text to archive. trafilatura must agree there is little or none.
            assert result.kind is ErrorKind.EMPTY_EXTRACTION, (relative, result)
            assert expected is None or len(expected) < SETTINGS.min_text_chars, relative
            short.append(relative)
            continue
        if "fallback" in result.options:  # trafilatura found too little: ingest.extract.fallback's text
            assert expected is None or len(expected) < SETTINGS.min_text_chars, relative
            assert {k: v for k, v in result.options.items() if k != "fallback"} == options, relative
            rescued.append(relative)
            continue
        if result.comments:  # the text, then the comments (trafilatura's whitespace between them aside)
            assert expected.startswith(result.text), relative
            assert expected[len(result.text):].split() == result.comments.split(), relative
        else:
            assert result.text == expected, relative
        assert (result.extractor, result.extractor_version) == ("trafilatura", trafilatura.__version__)
        assert result.options == options
        assert result.encoding == "utf-8"
        assert result.language is not None, relative
    # Its article is only data in an inline script (a client-rendered shell): tests/test_extract_fallback.py
    assert (short, rescued) == ([], ["kr/HankookIlbo_2026_01_29.html.gz"])


def test_no_corpus_page_is_a_bot_wall(corpus_dir: Path) -> None:
    fired = [relative for relative, _, body in corpus_pages(corpus_dir)
             if detect_bot_wall(body.decode("utf-8"), 200, {"content-type": "text/html"})]
    assert fired == []


# --- metadata ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("relative", "language", "authors", "published", "canonical"), [
    ("de/BR_2024_04_22.html.gz", "de", ("Jasper Riemann", "Barbara Schneider"), "2024-04-22",
     "https://www.br.de/nachrichten/bayern/evangelische-kirche-landeskirche-will-missbrauch-aufarbeiten,UAf9GNd"),
    ("at/DerStandard_2024_05_03.html.gz", "de", ("Birgit Baumann", "Anna Giulia Fink", "Jan Michael Marchart"),
     "2024-05-03", "https://www.derstandard.at/story/3000000218734/"
     "nach-kalifat-rufen-in-hamburg-sind-wir-zu-sanft-zu-islamisten"),
    ("ru/Kommersant_2025_05_14.html.gz", "ru", ("Андрей Колесников",), "2025-05-14",
     "https://www.kommersant.ru/doc/7715044"),
    ("es/LaVanguardia_2026_07_11.html.gz", "es", ("Chus del Pino", "Martí Abad"), "2026-07-10",
     "https://www.lavanguardia.com/local/andalucia/20260710/11588570/mueren-seis-personas-incendio-forestal-gallardos.html"),
    ("de/WinFuture_2024_04_29.html.gz", "de", ("Stefan Trunzik",), "2024-04-26", "https://winfuture.de/news,142489.html"),
])
def test_metadata_matches_the_corpus_expectations(corpus_dir: Path, relative: str, language: str,
                                                  authors: tuple[str, ...], published: str, canonical: str) -> None:
    url, body = corpus_page(corpus_dir, relative)
    result = extract_page(PageInput(url, body, "text/html"), SETTINGS)
    assert isinstance(result, Extraction)
    expected = expected_parse(corpus_dir, relative)
    assert result.title == expected["title"]
    assert list(result.authors) == expected["authors"] == list(authors)
    assert result.published[:10] == published == expected["publishing_date"][:10]
    assert result.published_precision == "datetime"  # the page's own time, not a day
    assert (result.language, result.language_source) == (language, "page")
    assert result.canonical_url == canonical


def test_language_is_detected_when_the_page_has_none(corpus_dir: Path) -> None:
    url, body = corpus_page(corpus_dir, "de/Taz_2023_04_28.html.gz")
    result = extract_page(PageInput(url, body, "text/html"), SETTINGS)
    assert isinstance(result, Extraction)
    assert (result.language, result.language_source) == ("de", "detected")


def test_content_language_meta_that_names_a_charset_is_ignored(corpus_dir: Path) -> None:
    # cn/People declares <meta http-equiv="Content-Language" content="utf-8">.
    url, body = corpus_page(corpus_dir, "cn/People_2024_04_24.html.gz")
    result = extract_page(PageInput(url, body, "text/html; charset=gb2312"), SETTINGS)
    assert isinstance(result, Extraction)
    assert (result.language, result.language_source, result.encoding) == ("zh", "detected", "utf-8")


def test_constructed_page_metadata(seed_paragraphs: list[str]) -> None:
    headline, *paragraphs = seed_paragraphs
    head = (f'<title>{headline}</title><base href="https://www.example.com/news/">'
            '<link rel="alternate" href="/amp"><link rel="Canonical" href="2025/01/pows.html">'
            '<meta name="author" content="Olena Kovalenko; Andriy Melnyk">'
            '<meta property="article:published_time" content="2025-01-14T12:20:00+02:00">')
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    page = PageInput("https://example.com/news/pows?utm_source=rss", html_page(body, head, lang="en-US"),
                     "text/html; charset=utf-8")
    result = extract_page(page, SETTINGS)
    assert isinstance(result, Extraction)
    assert result.text.startswith("Ukraine’s Ambassador Dmytro Ponomarenko declared")
    assert result.text.endswith("Original Source: newsukraine.rbc.ua")
    assert result.title == headline
    assert result.canonical_url == "https://www.example.com/news/2025/01/pows.html"
    assert (result.language, result.language_source) == ("en", "page")
    assert result.authors == ("Olena Kovalenko", "Andriy Melnyk")
    assert (result.published, result.published_source, result.published_precision) == (
        "2025-01-14T12:20:00+02:00", "meta", "datetime")
    assert result.encoding == "utf-8"


def test_language_detected_on_a_page_without_lang(seed_paragraphs: list[str]) -> None:
    body = "".join(f"<p>{p}</p>" for p in seed_paragraphs)
    result = extract_page(PageInput("https://example.com/a", html_page(body, "<title>x</title>"), None), SETTINGS)
    assert isinstance(result, Extraction)
    assert (result.language, result.language_source, result.canonical_url) == ("en", "detected", None)


def test_utf16_page_with_bom_is_html(seed_paragraphs: list[str]) -> None:
    html = html_page("".join(f"<p>{p}</p>" for p in seed_paragraphs), "<title>x</title>").decode()
    result = extract_page(PageInput("https://example.com/u16", html.encode("utf-16"), "text/html"), SETTINGS)
    assert isinstance(result, Extraction)
    assert result.encoding == "utf-16-le"
    assert "Dmytro Ponomarenko" in result.text


# --- failures -----------------------------------------------------------------------------------------------

ARTICLE = html_page("<p>" + "A sentence about Kyiv and Seoul. " * 40 + "</p>", "<title>Article</title>")


@pytest.mark.parametrize(("body", "content_type", "detail"), [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "application/pdf", "content type application/pdf"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "text/html", "binary content (starts with b'%PDF-')"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", "content type image/png"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, "binary content (starts with b'\\x89PNG')"),
    (b"<html>\x00\x01\x02\x03</html>", "text/html", "binary content (NUL bytes)"),
    (bytes(range(256)) * 16, "text/html; charset=utf-8", "binary content (NUL bytes)"),
    (b'{"json": true}', "application/json", "content type application/json"),
    (b"just some words, no markup at all", "text/plain", "content type text/plain and no HTML markup"),
    (b"just some words, no markup at all", None, "content type missing and no HTML markup"),
])
def test_not_html(body: bytes, content_type: str | None, detail: str) -> None:
    result = extract_page(PageInput("https://example.com/x", body, content_type), SETTINGS)
    assert result == ExtractionFailure(ErrorKind.NOT_HTML, detail)


@pytest.mark.parametrize("content_type", [None, "text/plain; charset=utf-8", "application/octet-stream",
                                          "application/xhtml+xml", "TEXT/HTML; charset=UTF-8"])
def test_html_under_vague_content_types_is_extracted(content_type: str | None) -> None:
    result = extract_page(PageInput("https://example.com/a", ARTICLE, content_type), SETTINGS)
    assert isinstance(result, Extraction), result
    assert result.text.startswith("A sentence about Kyiv and Seoul.")


@pytest.mark.parametrize(("body", "detail"), [
    (b"", "empty body"),
    (b" \n\t ", "empty body"),
    (html_page("", "<title>t</title>"), "trafilatura found no main text"),
    (html_page("<p>Too short.</p>", "<title>t</title>"), "10 characters of text, fewer than 200"),
    (html_page("<p>" + "Short but found. " * 8 + "</p>", "<title>t</title>"),
     "135 characters of text, fewer than 200"),
])
def test_empty_extraction(body: bytes, detail: str) -> None:
    result = extract_page(PageInput("https://example.com/e", body, "text/html"), SETTINGS)
    assert result == ExtractionFailure(ErrorKind.EMPTY_EXTRACTION, detail)


def test_min_text_chars_is_a_setting() -> None:
    body = html_page("<p>" + "Short but found. " * 8 + "</p>", "<title>t</title>")
    result = extract_page(PageInput("https://example.com/e", body, "text/html"), ExtractSettings(min_text_chars=100))
    assert isinstance(result, Extraction)
    assert len(result.text) == 135


def test_an_exception_inside_trafilatura_is_extractor_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import trafilatura

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("lxml fell over")

    monkeypatch.setattr(trafilatura, "bare_extraction", explode)
    result = extract_page(PageInput("https://example.com/a", ARTICLE, "text/html"), SETTINGS)
    assert result == ExtractionFailure(ErrorKind.EXTRACTOR_ERROR, "RuntimeError: lxml fell over")


CLOUDFLARE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="refresh" content="390"></head><body><div class="main-wrapper" role="main">
<div class="main-content"><noscript><div id="challenge-error-title">Enable JavaScript and cookies to continue
</div></noscript></div></div><script>(function(){window._cf_chl_opt={cvId: '3',cZone: "example.com",
cType: 'managed'};var cpo = document.createElement('script');
cpo.src = '/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=8c1';}());</script></body></html>"""
DATADOME = """<html><head><title>example.com</title></head><body style="margin:0">
<p id="cmsg">Please enable JS and disable any ad blocker</p><script data-cfasync="false">var dd={'rt':'c',
'cid':'AHrlqAAAAAMA','hsh':'2211F522B61E269B869FA6EAFFB5E1','t':'fe','host':'geo.captcha-delivery.com'}
</script><script data-cfasync="false" src="https://ct.captcha-delivery.com/c.js"></script></body></html>"""
AKAMAI = """<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n
You don't have permission to access "http&#58;&#47;&#47;www&#46;example&#46;com&#47;news" on this server.<P>
Reference&#32;&#35;18&#46;5f2c1602&#46;1716887215&#46;2a4b3c1\n<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net
</BODY>\n</HTML>\n""".replace("Reference&#32;&#35;18&#46;5f2c1602&#46;1716887215&#46;2a4b3c1",
                               "Reference #18.5f2c1602.1716887215.2a4b3c1")
PERIMETERX = """<html><head><title>Access to this page has been denied</title></head><body>
<div id="px-captcha"></div><p>Press &amp; Hold to confirm you are a human (and not a bot).</p>
<script>window._pxAppId = 'PXu6b0qd2S';</script></body></html>"""
DDOS_GUARD = """<!DOCTYPE html><html><head><title>DDoS-Guard</title></head><body>
<div>Checking your browser before accessing example.com</div>
<script src="https://check.ddos-guard.net/check.js" async defer></script></body></html>"""
RECAPTCHA_WALL = """<html><head><title>Verification</title>
<script src="https://www.google.com/recaptcha/api.js" async defer></script></head><body>
<form method="post"><p>One more step: please complete the security check.</p>
<div class="g-recaptcha" data-sitekey="6LcXXXX"></div><button>Continue</button></form></body></html>"""
SUCURI = """<html><head><title>Sucuri WebSite Firewall - Access Denied</title></head><body>
<h2>Access Denied - Sucuri Website Firewall</h2><p>Block ID: BNP005</p></body></html>"""


@pytest.mark.parametrize(("html", "vendor"), [
    (CLOUDFLARE, "cloudflare"), (DATADOME, "datadome"), (AKAMAI, "akamai"), (PERIMETERX, "perimeterx"),
    (DDOS_GUARD, "ddos-guard"), (RECAPTCHA_WALL, "captcha"), (SUCURI, "sucuri"),
])
def test_bot_walls(html: str, vendor: str) -> None:
    assert detect_bot_wall(html, 403) == vendor
    result = extract_page(PageInput("https://example.com/article", html.encode(), "text/html", 200), SETTINGS)
    assert result == ExtractionFailure(ErrorKind.BOT_WALL, vendor)


def test_bot_wall_from_headers() -> None:
    assert detect_bot_wall("<html><body>wait</body></html>", 403, {"CF-Mitigated": "challenge"}) == "cloudflare"
    assert detect_bot_wall("<html><body>wait</body></html>", 403, {"Server": "ddos-guard"}) == "ddos-guard"
    assert detect_bot_wall("<html><body>fine</body></html>", 200, {"Server": "ddos-guard"}) is None


def test_vendor_scripts_on_a_real_article_are_not_a_wall() -> None:
    article = ("<html><head><title>News</title><script src='/cdn-cgi/challenge-platform/scripts/jsd/main.js'>"
               "</script><script src='https://js.datadome.co/tags.js'></script>"
               "<script src='https://www.google.com/recaptcha/api.js'></script></head><body><article>"
               + "<p>Ukraine's ambassador spoke to Yonhap about prisoners of war.</p>" * 30
               + "<form><div class='g-recaptcha'></div></form></article></body></html>")
    assert detect_bot_wall(article, 200) is None


# --- the pool -----------------------------------------------------------------------------------------------

def crash_on_marker(pages: Sequence[PageInput], settings: ExtractSettings,
                    precompute: Precompute | None = None) -> list[ExtractResult]:
    """Test-only worker function: a page carrying CRASH_MARKER kills its worker process."""
    if any(CRASH_MARKER in page.body for page in pages):
        os._exit(70)
    return extract_chunk(pages, settings, precompute)


class CrashingPool(ExtractorPool):
    chunk_function = staticmethod(crash_on_marker)


def test_pool_keeps_order_and_mixes_failures(pool: ExtractorPool) -> None:
    pages = [PageInput(f"https://example.com/{i}", ARTICLE.replace(b"Article", f"Article {i}".encode()), "text/html")
             for i in range(11)]
    pages[3] = PageInput("https://example.com/pdf", b"%PDF-1.4", "application/pdf")
    pages[7] = PageInput("https://example.com/empty", b"", "text/html")
    results = pool.extract_many(pages)
    assert len(results) == 11
    assert results[3] == ExtractionFailure(ErrorKind.NOT_HTML, "content type application/pdf")
    assert results[7] == ExtractionFailure(ErrorKind.EMPTY_EXTRACTION, "empty body")
    titles = [r.title for r in results if isinstance(r, Extraction)]
    assert titles == [f"Article {i}" for i in range(11) if i not in (3, 7)]
    assert pool.extract_many([]) == []


def test_pool_is_safe_to_share_between_threads(pool: ExtractorPool) -> None:
    def batch(n: int) -> list[PageInput]:
        return [PageInput(f"https://example.com/{n}/{i}", ARTICLE.replace(b"Article", f"T{n}-{i}".encode()),
                          "text/html") for i in range(6)]

    results: dict[int, list[ExtractResult]] = {}
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, pool.extract_many(batch(n))))
               for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n in range(4):
        assert [getattr(r, "title", None) for r in results[n]] == [f"T{n}-{i}" for i in range(6)]


def test_pool_survives_a_worker_crash() -> None:
    good = [PageInput(f"https://example.com/g{i}", ARTICLE, "text/html") for i in range(6)]
    killer = PageInput("https://example.com/killer", ARTICLE + CRASH_MARKER, "text/html")
    with CrashingPool(SETTINGS, workers=2) as crashing:
        results = crashing.extract_many(good[:3] + [killer] + good[3:])
        kinds = Counter(type(r).__name__ for r in results)
        assert kinds == Counter({"Extraction": 6, "ExtractionFailure": 1})
        failure = results[3]
        assert isinstance(failure, ExtractionFailure)
        assert failure.kind is ErrorKind.EXTRACTOR_ERROR
        assert failure.detail.startswith("worker process died extracting https://example.com/killer: ")
        # The pool was recreated: the next batch is extracted normally.
        again = crashing.extract_many(good)
        assert all(isinstance(r, Extraction) for r in again)


def test_workers_that_always_die_do_not_respawn_forever() -> None:
    pages = [PageInput(f"https://example.com/k{i}", ARTICLE + CRASH_MARKER, "text/html") for i in range(6)]
    with CrashingPool(SETTINGS, workers=2) as crashing:
        results = crashing.extract_many(pages)
    details = defaultdict(int)
    for result in results:
        assert isinstance(result, ExtractionFailure) and result.kind is ErrorKind.EXTRACTOR_ERROR
        details[result.detail.split(":")[0]] += 1
    assert sum(details.values()) == 6
    assert details["extractor workers keep dying (3 pools in a row)"] >= 3


def test_closed_pool_refuses_work() -> None:
    closing = ExtractorPool(SETTINGS, workers=1)
    closing.start()
    closing.close()
    with pytest.raises(RuntimeError, match="closed"):
        closing.extract_many([PageInput("https://example.com/a", ARTICLE, "text/html")])
