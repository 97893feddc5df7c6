"""Backfills that found nothing, or less than they should, without a word (defects 10 and 11 of the soak
issue): a range shorter than one window dropped every dated URL; a refused, malformed or absent sitemap
printed rows of zeros and exited 0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sites import backfill_site
from sqlalchemy import select

from ingest.cli import main
from ingest.config import parse_config
from ingest.demo.server import NewsSite, Route
from ingest.pipeline import backfill as bf
from ingest.pipeline.stages import PollContext
from ingest.store.db import open_archive, read_session
from ingest.store.models import BackfillCheckpoint, Fetch

SPLIT = datetime(2024, 1, 1, tzinfo=UTC)
XML = (("Content-Type", "application/xml"),)
TEXT = (("Content-Type", "text/plain"),)
XXE = (b"<?xml version='1.0'?><!DOCTYPE urlset [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
       b"<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'><url><loc>&x;</loc></url></urlset>")


def _config(base: str) -> Any:
    return parse_config({"fetch": {"allow_private_networks": True, "per_host_delay_s": 0, "per_host_concurrency": 8},
                         "taxonomy": None, "sources": [{"name": "site", "feed": base + "/feed.xml"}]})


def test_a_range_shorter_than_one_window_keeps_its_dated_urls(tmp_path: Path, extractor: Any) -> None:
    site, groups = backfill_site(SPLIT)
    with site:
        dated = sorted(groups["old"] + groups["new"], key=lambda i: i.published)

        def in_range(start: datetime) -> set[str]:
            return {site.url(i.path) for i in dated if start <= i.published < start + timedelta(days=4)}

        # the 4 days (from a midnight) that hold the most articles
        since = max((i.published.replace(hour=0, minute=0, second=0, microsecond=0) for i in dated),
                    key=lambda start: len(in_range(start)))
        until, wanted = since + timedelta(days=4), in_range(since)
        assert len(wanted) >= 2
        cfg = _config(site.base_url)
        with PollContext(cfg, open_archive(f"sqlite:///{tmp_path / 'a.db'}"), None, extractor=extractor) as ctx:
            summary = bf.run_backfill(ctx, cfg.sources[0], "sitemap", since, until, window_days=7)
    assert bf.windows(since, until, 7) == [bf.Window(since, until)]
    assert summary["urls"] == len(wanted) and summary["totals"]["new"] == len(wanted)
    assert summary["nothing_found"] is None


@pytest.mark.parametrize(("routes", "fetch_kind", "why"), [
    ({"/robots.txt": Route(200, TEXT, lambda b: f"Sitemap: {b}/sitemap.xml\n".encode()),
      "/sitemap.xml": Route(200, XML, XXE)}, "parse_error", "refused: DOCTYPE or entity declarations"),
    ({"/robots.txt": Route(200, TEXT, lambda b: f"Sitemap: {b}/sitemap.xml\n".encode()),
      "/sitemap.xml": Route(200, XML, b"<urlset><url><loc>http://x/a</loc></url")}, "parse_error", "not XML"),
    ({"/robots.txt": Route(200, TEXT, b"User-agent: *\nDisallow:\n")}, "http_4xx", "lists no Sitemap:"),
], ids=["xxe", "malformed", "absent"])
def test_a_backfill_that_finds_nothing_says_why_and_stays_open(
        routes: dict[str, Route], fetch_kind: str, why: str, tmp_path: Path) -> None:
    site = NewsSite(routes)
    with site:
        db = f"sqlite:///{tmp_path / 'a.db'}"
        config = tmp_path / "feeds.yaml"
        config.write_text(f"database: '{db}'\ntaxonomy: null\nfetch: {{allow_private_networks: true, per_host_delay_s: 0}}\n"
                          f"sources:\n  - {{name: site, feed: '{site.url('/feed.xml')}'}}\n", encoding="utf-8")
        args = ["backfill", "--config", str(config), "--source", "site", "--since", "2024-01-01",
                "--until", "2024-01-04", "--via", "sitemap"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        [line] = [x for x in result.stderr.splitlines() if x.startswith("ingest: site: no URLs found: ")]
        assert why in line
        engine = open_archive(db)
        with read_session(engine) as s:
            sitemap_fetches = s.execute(select(Fetch.url, Fetch.error_kind).where(Fetch.kind == "sitemap")).all()
            checkpoints = s.execute(select(BackfillCheckpoint.status)).scalars().all()
        assert sitemap_fetches == [(site.url("/sitemap.xml"), fetch_kind)]
        assert checkpoints == ["pending"]  # a re-run after the site is fixed still does the work
        before = len(site.requests)
        CliRunner().invoke(main, args)
        assert len(site.requests) > before  # discovered again, not skipped as done
