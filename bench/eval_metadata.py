"""Metadata through the whole pipeline, scored against Fundus' expected parses of the shared corpus.

    INGEST_CORPUS_DIR=/work/shared/corpus .venv/bin/python bench/eval_metadata.py [--json FILE]

Serves every corpus page at its original path on 127.0.0.1 behind one RSS feed, polls it with ingest
(in this process, the shipped extract settings), exports the archive with ``ingest export --format
jsonl``, and scores each page's record; then does the same with bare trafilatura on the same bytes
(``extract()`` for the text, ``bare_extraction(with_metadata=True)`` for the metadata). Prints:

  title exact · publication date same day · time within 1 h (pages whose expected parse has a time)
  · authors exact set · language · body F1

for all pages, the tuning split and the evaluation split (publishers split by a stable hash of their
name: ``evaluation`` when sha1(name)[0] % 3 == 0).

The feed carries what a real feed would, not the expected parse: each item's title is the page's own
``<title>``, its pubDate the crawl time, no author, no description. Ingest uses the feed's date only for
a page without one of its own (``published_source == "feed"``), and never its title or author.

Scoring: titles compared after NFC and whitespace collapsing, exactly; dates in the expected value's own
offset (a naive expected value is the publisher's wall clock: compared with the page's own value as
written, ``published_local``); a day-only value counts for "same day" but never for "within 1 h"; author
sets exactly; the language truth is py3langid on Fundus' expected body (which agrees with the pages'
declarations except where a template declares the wrong one); body F1 over sets of whitespace-token
4-gram shingles of Fundus' summary, section headlines and paragraphs. A page ingest did not archive
scores zero on every field.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from ingest.demo.corpus import corpus_routes, expected_record  # noqa: E402
from ingest.demo.feeds import FeedItem, render_rss  # noqa: E402
from ingest.demo.server import NewsSite, Route  # noqa: E402

FIELDS = ("title", "date", "time", "authors", "language", "body_f1")
LABELS = {"title": "title, exact", "date": "publication date, same day",
          "time": "publication time within 1 h (expected has a time)", "authors": "authors, exact set",
          "language": "language", "body_f1": "body text F1"}
GOALS = {"title": 0.92, "date": 0.985, "time": 0.85, "authors": 0.88, "language": 0.995, "body_f1": 0.93}


@dataclass
class Page:
    key: str  # cc/File.html.gz
    publisher: str
    path: str
    url: str  # original
    crawl: datetime
    expected: dict[str, Any]
    html: bytes = field(repr=False, default=b"")
    language: str | None = None  # the truth: py3langid on the expected body


def split_of(publisher: str) -> str:
    return "evaluation" if hashlib.sha1(publisher.encode()).digest()[0] % 3 == 0 else "tuning"


def corpus_dir() -> Path:
    return Path(os.environ.get("INGEST_CORPUS_DIR") or REPO.parent / "shared" / "corpus")


# --- scoring -------------------------------------------------------------------------------------------

def norm(text: str | None) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text or "")).strip()


def expected_body(rec: dict[str, Any]) -> str:
    body = rec.get("body") or {}
    parts = list(body.get("summary") or [])
    for section in body.get("sections") or []:
        parts += section.get("headline") or []
        parts += section.get("paragraphs") or []
    return "\n".join(parts)


def body_f1(ours: str | None, expected: str, n: int = 4) -> float:
    def shingles(text: str) -> set[tuple[str, ...]]:
        tokens = text.split()
        return {tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1))} if tokens else set()

    a, b = shingles(ours or ""), shingles(expected)
    if not a or not b:
        return 0.0
    inter = len(a & b)
    if not inter:
        return 0.0
    p, r = inter / len(a), inter / len(b)
    return 2 * p * r / (p + r)


def _parse(value: str | None) -> datetime | date | None:
    if not value:
        return None
    if re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        return date.fromisoformat(value)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def score_dates(published: str | None, local: str | None, expected: str) -> tuple[bool, bool | None]:
    """(same day, within 1 h or None when the expected value has no time)."""
    exp = datetime.fromisoformat(expected)
    has_time = exp.time() != datetime.min.time()
    ours = _parse(published)
    if ours is None:
        return False, (False if has_time else None)
    if not isinstance(ours, datetime):
        return ours == exp.date(), (False if has_time else None)
    if exp.tzinfo is None:  # the publisher's wall clock: compare with the page's own writing of it
        wall = _parse(local) if local else ours
        wall = wall if isinstance(wall, datetime) else ours
        wall = wall.replace(tzinfo=None)
        return wall.date() == exp.date(), (abs(wall - exp) <= timedelta(hours=1) if has_time else None)
    mine = ours if ours.tzinfo else ours.replace(tzinfo=UTC)
    return mine.astimezone(exp.tzinfo).date() == exp.date(), (abs(mine - exp) <= timedelta(hours=1)
                                                              if has_time else None)


_IDENT: Any = None


def language_truth(rec: dict[str, Any]) -> str | None:
    global _IDENT
    if _IDENT is None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        _IDENT = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    lang = str(_IDENT.classify(expected_body(rec))[0])
    return {"nb": "no", "nn": "no"}.get(lang, lang)


def score(got: dict[str, Any] | None, page: Page) -> dict[str, Any]:
    rec = page.expected
    if got is None:
        return {"title": False, "date": False, "time": False if _has_time(rec) else None, "authors": False,
                "language": False, "body_f1": 0.0}
    day, hour = score_dates(got.get("published_at"), got.get("published_local"), rec["publishing_date"])
    expected_authors = {norm(a) for a in rec.get("authors") or []}
    authors = {norm(a) for a in got.get("authors") or []}
    return {"title": norm(got.get("title")) == norm(rec.get("title")), "date": day, "time": hour,
            "authors": authors == expected_authors,
            "language": got.get("language") == page.language, "body_f1": body_f1(got.get("text"), expected_body(rec))}


def _has_time(rec: dict[str, Any]) -> bool:
    return datetime.fromisoformat(rec["publishing_date"]).time() != datetime.min.time()


def summarise(scores: list[dict[str, Any]]) -> dict[str, tuple[float, int, int]]:
    out = {}
    for f in FIELDS:
        values = [s[f] for s in scores if s[f] is not None]
        if f == "body_f1":
            out[f] = (sum(values) / len(values) if values else 0.0, len(values), len(values))
        else:
            out[f] = (sum(values) / len(values) if values else 0.0, sum(values), len(values))
    return out


# --- the corpus site, with a feed a real site could have -------------------------------------------------

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


def load_pages() -> tuple[dict[str, Route], list[Page]]:
    routes, served = corpus_routes(corpus_dir())
    pages = []
    for p in served:
        info = json.loads((p.file.parent / "meta.info").read_text(encoding="utf-8"))
        rec = expected_record(p.file.parent, p.file.name, info)
        if rec is None:
            continue
        crawl = datetime.fromisoformat(info[p.file.name]["crawl_date"]).replace(microsecond=0, tzinfo=UTC)
        page = Page(f"{p.country}/{p.file.name}", p.publisher, p.path, p.original_url, crawl, rec,
                    gzip.decompress(p.file.read_bytes()))
        page.language = language_truth(rec)
        pages.append(page)

    def feed(base_url: str) -> bytes:
        import html as htmllib

        items = []
        for page in pages:
            m = _TITLE.search(page.html)
            title = norm(htmllib.unescape(m.group(1).decode("utf-8", "replace"))) if m else page.publisher
            items.append(FeedItem(path=page.path, title=title or page.publisher, published=page.crawl))
        items.sort(key=lambda i: (i.published, i.path), reverse=True)
        return render_rss(base_url, tuple(items), title="News corpus", description="Saved news pages",
                          feed_path="/feed.xml")

    routes["/feed.xml"] = Route(200, (("Content-Type", "application/rss+xml; charset=utf-8"),), feed)
    return routes, pages


# --- ingest through the pipeline ------------------------------------------------------------------------

def run_ingest(pages: list[Page], routes: dict[str, Route], work: Path) -> dict[str, dict[str, Any] | None]:
    import ingest

    db = f"sqlite:///{work / 'metadata.db'}"
    with NewsSite(routes) as site:
        config = work / "feeds.yaml"
        config.write_text(f"""
