"""decode_html: BOM, HTTP charset, in-page declaration, detection, and the lies real pages tell."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from ingest.extract.decode import PREFIX_BYTES, charset_from_content_type, decode_html

RUSSIAN = ("Посол Украины в Южной Корее Дмитрий Пономаренко заявил, что захваченные северокорейские "
           "военные не являются разменной монетой. Обсуждение их будущего продолжается между Киевом и Сеулом, "
           "и обе стороны признают сложность ситуации. ") * 3
FRENCH = ("L'ambassadeur d'Ukraine a déclaré que les soldats nord-coréens capturés ne seraient pas utilisés "
          "comme monnaie d'échange. Les discussions se poursuivent entre Kyiv et Séoul ; « c'est très tôt », "
          "a-t-il précisé, évoquant l'été prochain et les élèves-officiers. ") * 3


def page(body_text: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head>{head}<title>t</title></head><body><p>{body_text}</p></body></html>"


# --- BOM ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("bom", "codec", "name"), [
    (b"\xef\xbb\xbf", "utf-8", "utf-8"),
    (b"\xff\xfe", "utf-16-le", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be", "utf-16-be"),
])
def test_bom_wins_over_every_declaration(bom: bytes, codec: str, name: str) -> None:
    html = page("Київ café", '<meta charset="windows-1251">')
    text, encoding = decode_html(bom + html.encode(codec), "text/html; charset=iso-8859-1")
    assert (text, encoding) == (html, name)


# --- HTTP charset ------------------------------------------------------------------------------------

def test_http_charset_is_used_when_it_decodes() -> None:
    html = page(RUSSIAN)
    assert decode_html(html.encode("cp1251"), "text/html; charset=windows-1251") == (html, "cp1251")
    assert decode_html(html.encode("koi8-r"), 'text/html;charset="KOI8-R"') == (html, "koi8-r")


def test_http_charset_beats_meta() -> None:
    html = page(RUSSIAN, '<meta charset="koi8-r">')
    assert decode_html(html.encode("cp1251"), "text/html; charset=windows-1251") == (html, "cp1251")


def test_utf8_label_on_cp1251_bytes_falls_through_to_meta() -> None:
    html = page(RUSSIAN, '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">')
    assert decode_html(html.encode("cp1251"), "text/html; charset=utf-8") == (html, "cp1251")


def test_utf8_label_on_latin1_bytes_without_meta_falls_through_to_detection() -> None:
    html = page(FRENCH)
    text, encoding = decode_html(html.encode("cp1252"), "text/html; charset=UTF-8")
    assert text == html
    assert encoding == "cp1252"


def test_unknown_charset_names_are_skipped() -> None:
    html = page(RUSSIAN, '<meta charset="x-no-such-charset"><meta charset="windows-1251">')
    assert decode_html(html.encode("cp1251"), "text/html; charset=bogus-8") == (html, "cp1251")
    assert decode_html(b"<p>plain</p>", "text/html; charset=bogus-8") == ("<p>plain</p>", "utf-8")


def test_utf7_is_never_honoured() -> None:
    html = "<p>+ADw-script+AD4-</p>"
    assert decode_html(html.encode("ascii"), "text/html; charset=utf-7") == (html, "utf-8")


# --- browser aliases -----------------------------------------------------------------------------------

def test_latin1_label_means_windows_1252() -> None:
    html = page("price: 5 \u20ac \u2013 \u201cquoted\u201d")
    assert decode_html(html.encode("cp1252"), "text/html; charset=ISO-8859-1") == (html, "cp1252")
    assert decode_html(html.encode("cp1252"), "text/html; charset=latin1") == (html, "cp1252")
    assert decode_html(html.encode("cp1252"), "text/html; charset=us-ascii") == (html, "cp1252")


def test_latin1_label_with_bytes_cp1252_leaves_undefined() -> None:
    body = b"<p>caf\xe9 \x81</p>"  # 0x81 has no character in windows-1252
    assert decode_html(body, "text/html; charset=iso-8859-1") == ("<p>caf\xe9 \x81</p>", "iso8859-1")


def test_pure_ascii_under_a_legacy_label() -> None:
    assert decode_html(b"<p>plain</p>", "text/html; charset=iso-8859-1") == ("<p>plain</p>", "cp1252")


# --- legacy label, UTF-8 bytes ----------------------------------------------------------------------------

@pytest.mark.parametrize("label", ["iso-8859-1", "iso-8859-15", "windows-1252", "cp1251", "latin1", "ascii",
                                   "koi8-r", "shift_jis", "gb2312"])
def test_valid_multibyte_utf8_beats_a_legacy_label(label: str) -> None:
    html = page("Müller café — Київ", f'<meta charset="{label}">')
    assert decode_html(html.encode("utf-8"), None) == (html, "utf-8")
    assert decode_html(html.encode("utf-8"), f"text/html; charset={label}") == (html, "utf-8")


# --- in-page declarations ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("label", "codec", "name", "sample"), [
    ("Shift_JIS", "cp932", "cp932", "韓国が戒厳令、尹大統領「野党が反国家行為」①"),
    ("EUC-JP", "euc_jp", "euc_jp", "読売新聞オンラインの記事です。日本語のテキスト"),
    ("GB2312", "gbk", "gbk", "促进航天技术更好惠及人民——习近平主席致贺信"),
    ("EUC-KR", "cp949", "cp949", "한국일보 기사입니다. 서울과 키이우의 협력"),
    ("Big5", "big5hkscs", "big5hkscs", "台灣新聞網站的繁體中文內容"),
    ("windows-1251", "cp1251", "cp1251", RUSSIAN),
])
def test_cjk_and_cyrillic_meta_declarations(label: str, codec: str, name: str, sample: str) -> None:
    html = page(sample, f'<meta http-equiv="Content-Type" content="text/html; charset={label}">')
    assert decode_html(html.encode(codec), "text/html") == (html, name)
    html5 = page(sample, f"<meta charset={label}>")
    assert decode_html(html5.encode(codec), None) == (html5, name)


def test_xml_declaration_of_xhtml() -> None:
    html = '<?xml version="1.0" encoding="windows-1251"?>' + page(RUSSIAN)
    assert decode_html(html.encode("cp1251"), "application/xhtml+xml") == (html, "cp1251")


def test_meta_utf16_means_utf8() -> None:
    html = page("Київ", '<meta charset="utf-16">')
    assert decode_html(html.encode("utf-8"), None) == (html, "utf-8")


def test_http_utf16_without_nul_bytes_is_a_mislabel() -> None:
    html = page("plain ascii page")
    assert decode_html(html.encode("ascii"), "text/html; charset=utf-16") == (html, "utf-8")


def test_http_utf16_without_bom() -> None:
    html = page("Київ")
    assert decode_html(html.encode("utf-16-le"), "text/html; charset=utf-16le") == (html, "utf-16-le")


def test_meta_after_the_prefix_is_ignored() -> None:
    filler = "<!-- " + "x" * PREFIX_BYTES + " -->"
    # The late <meta> is wrong on purpose (KOI8-R decodes any bytes): honouring it would garble.
    html = f"<html><head>{filler}<meta charset=koi8-r></head><body>{RUSSIAN}</body></html>"
    assert decode_html(html.encode("cp1251"), None) == (html, "cp1251")  # found by detection


# --- undeclared ----------------------------------------------------------------------------------------------

def test_undeclared_utf8() -> None:
    html = page("Київ, Seoul, München")
    assert decode_html(html.encode("utf-8"), None) == (html, "utf-8")
    assert decode_html(html.encode("utf-8"), "text/html") == (html, "utf-8")


def test_undeclared_cp1251_is_detected() -> None:
    html = page(RUSSIAN)
    assert decode_html(html.encode("cp1251"), None) == (html, "cp1251")


def test_empty_body() -> None:
    assert decode_html(b"", None) == ("", "utf-8")


def test_charset_from_content_type() -> None:
    assert charset_from_content_type("text/html; charset=UTF-8") == "utf-8"
    assert charset_from_content_type('text/html; charset="Windows-1251"; foo=bar') == "cp1251"
    assert charset_from_content_type("text/html") is None
    assert charset_from_content_type(None) is None
    assert charset_from_content_type("text/html; charset=nonsense") is None


# --- the real corpus ----------------------------------------------------------------------------------------

def _corpus_page(corpus_dir: Path, relative: str) -> bytes:
    path = corpus_dir / "news-pages" / relative
    if not path.is_file():
        pytest.skip(f"{relative} is not in this copy of the corpus")
    return gzip.decompress(path.read_bytes())


@pytest.mark.parametrize(("relative", "declared"), [
    ("de/WinFuture_2024_04_29.html.gz", "iso-8859-1"),
    ("es/ElMundo_2024_12_02.html.gz", "iso-8859-15"),
    ("cn/People_2024_04_24.html.gz", "gb2312"),
])
def test_mislabelled_corpus_pages_are_utf8(corpus_dir: Path, relative: str, declared: str) -> None:
    body = _corpus_page(corpus_dir, relative)
    assert f"charset={declared}".encode() in body[:PREFIX_BYTES].lower()
    for content_type in (None, "text/html", f"text/html; charset={declared}"):
        assert decode_html(body, content_type) == (body.decode("utf-8"), "utf-8")


def test_every_corpus_page_decodes_as_trafilatura_would(corpus_dir: Path) -> None:
    # All 258 pages are UTF-8 bytes (whatever they declare); trafilatura decodes them as UTF-8.
    count = 0
    for meta in sorted((corpus_dir / "news-pages").glob("*/meta.info")):
        for name in json.loads(meta.read_text(encoding="utf-8")):
            path = meta.parent / name
            if not path.is_file():
                continue
            body = gzip.decompress(path.read_bytes())
            assert decode_html(body, "text/html") == (body.decode("utf-8"), "utf-8"), name
            count += 1
    assert count == 258
