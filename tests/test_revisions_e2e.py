"""Revisions through the real pipeline: a local site edits an article; polls record versions, and the
CLI shows the history with a diff, exports every version, retags and reprocesses without the network."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from ingest.cli import main
from ingest.clock import ManualClock
from ingest.config import parse_config
from ingest.demo.server import NewsSite, Route
from ingest.pipeline.reprocess import reprocess
from ingest.pipeline.stages import PollContext, poll_source
from ingest.store.db import open_archive, read_session, write_session
from ingest.store.models import ArticleState, ArticleVersion, Extraction, Fetch

ROOT = Path(__file__).resolve().parents[1]
PARAS = [
    "Ukraine's ambassador to South Korea said captured North Korean soldiers are not a bargaining chip and "
    "that their fate must be settled under international humanitarian law.",
    "Talks between Kyiv and Seoul on the prisoners of war continue, the ambassador told Yonhap in an "
    "interview, adding that it is too early to set a timeline for any negotiations.",
    "He urged Seoul to consider military-technical cooperation with Ukraine, warning that North Korea tests "
    "weapons on the battlefield that could one day be used against South Korea.",
]


def page(title: str, paras: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paras)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<article><h1>{title}</h1>{body}</article></body></html>").encode()


def feed(base: str, updated: str, title: str = "Envoy") -> bytes:
    return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title><link>{base}/</link>"
            f"<description>d</description><item><title>{title}</title><link>{base}/news/envoy.html</link>"
            f"<guid>envoy</guid><pubDate>Thu, 20 Feb 2025 08:00:00 GMT</pubDate>"
            f"<atom:updated xmlns:atom='http://www.w3.org/2005/Atom'>{updated}</atom:updated>"
            f"</item></channel></rss>").encode()


@pytest.fixture
def site() -> Any:
    state = {"page": page("Envoy: POWs are no bargaining chip", PARAS), "updated": "2025-02-20T08:00:00Z",
             "title": "Envoy"}
    html = (("Content-Type", "text/html; charset=utf-8"),)
    s = NewsSite({"/feed.xml": Route(200, (("Content-Type", "application/rss+xml"),),
                                     lambda base: feed(base, state["updated"], state["title"])),
                  "/news/envoy.html": Route(200, html, lambda base: state["page"]),
                  "/robots.txt": Route(200, (("Content-Type", "text/plain"),), b"User-agent: *\nAllow: /\n")})
    s.start()
    s.state = state
    yield s
    s.stop()


def poll(config: Any, url: str, clock: Any = None) -> dict[str, int]:
    engine = open_archive(url)
    with PollContext(config, engine, run_id=None, **({"clock": clock} if clock else {})) as ctx:
        report = poll_source(ctx, config.sources[0])
    engine.dispose()
    return dict(report.counts)


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_edits_become_versions_with_history(site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # config/tags.yaml is the default taxonomy
    url = f"sqlite:///{tmp_path / 'a.db'}"
    config = parse_config({"fetch": {"allow_private_networks": True, "per_host_delay_s": 0},
                           "sources": [{"name": "site", "feed": site.url("/feed.xml")}]})
    clock = ManualClock(datetime.now(UTC))
    assert poll(config, url, clock)["new"] == 1
    engine = open_archive(url)
    # the feed bumps the item's updated date only (feeds do on every build): no page fetch
    clock.advance(timedelta(minutes=10))
    site.state["updated"] = "2025-02-20T09:00:00Z"
    n_fetches = _count_page_fetches(engine)
    assert poll(config, url, clock).get("unchanged", 0) == 0
    assert _count_page_fetches(engine) == n_fetches
    # the feed changes the item's title: a re-check; the text is unchanged: no version
    clock.advance(timedelta(minutes=10))
    site.state["title"] = "Envoy: POWs"
    counts = poll(config, url, clock)
    assert counts.get("unchanged", 0) >= 1 and counts.get("updated", 0) == 0
    assert _count_page_fetches(engine) == n_fetches + 1
    # edited: headline changed, a paragraph added, a typo fixed; the feed's title changes again, but
    # within an hour of the last re-check: no fetch yet; the scheduled check (1 h after first seen) -> version 2
    site.state["page"] = page("Envoy: captured soldiers are no bargaining chip",
                              [PARAS[0], PARAS[1].replace("continue", "are continuing"), PARAS[2],
                               "Seoul's foreign ministry declined to comment on the talks."])
    site.state["updated"], site.state["title"] = "2025-02-20T10:00:00Z", "Envoy: captured soldiers"
    clock.advance(timedelta(minutes=10))
    assert poll(config, url, clock).get("updated", 0) == 0
    assert _count_page_fetches(engine) == n_fetches + 1
    clock.advance(timedelta(minutes=35))
    assert poll(config, url, clock).get("updated") == 1
    # the schedule: a re-check due now fetches the page again even though the feed did not change
    with write_session(engine) as s:
        s.execute(update(ArticleState).values(next_check_at=datetime(2020, 1, 1, tzinfo=UTC)))
    n_fetches = _count_page_fetches(engine)
    n_fetches = _count_page_fetches(engine)
    assert poll(config, url, clock).get("updated", 0) == 0
    assert _count_page_fetches(engine) == n_fetches + 1
    with read_session(engine) as s:
        assert s.execute(select(ArticleVersion.version)).scalars().all() == [1, 2]
    engine.dispose()

    shown = run("show", "1", "--history", "--no-text", "--db", url).output
    assert "History (2 versions)" in shown
    assert "-Envoy: POWs are no bargaining chip" in shown and "+Envoy: captured soldiers are no bargaining chip" in shown
    assert "+Seoul's foreign ministry declined to comment on the talks." in shown
    assert "Story #1: 1 article, first #1" in shown
    data = json.loads(run("show", "1", "--history", "--json", "--db", url).output)
    assert [h["version"] for h in data["history"]] == [1, 2] and data["history"][0]["diff"] is None
    exported = [json.loads(line) for line in run("export", "--db", url).output.splitlines()]
    assert [(r["version"], r["title"]) for r in exported] == [(2, "Envoy: captured soldiers are no bargaining chip")]
    every = [json.loads(line) for line in run("export", "--all-versions", "--db", url).output.splitlines()]
    assert [(r["version"], r["title"]) for r in every] == [(1, "Envoy: POWs are no bargaining chip"),
                                                           (2, "Envoy: captured soldiers are no bargaining chip")]
    # version 1's text is kept (stored on its row once superseded), version 2's is the article's
    assert "prisoners of war continue" in every[0]["text"] and "are continuing" in every[1]["text"]
    assert json.loads(run("search", "--collapse", "--json", "--db", url).output)["id"] == 1
    tagged = [json.loads(line) for line in run("export", "--tag", "prisoners-of-war", "--db", url).output.splitlines()]
    assert [r["id"] for r in tagged] == [1]
    retagged = json.loads(run("retag", "--db", url, "--json").output)
    assert (retagged["articles"], retagged["tagged"]) == (1, 1)

    # reprocess: no network (the site is gone), a new extraction from the stored bytes, same text
    site.stop()
    engine = open_archive(url)
    summary = reprocess(engine, config)
    assert {k: summary[k] for k in ("articles", "revised", "unchanged", "failed", "no_raw_bytes")} == {
        "articles": 1, "revised": 0, "unchanged": 1, "failed": 0, "no_raw_bytes": 0}
    with read_session(engine) as s:
        runs = s.execute(select(Extraction.run_id).order_by(Extraction.id)).scalars().all()
    assert runs[-1] == summary["run_id"] and len(runs) == 3
    engine.dispose()


def _count_page_fetches(engine: Any) -> int:
    with read_session(engine) as s:
        return len(s.execute(select(Fetch.id).where(Fetch.kind == "page")).all())
