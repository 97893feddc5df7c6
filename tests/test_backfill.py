"""Backfills against a local site: sitemaps (robots.txt, gzip index, news sitemap), RFC 5005 archived
feeds, WordPress paged feeds, URL files; windows and checkpoints (resume, no-op); the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sites import backfill_site
from sqlalchemy import func, select, update

from ingest.cli import main
from ingest.config import parse_config
from ingest.errors import UsageError
from ingest.feeds.sitemaps import parse_sitemap, robots_sitemaps
from ingest.feeds.walk import paged_url, prev_archive
from ingest.pipeline import backfill as bf
from ingest.pipeline.stages import PollContext
from ingest.store.db import open_archive, read_session, write_session
from ingest.store.models import Article, BackfillCheckpoint, Entry

SPLIT = datetime(2025, 1, 1, tzinfo=UTC)
SINCE, UNTIL = datetime(2000, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def site() -> Any:
    s, groups = backfill_site(SPLIT)
    s.start()
    yield s, groups
    s.stop()


def _config(base: str, feed: str = "/archived.atom") -> Any:
    return parse_config({"fetch": {"allow_private_networks": True, "per_host_delay_s": 0, "per_host_concurrency": 8},
                         "sources": [{"name": "site", "feed": base + feed}]})


def _articles(engine: Any) -> set[str]:
    with read_session(engine) as s:
        return set(s.execute(select(Article.url)).scalars())


def test_pure_parts() -> None:
    assert robots_sitemaps("User-agent: *\nSitemap: http://a/s.xml\n sitemap:http://a/n.xml\nSitemap: http://a/s.xml") == [
        "http://a/s.xml", "http://a/n.xml"]
    assert paged_url("http://a/feed/?x=1&paged=2", 3) == "http://a/feed/?x=1&paged=3"
    assert prev_archive(b'<feed><link rel="self" href="/f"/><link href="a/2.atom" rel="prev-archive"/></feed>',
                        "http://h/x/f") == "http://h/x/a/2.atom"
    assert prev_archive(b"<rss><channel></channel></rss>", "http://h/f") is None
    doc = parse_sitemap(b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap>'
                        b"<loc>http://a/1.xml</loc><lastmod>2024-05-01T10:00:00+02:00</lastmod></sitemap></sitemapindex>")
    assert doc.urls == () and [(c.loc, c.date) for c in doc.children] == [
        ("http://a/1.xml", datetime(2024, 5, 1, 8, tzinfo=UTC))]
    wins = bf.windows(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 20, tzinfo=UTC), 7)
    assert [w.label() for w in wins] == ["2024-01-01..2024-01-08", "2024-01-08..2024-01-15",
                                         "2024-01-15..2024-01-20", "2024-01-01..2024-01-20"]
    c = [bf.Candidate("http://a/1", datetime(2024, 1, 9, tzinfo=UTC), "s"), bf.Candidate("http://a/2", None, "s"),
         bf.Candidate("http://a/1", None, "s")]
    assert {w.label(): [x.url for x in v] for w, v in bf.assign(c, wins).items() if v} == {
        "2024-01-08..2024-01-15": ["http://a/1"], "2024-01-01..2024-01-20": ["http://a/2"]}
    assert bf.parse_via("archive") == ("archive", None)  # re-extraction from stored bytes (ingest.pipeline.reprocess)
    assert bf.parse_via("urls:/tmp/u.txt") == ("urls", "/tmp/u.txt")
    with pytest.raises(UsageError, match="--via must be sitemap, feed, urls:FILE, warc:PATH, ccnews, wayback or archive, got .ftp."):
        bf.parse_via("ftp")
    assert bf.parse_range("2024-01-01", "2024-02-01T12:00+02:00") == (
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, 10, tzinfo=UTC))


@pytest.mark.parametrize(("via", "feed"), [("sitemap", "/archived.atom"), ("feed", "/archived.atom"),
                                           ("feed", "/wp/feed/")])
def test_backfill_finds_exactly_the_range(site: Any, tmp_path: Path, via: str, feed: str) -> None:
    s, groups = site
    engine = open_archive(f"sqlite:///{tmp_path / 'a.db'}")
    cfg = _config(s.base_url, feed)
    since = SPLIT - timedelta(days=400)
    wanted = {s.url(i.path) for i in groups["old"] + groups["new"] if since <= i.published < UNTIL}
    assert len(wanted) > 10 and len(wanted) < len(groups["old"]) + len(groups["new"])
    with PollContext(cfg, engine, None) as ctx:
        summary = bf.run_backfill(ctx, cfg.sources[0], via, since, UNTIL, window_days=90)
    assert summary["urls"] == len(wanted) and summary["totals"]["new"] == len(wanted)
    assert _articles(engine) == wanted
    with read_session(engine) as s_:
        keys = set(s_.execute(select(Entry.entry_key)).scalars())
    assert all(k.startswith("backfill:http://127.0.0.1") for k in keys) and len(keys) == len(wanted)
    assert not any("ancient" in t for _, t in s.requests)  # pruned by the index's lastmod


def test_killed_backfill_resumes_and_a_finished_one_is_a_no_op(site: Any, tmp_path: Path) -> None:
    s, groups = site
    engine = open_archive(f"sqlite:///{tmp_path / 'a.db'}")
    cfg = _config(s.base_url)
    # from 2002: the index's ancient sitemap (lastmod 2001, answering 500) is pruned, so discovery is
    # complete and empty windows are done (a failed sitemap keeps them open: test_backfill_faults.py)
    SINCE = datetime(2002, 1, 1, tzinfo=UTC)  # noqa: N806
    with PollContext(cfg, engine, None) as ctx:
        first = bf.run_backfill(ctx, cfg.sources[0], "sitemap", SINCE, UNTIL, window_days=3650)
        total = first["totals"]["new"]
        assert total == len(groups["old"]) + len(groups["new"]) and first["windows_run"] == 4
        # as if killed during the last dated window: it is not done, and half its articles are gone
        with write_session(engine) as s_:
            last = s_.execute(select(BackfillCheckpoint).where(BackfillCheckpoint.urls > 0)
                              .order_by(BackfillCheckpoint.window_start.desc())).scalars().first()
            s_.execute(update(BackfillCheckpoint).where(BackfillCheckpoint.id == last.id).values(status="pending"))
            s_.execute(update(Entry).where(Entry.published_at >= last.window_start).values(status="pending"))
            last_urls = last.urls
        s.requests.clear()
        resumed = bf.run_backfill(ctx, cfg.sources[0], "sitemap", SINCE, UNTIL, window_days=3650)
        assert resumed["windows_run"] == 1 and resumed["urls"] == last_urls > 0
        assert resumed["totals"]["unchanged"] == last_urls and resumed["totals"]["new"] == 0
        s.requests.clear()
        again = bf.run_backfill(ctx, cfg.sources[0], "sitemap", SINCE, UNTIL, window_days=3650)
        assert again["windows_run"] == 0 and again["totals"] == {}
        assert s.requests == []  # nothing discovered, nothing fetched
    with read_session(engine) as s_:
        assert s_.execute(select(func.count()).select_from(Article)).scalar_one() == total


def test_cli_backfill_from_a_url_file(site: Any, tmp_path: Path) -> None:
    s, groups = site
    urls = [s.url(i.path) for i in groups["old"][:3]]
    file = tmp_path / "urls.txt"
    file.write_text("# three articles\n" + "\n".join(urls) + "\n\n" + urls[0] + "\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'a.db'}"
    config = tmp_path / "feeds.yaml"
    config.write_text(f"database: '{db}'\nfetch: {{allow_private_networks: true, per_host_delay_s: 0}}\n"
                      f"sources:\n  - {{name: site, feed: '{s.url('/archived.atom')}'}}\n", encoding="utf-8")
    args = ["backfill", "--config", str(config), "--source", "site", "--since", "2024-01-01",
            "--until", "2024-03-01", "--via", f"urls:{file}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "run 1: 3 URLs; new 3, updated 0, duplicate 0, unchanged 0, failed 0" in result.output
    assert _articles(open_archive(db)) == set(urls)
    result = CliRunner().invoke(main, args)
    assert result.output.startswith("backfill of site via urls:") and "nothing to do" in result.output


def _url_file_setup(s: Any, tmp_path: Path, urls: list[str], db_name: str) -> tuple[Path, str, Path]:
    """A file of ``urls``, an archive URL and a config with the site as source ``site``."""
    file = tmp_path / "urls.txt"
    file.write_text("\n".join(urls) + "\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / db_name}"
    config = tmp_path / "feeds.yaml"
    config.write_text(f"database: '{db}'\nfetch: {{allow_private_networks: true, per_host_delay_s: 0}}\n"
                      f"sources:\n  - {{name: site, feed: '{s.url('/archived.atom')}'}}\n", encoding="utf-8")
    return file, db, config


def test_cli_backfill_from_a_url_file_needs_no_range(site: Any, tmp_path: Path) -> None:
    s, groups = site
    urls = [s.url(i.path) for i in groups["old"][:2]]
    file, db, config = _url_file_setup(s, tmp_path, urls, 'a.db')
    result = CliRunner().invoke(main, ["backfill", "--config", str(config), "--source", "site", "--via", f"urls:{file}"])
    assert result.exit_code == 0, result.output
    assert "2 URLs; new 2" in result.output
    assert _articles(open_archive(db)) == set(urls)
    result = CliRunner().invoke(main, ["backfill", "--config", str(config), "--source", "site", "--via", "sitemap"])
    assert isinstance(result.exception, UsageError) and "--since is needed with --via sitemap" in str(result.exception)


def test_backfill_help_lists_every_via() -> None:
    text = CliRunner().invoke(main, ["backfill", "--help"]).output
    assert "sitemap|feed|urls:FILE|warc:PATH|ccnews|wayback|archive" in text


@pytest.mark.prefect
def test_the_backfill_flow_is_the_library_story_with_tasks(prefect_harness: None, site: Any, tmp_path: Path) -> None:
    from ingest.orchestrate.runtime import load_flow
    from ingest.store.models import Run

    s, groups = site
    urls = [s.url(i.path) for i in groups["old"][:3]]
    file, db, config = _url_file_setup(s, tmp_path, urls, 'flow.db')
    flow = load_flow("backfill", "backfill")
    summary = flow(source="site", via=f"urls:{file}", config_path=str(config))
    assert summary["urls"] == 3 and summary["totals"]["new"] == 3 and summary["run_id"]
    assert flow(source="site", via=f"urls:{file}", config_path=str(config))["windows_run"] == 0  # checkpointed
    engine = open_archive(db)
    assert _articles(engine) == set(urls)
    with read_session(engine) as s_:
        runs = s_.execute(select(Run.kind, Run.status, Run.prefect_flow_name)).all()
    assert runs == [("backfill", "completed", "backfill")] * 2