fetch: {{allow_private_networks: true, per_host_delay_s: 0, per_host_concurrency: 8, max_connections: 16,
         respect_robots: false}}
sources: [{{name: corpus, feed: "{site.url('/feed.xml')}"}}]
""", encoding="utf-8")
        ingest.poll(str(config), database=db)
        base = site.base_url
    out = work / "export.jsonl"
    subprocess.run([str(REPO / ".venv/bin/ingest"), "export", "--format", "jsonl", "--db", db, "--out", str(out)],
                   check=True, capture_output=True)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_id = {r["id"]: r for r in records}
    archive = ingest.Archive(db)
    found: dict[str, dict[str, Any] | None] = {}
    try:
        for page in pages:
            try:
                found[page.key] = by_id.get(archive.article(base + page.path).id)
            except KeyError:  # not archived (too little text): scores zero
                found[page.key] = None
    finally:
        archive.close()
    return found


# --- bare trafilatura -----------------------------------------------------------------------------------

def _bare(args: tuple[str, str, bytes]) -> tuple[str, dict[str, Any] | None]:
    import logging

    import trafilatura

    logging.disable(logging.CRITICAL)
    key, url, body = args
    doc = trafilatura.bare_extraction(body, url=url, with_metadata=True)
    text = trafilatura.extract(body, url=url)
    if doc is None:
        return key, None
    authors = [a.strip() for a in (doc.author or "").split(";") if a.strip()]
    return key, {"title": doc.title, "authors": authors, "published_at": doc.date, "language": doc.language,
                 "text": text}


def run_trafilatura(pages: list[Page]) -> dict[str, dict[str, Any] | None]:
    with get_context("forkserver").Pool(os.cpu_count() or 1) as pool:
        return dict(pool.map(_bare, [(p.key, p.url, p.html) for p in pages], chunksize=4))


# --- report ---------------------------------------------------------------------------------------------

def table(results: dict[str, dict[str, dict[str, Any] | None]], pages: list[Page]) -> tuple[str, dict[str, Any]]:
    groups = {"all": pages, "tuning": [p for p in pages if split_of(p.publisher) == "tuning"],
              "evaluation": [p for p in pages if split_of(p.publisher) == "evaluation"]}
    summary: dict[str, Any] = {}
    lines = []
    for name, group in groups.items():
        publishers = len({p.publisher for p in group})
        lines.append(f"\n{name}: {len(group)} pages, {publishers} publishers")
        lines.append(f"| field | {' | '.join(results)} | goal |")
        lines.append("|---|" + "---|" * (len(results) + 1))
        per = {tool: summarise([score(found.get(p.key), p) for p in group]) for tool, found in results.items()}
        summary[name] = {tool: {f: v[0] for f, v in s.items()} for tool, s in per.items()}
        for f in FIELDS:
            cells = []
            for tool in results:
                value, hits, total = per[tool][f]
                if tool == "trafilatura" and f == "language":
                    cells.append("none" if f == "language" else "-")
                elif f == "body_f1":
                    cells.append(f"{value:.3f}")
                else:
                    cells.append(f"{100 * value:.1f} % ({hits}/{total})")
            goal = GOALS.get(f)
            goal_text = "-" if goal is None else (f"≥ {goal:.2f}" if f == "body_f1" else f"≥ {100 * goal:g} %")
            lines.append(f"| {LABELS[f]} | {' | '.join(cells)} | {goal_text} |")
    return "\n".join(lines), summary


def sources_of(found: dict[str, dict[str, Any] | None]) -> str:
    from collections import Counter

    counts = Counter((r or {}).get("published_source") for r in found.values())
    precision = Counter((r or {}).get("published_precision") for r in found.values())
    return (f"published_source: {dict(counts.most_common())}\n"
            f"published_precision: {dict(precision.most_common())}")


def misses(found: dict[str, dict[str, Any] | None], pages: list[Page], field: str) -> str:
    """The pages whose ``field`` ingest got wrong: publisher, split, ingest's value, the expected one."""
    key = {"date": "published_at"}.get(field, field)
    lines = [f"\n{field}: the misses (publisher, split: ingest | expected)"]
    for page in sorted(pages, key=lambda p: p.publisher):
        got = found.get(page.key)
        if score(got, page)[field] is False:
            want = page.expected.get("publishing_date" if field == "date" else field)
            lines.append(f"{page.publisher} ({split_of(page.publisher)}): {(got or {}).get(key)!r} | {want!r}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--misses", choices=("title", "authors", "date", "language"),
                        help="also list the pages where ingest's value of this field is not the expected one")
    args = parser.parse_args()
    if not (corpus_dir() / "news-pages").is_dir():
        raise SystemExit(f"no corpus at {corpus_dir()}: set INGEST_CORPUS_DIR")
    routes, pages = load_pages()
    with tempfile.TemporaryDirectory(prefix="ingest-metadata-") as tmp:
        ours = run_ingest(pages, routes, Path(tmp))
    bare = run_trafilatura(pages)
    text, summary = table({"ingest": ours, "trafilatura": bare}, pages)
    print(f"{len(pages)} corpus pages with an expected parse; ingest archived "
          f"{sum(r is not None for r in ours.values())}")
    print(sources_of(ours))
    print(text)
    if args.misses:
        print(misses(ours, pages, args.misses))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
