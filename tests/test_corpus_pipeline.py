"""The whole shared corpus (254 real news pages, 41 countries) served at its original paths on
127.0.0.1 through one RSS feed, polled by the pipeline: every page is archived with exactly
trafilatura's text for the stored bytes and URL (readers' comments apart, in ``comments``), or
recorded with the reason it was not."""

from __future__ import annotations

from pathlib import Path

import trafilatura
import yaml
from sqlalchemy import select

from ingest.config import parse_config
from ingest.demo.server import NewsSite
from ingest.demo.site import corpus_routes
from ingest.pipeline.stages import PollContext, poll_source
from ingest.store.archive import read_blob
from ingest.store.db import open_archive, read_session
from ingest.store.models import Article, Entry, Extraction, Fetch


def test_corpus_through_the_pipeline_is_faithful(corpus_dir: Path, tmp_path: Path) -> None:
    routes, pages = corpus_routes(corpus_dir)
    url = f"sqlite:///{tmp_path / 'corpus.db'}"
    with NewsSite(routes) as site:
        config = parse_config(yaml.safe_load(f"""
fetch: {{allow_private_networks: true, per_host_delay_s: 0, per_host_concurrency: 8, respect_robots: false}}
sources: [{{name: corpus, feed: "{site.url('/feed.xml')}"}}]
"""))
        engine = open_archive(url)
        with PollContext(config, engine, run_id=None) as ctx:
            report = poll_source(ctx, config.sources[0])
    assert report.entries_in_feed == len(pages)
    options = config.extract.trafilatura_options()
    with read_session(engine) as s:
        entries = s.execute(select(Entry)).scalars().all()
        assert all(e.status in ("archived", "duplicate", "failed") for e in entries)
        failures = {e.error_kind for e in entries if e.status == "failed"}
        assert failures <= {"empty_extraction"}, failures
        for e in entries:
            if e.status == "failed":  # the page was kept: trafilatura itself finds (almost) nothing on it
                page = s.get(Fetch, e.page_fetch_id)
                text = trafilatura.extract(read_blob(s, page.blob_sha256), url=page.final_url, **options)
                assert len(text or "") < config.extract.min_text_chars, page.url
        checked = 0
        for article in s.execute(select(Article)).scalars():
            x = s.get(Extraction, article.current_extraction_id)
            # trafilatura's own output with comments is the archived text, then the comments kept apart
            reference = trafilatura.extract(read_blob(s, x.blob_sha256), url=x.url,
                                            **(options | {"include_comments": True}))
            if (x.options or {}).get("fallback"):  # no text from trafilatura: the publisher's own (fallback.py)
                assert article.text and not reference, x.url
            elif article.comments:
                assert reference.startswith(article.text), x.url
                assert reference[len(article.text):].split() == article.comments.split(), x.url
            else:
                assert article.text == reference, x.url
            checked += 1
    archived = sum(e.status == "archived" for e in entries)
    print(f"corpus: {len(pages)} pages, {archived} archived, "
          f"{sum(e.status == 'duplicate' for e in entries)} duplicate, {len(entries) - archived} other")
    assert checked == len({e.article_id for e in entries if e.status == "archived"})
    assert archived >= 240, f"only {archived} of {len(pages)} corpus pages archived"
