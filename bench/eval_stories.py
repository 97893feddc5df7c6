"""Held-out story evaluation: real corpus articles re-published by three other sites, placed through the
archive in several arrival orders; stories scored against the known truth. Run by
bench/eval_dedup_tags.py (``eval_stories``), or alone:

    INGEST_CORPUS_DIR=/work/shared/corpus .venv/bin/python bench/eval_stories.py

The set (seed 20261202, built from the shared corpus's pages as ingest extracts them; nothing in it was
looked at while writing the rules, which were written against the pair set and tests/test_story_merges.py):

- 100 originals (pages with >= 4 paragraphs and >= 1,000 characters), each re-published by three
  sites in their own page templates (three templates not used anywhere else), under new headlines, and
  extracted again from those pages by the real extractor. Each copy is one of: verbatim, a paragraph
  cut, a paragraph of another article added ("related"), edited (typos and a changed sentence), cut and
  added, or truncated to its first 60 % or 35 % of characters with a "Read more" link. Kinds rotate so
  each has 50 copies.
- 20 re-posts by the original's own source under the same headline, rewritten (its first half kept, a
  paragraph of another article added): the title rule's positives.
- Hard negatives: every other corpus page as a story of its own (same publishers, same topics, same
  languages as the originals), and four recurring headlines ("Morning Briefing: what you need to know
  today", "Letters", "Live: the latest", "News in brief"), each heading six different German pages of one
  source.

Orders: originals first, copies first, and three random shuffles. Each order is a fresh SQLite archive
filled by ``archive.store_outcomes`` (the poll's own store path). Scores: pairwise precision and recall
of "same story" over all article pairs, recall per copy kind (copy in its original's story), stories
split across several clusters, false merges, and whether every order gave the same partition.
"""

from __future__ import annotations

import hashlib
import html
import random
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import decide  # noqa: E402
from ingest.analyse.neardup import DedupParams  # noqa: E402
from ingest.config import SourceConfig  # noqa: E402
from ingest.extract.pages import Extraction, ExtractorPool, PageInput  # noqa: E402
from ingest.feeds.parse import FeedEntry  # noqa: E402
from ingest.fetch.client import FetchRecord, FetchResult  # noqa: E402
from ingest.store import archive  # noqa: E402
from ingest.store.db import open_archive, read_session, write_session  # noqa: E402
from ingest.store.enrich import Enricher  # noqa: E402

SEED = 20261202
SITE_TEMPLATES = [  # held out: not the templates of the pair set
    ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title} — Coastal Courier</title></head>"
     "<body><div class='masthead'><a href='/'>Coastal Courier</a> <span>Weather: 14°C</span></div>"
     "<nav class='breadcrumb'><a href='/'>Home</a> › <a href='/news'>News</a></nav><article class='post'>"
     "<h1 class='headline'>{title}</h1><div class='meta'><time datetime='2026-01-05'>5 January 2026</time></div>"
     "<div class='post-body'>{body}</div></article><section class='newsletter'><h3>Get the Courier daily</h3>"
     "<p>Our editors' picks every morning.</p></section><footer>Coastal Courier Ltd · Imprint · Privacy</footer>"
     "</body></html>"),
    ("<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body><div id='wrap'>"
     "<div id='left'><ul><li><a href='/latest'>Latest</a></li><li><a href='/top'>Top stories</a></li></ul></div>"
     "<div id='main'><div class='headline'><h1>{title}</h1></div><div class='article-text'>{body}</div>"
     "<div class='source'>Source: agencies</div></div><div id='right'><h4>Trending</h4><ol>"
     "<li><a href='/t1'>Celebrity wedding photos released</a></li><li><a href='/t2'>Lottery jackpot grows</a></li>"
     "</ol></div></div></body></html>"),
    ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title} | The Monitor Review</title>"
     "<meta property='og:title' content='{title}'></head><body><header class='site'><p class='logo'>The Monitor "
     "Review</p></header><main id='story'><h1>{title}</h1><p class='standfirst'>Republished under licence.</p>"
     "{body}<aside class='tags'>Topics: World · Politics</aside></main><div class='cookie'>We use cookies. "
     "<button>OK</button></div></body></html>"),
]
KINDS = ("verbatim", "paragraph-cut", "paragraph-added", "edited", "cut-and-added", "truncated-60", "truncated-35")
RECURRING = ("Morning Briefing: what you need to know today", "Letters", "Live: the latest", "News in brief")


