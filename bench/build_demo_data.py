"""Re-create src/ingest/demo/data from the shared corpus.

    .venv/bin/python bench/build_demo_data.py [--corpus DIR]

The choice of pages, dates and generated pages is fixed in this file, so running it again gives the
same data. Every page is checked with trafilatura before it is written: a page that no longer
extracts to at least MIN_TEXT characters, or whose language does not match its ``<html lang>``, stops
the build instead of shipping a demo whose expectations are wrong.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import os
import re
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import py3langid
import trafilatura

from ingest.demo.corpus import expected_record, page_publisher

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "src" / "ingest" / "demo" / "data"
MIN_TEXT = 400
DESCRIPTION_CHARS = 280

# (country/page, feed). "rss" is the demo-world RSS 2.0 feed, "atom" the demo-europe Atom feed.
PAGES: tuple[tuple[str, str], ...] = (
    ("au/NineNews_2026_07_04", "rss"),
    ("ca/GlobalNews_2026_05_24", "rss"),
    ("id/MediaIndonesia_2026_01_20", "rss"),
    ("ind/Bhaskar_2024_09_04", "rss"),
    ("ind/TimesOfIndia_2026_04_16", "rss"),
    ("jp/MainichiShimbun_2025_01_14", "rss"),
    ("jp/SankeiShimbun_2025_01_21", "rss"),
    ("jp/TheJapanNews_2024_10_13", "rss"),
    ("jp/TokyoShimbun_2025_01_13", "rss"),
    ("kr/MBN_2025_06_03", "rss"),
    ("lb/LBCGroup_2026_01_08", "rss"),
    ("mx/MexicoNewsDaily_2025_04_16", "rss"),
    ("na/TheNamibian_2024_02_20", "rss"),
    ("tw/TaipeiTimes_2024_10_15", "rss"),
    ("tz/DailyNewsTZ_2025_01_23", "rss"),
    ("us/APNews_2024_09_03", "rss"),
    ("us/TheIntercept_2024_02_28", "rss"),
    ("us/VoiceOfAmerica_2024_04_28", "rss"),
    ("vn/VnExpress_2025_10_22", "rss"),
    ("za/DailyMaverick_2026_01_06", "rss"),
    ("at/ORF_2024_11_22", "atom"),
    ("ch/SRF_2025_01_05", "atom"),
    ("cz/SeznamZpravy_2025_11_06", "atom"),
    ("de/Hessenschau_2024_04_27", "atom"),
    ("de/JungeWelt_2024_04_26", "atom"),
    ("de/NetzpolitikOrg_2024_04_28", "atom"),
    ("de/WDR_2024_04_22", "atom"),
    ("es/ElPais_2024_10_15", "atom"),
    ("es/LaVanguardia_2025_01_13", "atom"),
    ("fr/LeFigaro_2024_11_22", "atom"),
    ("fr/LeMonde_2023_09_01", "atom"),
    ("isl/Morgunbladid_2025_04_16", "atom"),
    ("it/CorriereDellaSera_2025_02_04", "atom"),
    ("lt/LRT_2024_03_31", "atom"),
    ("no/VerdensGang_2024_08_05", "atom"),
    ("pl/Rzeczpospolita_2025_02_02", "atom"),
    ("ru/Kommersant_2025_05_14", "atom"),
    ("se/Aftonbladet_2026_08_02", "atom"),
    ("tr/NTVTR_2024_04_30", "atom"),
    ("ua/Pravda_2026_01_08", "atom"),
    ("uk/BBC_2026_04_25", "atom"),
    ("uk/TheGuardian_2024_02_24", "atom"),
)
IN_BOTH_FEEDS = "uk/BBC_2026_04_25"
WITH_TRACKING = "fr/LeMonde_2023_09_01"
TRACKING_QUERY = "utm_source=rss&utm_medium=feed&fbclid=abc"
IN_CP1251 = "ua/Pravda_2026_01_08"

SEED_PATH = "/news/ukraine-s-stance-on-north-korean-prisoners.html"
# A partner site republishing the seed under its own URL and template, canonical to itself: exact-text
# dedup (not URL canonicalisation) must record it as a duplicate of the original.
SEED_SYNDICATED_PATH = "/partners/kyiv-wire/2025/02/20/ukraine-north-korean-pows-envoy.html"
SEED_PUBLISHED = "2025-02-20T10:15:00+02:00"
SEED_AUTHOR = "RBC-Ukraine newsroom"
SEED_CATEGORY = "War in Ukraine"
MISSING_PATH = "/news/2025/02/21/markets-live-week-ahead.html"
MISSING_TITLE = "Markets live: what to watch in the week ahead"
MISSING_PUBLISHED = "2025-02-21T07:00:00+00:00"
CHALLENGE_PATH = "/news/2025/02/22/weekly-briefing-european-politics.html"
CHALLENGE_TITLE = "Weekly briefing: what to watch in European politics"
CHALLENGE_PUBLISHED = "2025-02-22T06:30:00+00:00"
CHALLENGE_RAY = "8f6b1c2d3e4a5b6c"
CHALLENGE_HEADERS = (
    ("Content-Type", "text/html; charset=UTF-8"),
    ("cf-mitigated", "challenge"),
    ("Server", "cloudflare"),
    ("CF-RAY", f"{CHALLENGE_RAY}-FRA"),
    ("Cache-Control", "private, max-age=0, no-store, no-cache, must-revalidate, post-check=0, pre-check=0"),
    ("Expires", "Thu, 01 Jan 1970 00:00:01 GMT"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


def corpus_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("INGEST_CORPUS_DIR") or REPO.parent / "shared" / "corpus")


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def iso_crawl(value: str) -> str:
    when = datetime.fromisoformat(value).replace(microsecond=0, tzinfo=UTC)
    return when.isoformat()


def shorten(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def language_of(raw: str, text: str, where: str) -> str:
    declared = re.search(r"<html[^>]*\slang=[\"']?([A-Za-z]{2,3})", raw[:20000], re.I)
    detected = py3langid.classify(text)[0]
    lang = declared.group(1).lower() if declared else detected
    if lang != detected and {lang, detected} - {"no", "nb", "nn"}:
        sys.exit(f"{where}: <html lang> says {lang!r} but the text reads as {detected!r}")
    return lang


def check_text(html_or_bytes: str | bytes, url: str | None, where: str) -> str:
    text = trafilatura.extract(html_or_bytes, url=url) or ""
    if len(text) < MIN_TEXT:
        sys.exit(f"{where}: trafilatura extracted only {len(text)} characters (need {MIN_TEXT})")
    return text


def to_cp1251(raw: str) -> bytes:
    swapped, n = re.subn(r'<meta\s+charset="?utf-8"?\s*/?>', '<meta charset="windows-1251">', raw,
                         count=1, flags=re.I)
    if n != 1:
        sys.exit(f"{IN_CP1251}: no <meta charset=utf-8> to rewrite")
    return swapped.encode("cp1251")  # strict: a character cp1251 lacks must fail the build


def corpus_entries(corpus: Path) -> list[dict]:
    entries = []
    for name, feed in PAGES:
        country, page_stem = name.split("/")
        page = page_stem + ".html.gz"
        country_dir = corpus / "news-pages" / country
        meta = json.loads((country_dir / "meta.info").read_text(encoding="utf-8"))
        info = meta[page]
        url = info["url"]
        src = country_dir / page
        raw_bytes = gzip.decompress(src.read_bytes())
        raw = raw_bytes.decode("utf-8")
        text = check_text(raw_bytes, url, name)
        title = trafilatura.extract_metadata(raw, default_url=url).title
        if not title:
            sys.exit(f"{name}: no title")
        path = url.split("://", 1)[1]
        path = path[path.index("/"):]
        if "?" in path:
            sys.exit(f"{name}: pick pages without a query string")
        publisher = page_publisher(page)
        record = expected_record(country_dir, page, meta) or {}
        body = record.get("body") or {}
        lead = body.get("summary") or [p for s in body.get("sections", []) for p in s.get("paragraphs", [])][:1]
        feeds = ["rss", "atom"] if name == IN_BOTH_FEEDS else [feed]
        entry = {
            "path": path, "title": title, "expected": "archived", "feeds": feeds, "original_url": url,
            "language": language_of(raw, text, name), "charset": "utf-8",
            "file": f"pages/{country}/{page}", "status": 200, "headers": [],
            "published": iso_crawl(info["crawl_date"]),
            "author": ", ".join(record.get("authors") or []) or publisher,
            "category": (record.get("topics") or ["News"])[0],
            "description": shorten(" ".join(lead) or text),
            "tracking_query": TRACKING_QUERY if name == WITH_TRACKING else "",
            "publisher": publisher, "country": country,
        }
        out = DATA / entry["file"]
        out.parent.mkdir(parents=True, exist_ok=True)
        if name == IN_CP1251:
            encoded = to_cp1251(raw)
            decoded = encoded.decode("cp1251")
            if check_text(decoded, url, name) != text:
                sys.exit(f"{name}: the windows-1251 copy extracts differently from the UTF-8 original")
            if html.escape(title, quote=False) not in decoded and title not in decoded:
                sys.exit(f"{name}: title {title!r} not in the page")
            entry["charset"] = "windows-1251"
            entry["file"] = f"pages/{country}/{page_stem}.cp1251.html.gz"
            (DATA / entry["file"]).write_bytes(gz(encoded))
        else:
            shutil.copyfile(src, out)  # the corpus's own gzip bytes: byte-identical on every rebuild
        entries.append(entry)
    return entries


_SEED_STYLE = "body{font-family:Georgia,serif;margin:0}header,footer{background:#12284c;color:#fff;padding:1em}"


def seed_page(title: str, paragraphs: list[str], *, syndicated: bool) -> str:
    site = "Kyiv Wire" if syndicated else "RBC-Ukraine"
    canonical = SEED_SYNDICATED_PATH if syndicated else SEED_PATH
    description = shorten(paragraphs[0], 200)
    body = "\n".join(f"      <p>{html.escape(p)}</p>" for p in paragraphs)
    nav = "" if syndicated else """
  <nav aria-label="Sections">
    <ul>
      <li><a href="/news/">News</a></li><li><a href="/war-in-ukraine/">War in Ukraine</a></li>
      <li><a href="/economy/">Economy</a></li><li><a href="/world/">World</a></li>
      <li><a href="/opinion/">Opinion</a></li>
    </ul>
  </nav>"""
    aside = "" if syndicated else """
  <aside class="related">
    <h2>Read also</h2>
    <ul>
      <li><a href="/news/">Latest news from Ukraine</a></li>
      <li><a href="/war-in-ukraine/">Our coverage of the war</a></li>
    </ul>
  </aside>"""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{html.escape(title)} | {site}</title>
  <meta name="description" content="{html.escape(description)}">
  <meta name="author" content="{SEED_AUTHOR}">
  <meta property="og:type" content="article">
  <meta property="og:title" content="{html.escape(title)}">
  <meta property="og:description" content="{html.escape(description)}">
  <meta property="og:site_name" content="{site}">
  <meta property="og:locale" content="en_US">
  <meta property="article:published_time" content="{SEED_PUBLISHED}">
  <meta property="article:section" content="{SEED_CATEGORY}">
  <link rel="canonical" href="{canonical}">
  <style>{_SEED_STYLE}</style>
</head>
<body>
  <header class="site-header">
    <a class="logo" href="/">{site}</a>
    <form class="search" action="/search/" method="get"><input name="q" placeholder="Search"></form>
  </header>{nav}
  <main>
    <article class="article">
      <h1>{html.escape(title)}</h1>
      <div class="article-meta">
        <span class="author">{SEED_AUTHOR}</span>,
        <time datetime="{SEED_PUBLISHED}">20 February 2025, 10:15</time>
      </div>
{body}
    </article>{aside}
  </main>
  <footer class="site-footer">
    <p>© 2025 {site}. All rights reserved.</p>
    <p><a href="/about/">About us</a> · <a href="/contacts/">Contacts</a> · <a href="/privacy/">Privacy policy</a></p>
  </footer>
</body>
</html>
"""