@dataclass(frozen=True)
class Item:
    key: str  # unique
    story: str  # the gold story (its original's key)
    kind: str  # original | <copy kind> | title-repost | single | recurring
    source: str
    url: str
    title: str
    text: str


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n") if p.strip()]


def publisher(key: str) -> str:
    return key.split("/")[1].split("_")[0]


def _typos(text: str, rng: random.Random, n: int) -> str:
    words = text.split(" ")
    for _ in range(n):
        i = rng.randrange(len(words))
        if len(words[i]) > 4:
            j = rng.randrange(1, len(words[i]) - 2)
            words[i] = words[i][:j] + words[i][j + 1:]
    return " ".join(words)


def _copy_body(kind: str, paras: list[str], other: list[str], origin_url: str, rng: random.Random) -> str:
    """The copy's article HTML (paragraphs) for one kind."""
    if kind == "paragraph-cut":
        paras = paras[1:] if rng.random() < 0.5 else paras[:-1]
    elif kind == "paragraph-added":
        paras = paras[:2] + [rng.choice(other)] + paras[2:]
    elif kind == "edited":
        paras = paragraphs(_typos("\n".join(paras), rng, 4))
        i = rng.randrange(len(paras))
        paras[i] = paras[i].split(". ")[0] + ". " + "This account could not be independently verified."
    elif kind == "cut-and-added":
        paras = paragraphs(_typos("\n".join(paras[:-1] + [rng.choice(other)]), rng, 2))
    parts = [f"<p>{html.escape(p)}</p>" for p in paras]
    if kind.startswith("truncated-"):
        full = "\n".join(paras)
        cut = full[:int(len(full) * int(kind.split("-")[1]) / 100)].rsplit(" ", 1)[0] + " …"
        parts = [f"<p>{html.escape(p)}</p>" for p in paragraphs(cut)]
        parts.append(f"<p class='more'><a href='{html.escape(origin_url)}'>Read more</a></p>")
    return "".join(parts)


def _headline(title: str, site: int, rng: random.Random) -> str:
    words = (title or "News").split()
    return [f"{title} – what we know", " ".join(words[: max(3, len(words) - 2)]), f"ANALYSIS: {title}"][site] \
        if rng.random() < 0.9 else title