def seed_entries(corpus: Path) -> list[dict]:
    lines = [ln.strip() for ln in (corpus / "seed-article.txt").read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln]
    title, paragraphs = lines[0], lines[1:]
    entries = []
    texts = []
    for path, syndicated, feeds, expected in ((SEED_PATH, False, ["rss"], "archived"),
                                              (SEED_SYNDICATED_PATH, True, ["atom"], "duplicate")):
        page = seed_page(title, paragraphs, syndicated=syndicated)
        text = check_text(page, None, path)
        missing = [p for p in paragraphs if p not in text]
        if missing:
            sys.exit(f"{path}: trafilatura dropped {len(missing)} paragraph(s), e.g. {missing[0][:60]!r}")
        texts.append(text)
        file = "pages/demo/" + ("syndicated-" if syndicated else "") + "ukraine-s-stance-on-north-korean-prisoners.html.gz"
        (DATA / file).parent.mkdir(parents=True, exist_ok=True)
        (DATA / file).write_bytes(gz(page.encode("utf-8")))
        entries.append({
            "path": path, "title": title, "expected": expected, "feeds": feeds, "original_url": None,
            "language": "en", "charset": "utf-8", "file": file, "status": 200, "headers": [],
            "published": SEED_PUBLISHED, "author": SEED_AUTHOR, "category": SEED_CATEGORY,
            "description": shorten(paragraphs[0]), "tracking_query": "",
            "publisher": "RBC-Ukraine", "country": "ua",
        })
    if texts[0] != texts[1]:
        sys.exit("the syndicated copy of the seed article must extract to the same text as the original")
    return entries


CHALLENGE_PAGE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta http-equiv="X-UA-Compatible" content="IE=Edge"><meta name="robots" content="noindex,nofollow"><meta name="viewport" content="width=device-width,initial-scale=1"><style>*{box-sizing:border-box;margin:0;padding:0}html{line-height:1.15;-webkit-text-size-adjust:100%;color:#313131;font-family:system-ui,-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}body{display:flex;flex-direction:column;height:100vh;min-height:100vh}.main-content{margin:8rem auto;max-width:60rem;padding-left:1.5rem}.h2{font-size:1.5rem;font-weight:500;line-height:2.25rem}.core-msg{font-size:1.5rem;line-height:2.25rem;margin:2rem 0}.footer{font-size:.75rem;line-height:1.125rem;margin:0 auto;max-width:60rem;padding-left:1.5rem}</style><meta http-equiv="refresh" content="390"></head><body class="no-js"><div class="main-wrapper" role="main"><div class="main-content"><h1 class="zone-name-title h1">127.0.0.1</h1><h2 id="challenge-running" class="h2">Verifying you are human. This may take a few seconds.</h2><noscript><div class="h2"><span id="challenge-error-text">Enable JavaScript and cookies to continue</span></div></noscript><div id="challenge-body-text" class="core-msg spacer">127.0.0.1 needs to review the security of your connection before proceeding.</div></div></div><script>(function(){window._cf_chl_opt={cvId: '3',cZone: "127.0.0.1",cType: 'managed',cRay: '__RAY__',cH: 'k8Zq3dQ2m1Yx7VbN0pLr4TfGs6HcWjEa9uIoPy5KnM8-1740206400-1.2.1.1-demo',cUPMDTk: "\\/news\\/2025\\/02\\/22\\/weekly-briefing-european-politics.html?__cf_chl_tk=demo",cFPWv: 'g',cITimeS: '1740206400',cTplC: 0,cTplV: 5,cTplB: 'cf',cK: "",fa: "\\/news\\/2025\\/02\\/22\\/weekly-briefing-european-politics.html?__cf_chl_f_tk=demo",md: 'demo',mdrd: 'demo',cRq: {ru: 'demo',ra: 'demo',rm: 'R0VU',d: 'demo',t: 'MTc0MDIwNjQwMC4wMDAwMDA=',c: 0,m: 'demo'}};var cpo = document.createElement('script');cpo.src = '/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=__RAY__';window._cf_chl_opt.cOgUHash = location.hash === '' && location.href.indexOf('#') !== -1 ? '#' : location.hash;window._cf_chl_opt.cOgUQuery = location.search === '' && location.href.slice(0, location.href.length - window._cf_chl_opt.cOgUHash.length).indexOf('?') !== -1 ? '?' : location.search;if (window.history && window.history.replaceState) {var ogU = location.pathname + window._cf_chl_opt.cOgUQuery + window._cf_chl_opt.cOgUHash;history.replaceState(null, null, "\\/news\\/2025\\/02\\/22\\/weekly-briefing-european-politics.html?__cf_chl_rt_tk=demo" + window._cf_chl_opt.cOgUHash);cpo.onload = function() {history.replaceState(null, null, ogU);}}document.getElementsByTagName('head')[0].appendChild(cpo);}());</script><div class="footer" role="contentinfo"><div class="footer-inner"><div class="clearfix diagnostic-wrapper"><div class="ray-id">Ray ID: <code>__RAY__</code></div></div><div class="text-center" id="footer-text">Performance &amp; security by <a rel="noopener noreferrer" href="https://www.cloudflare.com?utm_source=challenge&amp;utm_campaign=m" target="_blank">Cloudflare</a></div></div></div></body></html>
"""


def synthetic_entries() -> list[dict]:
    file = "pages/demo/cloudflare-challenge.html.gz"
    (DATA / file).write_bytes(gz(CHALLENGE_PAGE.replace("__RAY__", CHALLENGE_RAY).encode("utf-8")))
    common = {"original_url": None, "language": None, "charset": "utf-8", "author": None,
              "category": "News", "tracking_query": "", "publisher": "demo", "country": None}
    return [
        {**common, "path": CHALLENGE_PATH, "title": CHALLENGE_TITLE, "expected": "bot_wall", "feeds": ["atom"],
         "file": file, "status": 403, "headers": [list(h) for h in CHALLENGE_HEADERS],
         "published": CHALLENGE_PUBLISHED, "description": "Our correspondents on the week ahead in Brussels."},
        {**common, "path": MISSING_PATH, "title": MISSING_TITLE, "expected": "http_4xx", "feeds": ["rss"],
         "file": None, "status": 404, "headers": [],
         "published": MISSING_PUBLISHED, "description": "Stocks, bonds and currencies, as it happens."},
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="the shared corpus directory (default: $INGEST_CORPUS_DIR or ../shared/corpus)")
    args = parser.parse_args(argv)
    corpus = corpus_dir(args.corpus)
    if not (corpus / "news-pages").is_dir():
        sys.exit(f"no corpus at {corpus} (set INGEST_CORPUS_DIR or pass --corpus)")
    if DATA.exists():
        shutil.rmtree(DATA)
    DATA.mkdir(parents=True)
    items = corpus_entries(corpus) + seed_entries(corpus) + synthetic_entries()
    items.sort(key=lambda e: e["path"])
    paths = [e["path"] for e in items]
    if len(set(paths)) != len(paths):
        sys.exit("two demo items share a path")
    if any(p.startswith("/private/") for p in paths):
        sys.exit("/private/ is disallowed by robots.txt and must not be listed")
    manifest = {"version": 1, "tracking_query": TRACKING_QUERY, "items": items}
    (DATA / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n",
                                        encoding="utf-8")
    total = sum(f.stat().st_size for f in DATA.rglob("*") if f.is_file())
    print(f"wrote {len(items)} items ({sum(e['expected'] == 'archived' for e in items)} archivable) "
          f"to {DATA.relative_to(REPO)}: {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