def build_items(texts: dict[str, dict[str, Any]], pool: ExtractorPool) -> list[Item]:
    rng = random.Random(SEED)
    eligible = sorted(k for k, v in texts.items() if len(paragraphs(v["text"])) >= 4 and len(v["text"]) >= 1000)
    originals = rng.sample(eligible, 100)
    rest = sorted(set(texts) - set(originals))
    # the corpus holds one article crawled twice (one URL, two dates): one story, and the archive's one
    # article (the second page is a revision of the first)
    first_at: dict[str, str] = {}
    for k in sorted(texts):
        first_at.setdefault(texts[k]["url"], k)
    story = {k: first_at[texts[k]["url"]] for k in texts}
    items = [Item(k, story[k], "original", publisher(k), texts[k]["url"], texts[k]["title"] or k, texts[k]["text"])
             for k in originals]
    inputs, meta = [], []
    for i, k in enumerate(originals):
        paras = paragraphs(texts[k]["text"])
        for site in range(3):
            kind = KINDS[(i * 3 + site) % len(KINDS)]
            other = paragraphs(texts[rng.choice([o for o in eligible if o != k])]["text"])
            title = _headline(texts[k]["title"] or "News", site, rng)
            body = _copy_body(kind, paras, other, texts[k]["url"], rng)
            url = f"https://site{site}.example/{hashlib.sha1(k.encode()).hexdigest()[:10]}"
            page = SITE_TEMPLATES[site].format(title=html.escape(title, quote=True), body=body)
            inputs.append(PageInput(url=url, body=page.encode(), content_type="text/html; charset=utf-8"))
            meta.append((k, kind, f"site{site}", url, title))
    for (k, kind, source, url, title), r in zip(meta, pool.extract_many(inputs), strict=True):
        if isinstance(r, Extraction):
            items.append(Item(f"{source}:{k}", story[k], kind, source, url, title, r.text))
    for k in rng.sample(originals, 20):  # the same source re-posts its story rewritten, same headline
        paras = paragraphs(texts[k]["text"])
        other = paragraphs(texts[rng.choice([o for o in eligible if o != k])]["text"])
        text = "\n".join(paras[: max(2, len(paras) // 2)] + [rng.choice(other)])
        items.append(Item(f"repost:{k}", story[k], "title-repost", publisher(k), texts[k]["url"].rstrip("/") + "-repost",
                          texts[k]["title"] or k, text))
    german = [k for k in rest if k.startswith("de/")]
    recurring = set(rng.sample(german, 6 * len(RECURRING)))
    for n, k in enumerate(sorted(recurring)):
        items.append(Item(k, story[k], "recurring", f"recurring{n % len(RECURRING)}", texts[k]["url"],
                          RECURRING[n % len(RECURRING)], texts[k]["text"]))
    items += [Item(k, story[k], "single", publisher(k), texts[k]["url"], texts[k]["title"] or k, texts[k]["text"])
              for k in rest if k not in recurring]
    return items


def orders(items: list[Item]) -> dict[str, list[Item]]:
    originals = [i for i in items if i.kind in ("original", "single", "recurring")]
    copies = [i for i in items if i not in originals]
    out = {"originals-first": originals + copies, "copies-first": copies + originals}
    for seed in (1, 2, 3):
        shuffled = list(items)
        random.Random(seed).shuffle(shuffled)
        out[f"random-{seed}"] = shuffled
    return out


def _fetch(url: str, body: bytes, t: datetime) -> FetchResult:
    rec = FetchRecord(url=url, final_url=url, redirects=(), status=200, headers={"content-type": "text/html"},
                      n_bytes=len(body), sha256=hashlib.sha256(body).hexdigest(), started_at=t, duration_ms=1,
                      attempt=1, error_kind=None, error_detail=None)
    return FetchResult(url=url, final_url=url, status=200, headers={"content-type": "text/html"}, body=body,
                       records=(rec,), not_modified=False, error=None, retry_after_s=None)


def _extraction(item: Item) -> Extraction:
    return Extraction(text=item.text, title=item.title, authors=(), published=None, language=None,
                      language_source="page", sitename=None, description=None, hostname=None, categories=(),
                      tags=(), canonical_url=None, image=None, encoding="utf-8", extractor="trafilatura",
                      extractor_version="eval", options={})


def place(items: list[Item], params: DedupParams) -> dict[str, int]:
    """Store the items in this order in a fresh SQLite archive; item key -> story cluster id."""
    from sqlalchemy import select

    from ingest.store.models import ClusterMember, Entry

    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    enricher = Enricher(None, params)
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_archive(f"sqlite:///{tmp}/stories.db")
        names = sorted({i.source.replace("_", "-").lower() for i in items})
        sids = archive.ensure_sources(engine, [SourceConfig(name=n, feed=f"https://{n}.example/feed") for n in names])
        by_source: dict[str, list[Item]] = {}
        for i in items:
            by_source.setdefault(i.source.replace("_", "-").lower(), []).append(i)
        with write_session(engine) as s:
            for name, its in by_source.items():
                archive.upsert_entries(s, source_id=sids[name], feed_url=f"https://{name}.example/feed",
                                       feed_fetch_id=None, run_id=None, now=now, entries=[
                                           FeedEntry(key=i.key, guid=i.key, link=i.url, link_error=None, title=None,
                                                     summary=None, authors=(), published=None, updated=None,
                                                     categories=()) for i in its])
        with read_session(engine) as s:
            eids = {(sid, k): e for sid, k, e in s.execute(select(Entry.source_id, Entry.entry_key, Entry.id))}
        article_of = {}
        for i in items:
            sid = sids[i.source.replace("_", "-").lower()]
            [stored] = archive.store_outcomes(engine, [archive.PageOutcome(
                (eids[(sid, i.key)],), i.url, _fetch(i.url, i.text.encode(), now), _extraction(i))],
                run_id=None, source_id=sid, next_attempt=decide.next_item_attempt, enricher=enricher, now=now)
            article_of[i.key] = stored.article_id
        with read_session(engine) as s:
            cluster = dict(s.execute(select(ClusterMember.article_id, ClusterMember.cluster_id)).all())
        engine.dispose()
    return {k: cluster[a] for k, a in article_of.items()}


def score(items: list[Item], cluster: dict[str, int]) -> dict[str, Any]:
    gold = {i.key: i.story for i in items}
    kind = {i.key: i.kind for i in items}
    tp = fp = fn = 0
    false_merges = []
    for a, b in combinations(sorted(gold), 2):
        same, got = gold[a] == gold[b], cluster[a] == cluster[b]
        tp += same and got
        fn += same and not got
        if got and not same:
            fp += 1
            false_merges.append((kind[a], a, kind[b], b))
    by_kind: dict[str, Counter[str]] = {}
    missed = []
    for i in items:
        if i.kind not in ("original", "single", "recurring"):
            c = by_kind.setdefault(i.kind, Counter())
            c["n"] += 1
            c["joined"] += cluster[i.key] == cluster[i.story]
            if cluster[i.key] != cluster[i.story]:
                missed.append((i.kind, i.key))
    stories: dict[str, set[int]] = {}
    for k, s in gold.items():
        stories.setdefault(s, set()).add(cluster[k])
    multi = [s for s, cs in stories.items() if sum(1 for k in gold if gold[k] == s) > 1]
    truncated = [c for k, c in by_kind.items() if k.startswith("truncated")]
    return {"precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0,
            "copy_recall": sum(c["joined"] for c in by_kind.values()) / sum(c["n"] for c in by_kind.values()),
            "truncated_recall": sum(c["joined"] for c in truncated) / sum(c["n"] for c in truncated),
            "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
            "split": sum(1 for s in multi if len(stories[s]) > 1), "stories": len(multi),
            "false_merges": false_merges, "missed": missed, "partition": frozenset(
                frozenset(k for k in gold if cluster[k] == c) for c in set(cluster.values()))}


def eval_stories(texts: dict[str, dict[str, Any]], pool: ExtractorPool, params: DedupParams | None = None,
                 ablations: bool = True) -> dict[str, Any]:
    params = params or DedupParams()
    items = build_items(texts, pool)
    runs = {name: score(items, place(order, params)) for name, order in orders(items).items()}
    out: dict[str, Any] = {"items": len(items), "kinds": Counter(i.kind for i in items), "runs": runs,
                           "same_partition": len({r["partition"] for r in runs.values()}) == 1}
    if ablations:  # what each part buys, on the two extreme orders
        variants = {"no containment, no lead index, no title floor (merges only)":
                    replace(params, containment=2.0, lead_shingles=0, title_similarity=0.0),
                    "no lead index": replace(params, lead_shingles=0),
                    "no title floor": replace(params, title_similarity=0.0)}
        out["ablations"] = {name: {o: score(items, place(orders(items)[o], p))
                                   for o in ("originals-first", "copies-first")} for name, p in variants.items()}
    return out


def report(d: dict[str, Any]) -> bool:
    print(f"== Stories, held-out set: {d['items']} articles {dict(d['kinds'])}; placed through the archive "
          f"(SQLite) in {len(d['runs'])} orders")
    ok = True
    for name, r in d["runs"].items():
        ok &= r["precision"] >= 0.99 and r["recall"] >= 0.97 and r["truncated_recall"] >= 0.9
        kinds = "  ".join(f"{k} {c['joined']}/{c['n']}" for k, c in r["by_kind"].items())
        print(f"   {name:16} pairs P {r['precision']:.3f} R {r['recall']:.3f}  copies {r['copy_recall']:.3f}  "
              f"truncated {r['truncated_recall']:.3f}  split {r['split']}/{r['stories']} stories  "
              f"false merges {len(r['false_merges'])}")
        print(f"   {'':16} {kinds}")
        for fm in r["false_merges"][:5]:
            print(f"   {'':16} false merge: {fm}")
        if name == "originals-first":
            for kind, key in r["missed"]:
                print(f"   {'':16} missed: {kind} {key}")
    print(f"   same partition in every order: {'yes' if d['same_partition'] else 'NO'}   "
          "(bars: P >= 0.99, R >= 0.97, truncated R >= 0.9, in every order)")
    for name, per in d.get("ablations", {}).items():
        print(f"   without: {name}")
        for o, r in per.items():
            print(f"      {o:16} P {r['precision']:.3f} R {r['recall']:.3f} truncated {r['truncated_recall']:.3f} "
                  f"split {r['split']}/{r['stories']} false merges {len(r['false_merges'])} "
                  f"(title-repost: {r['by_kind'].get('title-repost')})")
    return ok and d["same_partition"]


def main() -> int:
    from eval_corpus import corpus_texts

    from ingest.config import ExtractSettings

    pool = ExtractorPool(ExtractSettings())
    pool.start()
    try:
        texts = corpus_texts(pool)
        d = eval_stories(texts, pool)
    finally:
        pool.close()
    return 0 if report(d) else 1


if __name__ == "__main__":
    sys.exit(main())
