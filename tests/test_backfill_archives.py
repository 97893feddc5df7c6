"""Backfills from the archives others keep, against real-format fixtures on 127.0.0.1: CC-NEWS (monthly
``warc.paths.gz`` listings and WARC files written with warcio from the shared corpus's real pages), the
Wayback Machine (a CDX server with JSON output and ``showResumeKey`` paging, ``id_`` captures), and WARC
files on disk. Each archives exactly the source's pages in the range, a re-run adds nothing, and a killed
one resumes at the next file / CDX page."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from archivesite import ArchiveServer, Capture, Page, Rec, corpus_pages, gz_lines, host_of, write_warc
from sqlalchemy import func, select
from warcio.archiveiterator import ArchiveIterator

from ingest.config import parse_config
from ingest.interop import ccnews, wayback
from ingest.interop.captures import SiteMatcher
from ingest.pipeline import backfill as bf
from ingest.store.db import open_archive, read_session
from ingest.store.models import Article, BackfillCheckpoint, Entry, Fetch

REPO = Path(__file__).resolve().parents[1]
HOSTS = ["waz.de", "br.de", "faz.net", "dw.com", "n-tv.de"]
SINCE, UNTIL = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 20, tzinfo=UTC)
CC = "crawl-data/CC-NEWS"


def at(day: int, hour: int = 12, month: int = 5) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


@pytest.fixture(scope="module")
def pages(corpus_dir: Path) -> tuple[list[Page], list[Page]]:
    """(the source's pages, 16 of them on five German publishers' sites; 30 pages of other sites)."""
    everything = corpus_pages(corpus_dir)
    mine = [p for p in everything if any(host_of(p.url) == h or host_of(p.url).endswith("." + h) for h in HOSTS)]
    others = [p for p in everything if p not in mine][:30]
    assert len(mine) == 16
    return mine, others


@pytest.fixture(scope="module")
def ccnews_site(pages: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A CC-NEWS tree: an April file running into May, four May files (the last started after the range),
    other sites, non-HTML, a 404, a revisit, a request without response, one URL twice."""
    mine, others = pages
    d = tmp_path_factory.mktemp("ccnews")
    files = {
        f"{CC}/2024/04/CC-NEWS-20240430233000-00100.warc.gz": [
            Rec(mine[0].url, at(30, 23, 4) + timedelta(minutes=45), mine[0].body),  # before the range
            Rec(mine[1].url, at(1, 0) + timedelta(minutes=5), mine[1].body),  # in it: the file runs into May
            Rec(others[0].url, at(1, 0), others[0].body)],
        f"{CC}/2024/05/CC-NEWS-20240501010000-00101.warc.gz": [
            *(Rec(p.url, at(1 + i), p.body) for i, p in enumerate(mine[2:6])),
            *(Rec(p.url, at(2), p.body) for p in others[1:10]),
            Rec(mine[2].url.rsplit("/", 1)[0] + "/logo.jpg", at(2), b"\xff\xd8\xff", content_type="image/jpeg"),
            Rec(mine[3].url + "-gone", at(2), b"<html>gone</html>", status=404),
            Rec(mine[4].url, at(3), kind="revisit"), Rec(mine[5].url + "?x=1", at(3), kind="request-only")],
        f"{CC}/2024/05/CC-NEWS-20240508000000-00102.warc.gz": [
            *(Rec(p.url, at(8 + i), p.body) for i, p in enumerate(mine[6:10])),
            *(Rec(p.url, at(9), p.body) for p in others[10:20]),
            Rec(mine[6].url, at(12), mine[6].body)],  # the same page again: one entry, one article
        f"{CC}/2024/05/CC-NEWS-20240516000000-00103.warc.gz": [
            *(Rec(p.url, at(16 + i), p.body) for i, p in enumerate(mine[10:13])),
            Rec(mine[13].url, at(21), mine[13].body),  # after the range
            *(Rec(p.url, at(17), p.body) for p in others[20:30])],
        f"{CC}/2024/05/CC-NEWS-20240525000000-00104.warc.gz": [
            *(Rec(p.url, at(25), p.body) for p in mine[14:16])],  # started after the range: never read
    }
    server = ArchiveServer()
    ids: dict[str, dict[str, str]] = {}
    for path, recs in files.items():
        local = d / Path(path).name
        ids[path] = write_warc(local, recs)
        server.files[f"/cc/{path}"] = local.read_bytes()
    server.files[f"/cc/{CC}/2024/04/warc.paths.gz"] = gz_lines([p for p in files if "/2024/04/" in p])
    server.files[f"/cc/{CC}/2024/05/warc.paths.gz"] = gz_lines(
        [p for p in files if "/2024/05/" in p] + [f"{CC}/2024/05/not-a-cc-news-name.warc.gz"])
    server.start()
    expected = {p.url for p in [mine[1], *mine[2:6], *mine[6:10], *mine[10:13]]}
    yield server, files, ids, expected, d, {p.url for p in mine}
    server.stop()


def _config(server: ArchiveServer, tmp: Path, **backfill: Any) -> tuple[Any, Path]:
    data = {"fetch": {"allow_private_networks": True, "per_host_delay_s": 0, "retries": 2, "backoff_base_s": 0.05},
            "backfill": {"ccnews_url": server.base_url + "cc/", "wayback_url": server.base_url,
                         "wayback_delay_s": 0, **backfill},
            "sources": [{"name": "press", "feed": "https://www.waz.de/rss", "hosts": HOSTS}]}
    path = tmp / "feeds.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return parse_config(data, path=str(path)), path


def _state(engine: Any) -> dict[str, Any]:
    with read_session(engine) as s:
        return {"articles": s.execute(select(func.count()).select_from(Article)).scalar_one(),
                "entries": s.execute(select(func.count()).select_from(Entry)).scalar_one(),
                "page_fetches": s.execute(select(func.count()).select_from(Fetch).where(Fetch.kind == "page")).scalar_one(),
                "links": sorted(s.execute(select(Entry.link)).scalars()),
                "statuses": sorted(set(s.execute(select(Entry.status)).scalars()))}


def test_pure_parts() -> None:
    paths = [f"{CC}/2024/05/CC-NEWS-20240501010000-00101.warc.gz", f"{CC}/2024/05/CC-NEWS-20240508000000-00102.warc.gz",
             f"{CC}/2024/05/CC-NEWS-20240525000000-00104.warc.gz", "junk.txt"]
    assert [f.serial for f in ccnews.files_for_range(paths, at(9), at(10))] == [102]
    assert [f.serial for f in ccnews.files_for_range(paths, at(1), at(8))] == [101, 102]  # 102 started before the end
    assert ccnews.months(at(1, 0), at(20)) == [(2024, 4), (2024, 5)]
    url = wayback.cdx_query("https://web.archive.org/", "rbc.ua", at(1, 0), at(2, 0), limit=50, resume_key="k k")
    assert url.startswith("https://web.archive.org/cdx/search/cdx?url=rbc.ua%2F%2A&from=20240501000000&to=20240501235959")
    assert "filter=statuscode%3A200&filter=mimetype%3Atext%2Fhtml&collapse=urlkey&limit=50&showResumeKey=true&resumeKey=k+k" in url
    page = wayback.parse_page(b'[["urlkey","timestamp","original"],["a)/","20240501","http://a/"],[],["next key"]]')
    assert page.resume_key == "next key" and page.captures[0].captured_at == at(1, 0)
    assert wayback.parse_page(b"[]").captures == [] and wayback.parse_page(b"").resume_key is None
    with pytest.raises(wayback.CdxFormatError):
        wayback.parse_page(b"<html>busy</html>")
    src = parse_config({"sources": [{"name": "b", "feed": "https://feeds.bbci.co.uk/news/rss.xml"}]}).sources[0]
    assert SiteMatcher(src)("https://www.bbci.co.uk/a") and not SiteMatcher(src)("https://www.bbc.com/a")


@pytest.mark.usefixtures("corpus_dir")
def test_ccnews_backfill_archives_exactly_the_range_and_a_rerun_adds_nothing(
        ccnews_site: Any, database_url: str, tmp_path: Path, extractor: Any) -> None:
    server, files, ids, expected, d, everything = ccnews_site
    config, _ = _config(server, tmp_path)
    engine = open_archive(database_url)
    before = len(server.log)
    result = bf.backfill(config, engine, "press", since=SINCE, until=UNTIL, via="ccnews", extractor=extractor)
    assert result.problems == [] and result.windows == 4 and result.windows_run == 4, result.as_dict()
    got = _state(engine)
    assert set(got["links"]) == expected and got["statuses"] == ["archived"]
    assert got["articles"] == len(expected) and result.totals["new"] == len(expected)
    requested = [p for _, p in server.log[before:]]
    assert not any("00104" in p for p in requested)  # started after the range: never read
    # provenance: each page fetch names its WARC file, the offset of its record and its record id
    with read_session(engine) as s:
        rows = s.execute(select(Fetch.url, Fetch.warc_file, Fetch.warc_offset, Fetch.warc_record_id, Fetch.captured_at,
                                Fetch.started_at).where(Fetch.kind == "page")).all()
    assert {r.url for r in rows} == expected
    for r in rows:
        path = r.warc_file.removeprefix(server.base_url + "cc/")
        assert r.warc_record_id == ids[path][r.url] and r.captured_at == r.started_at
        with open(d / Path(path).name, "rb") as fh:
            fh.seek(r.warc_offset)
            record = next(iter(ArchiveIterator(fh)))
            assert record.rec_headers.get_header("WARC-Record-ID") == r.warc_record_id
    # a re-run: every file done, nothing fetched again but the listings, nothing added
    n = len(server.log)
    again = bf.backfill(config, engine, "press", since=SINCE, until=UNTIL, via="ccnews", extractor=extractor)
    assert again.windows_run == 0 and _state(engine) == got
    assert all(p.endswith("warc.paths.gz") for _, p in server.log[n:])
    engine.dispose()


def _cli(config_path: Path, db: str, via: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([sys.executable, "-c", "from ingest.cli import entry; entry()", "backfill", "--source",
                             "press", "--via", via, "--config", str(config_path), "--db", db, "--json", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(cond: Any, what: str, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.usefixtures("corpus_dir")
def test_a_killed_ccnews_backfill_resumes_at_the_next_file(ccnews_site: Any, tmp_path: Path) -> None:
    server, files, ids, expected, d, everything = ccnews_site
    _, config_path = _config(server, tmp_path)
    db = f"sqlite:///{tmp_path / 'a.db'}"
    held = f"/cc/{CC}/2024/05/CC-NEWS-20240508"
    gate = server.hold.setdefault(held, threading.Event())
    gate.clear()
    before = len(server.log)
    proc = _cli(config_path, db, "ccnews", "--since", "2024-05-01", "--until", "2024-05-20")
    try:
        _wait_for(lambda: any(p.startswith(held) for _, p in server.log[before:]), "the second May file's request")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
    engine = open_archive(db)
    with read_session(engine) as s:
        done = set(s.execute(select(BackfillCheckpoint.via).where(BackfillCheckpoint.status == "done")).scalars())
    assert done == {f"ccnews:{p}" for p in files if "00100" in p or "00101" in p}
    proc = _cli(config_path, db, "ccnews", "--since", "2024-05-01", "--until", "2024-05-20")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    log = [p for _, p in server.log[before:]]
    assert sum("00100" in p for p in log) == 1 and sum("00101" in p for p in log) == 1  # not read again
    assert sum("00102" in p for p in log) == 2 and sum("00103" in p for p in log) == 1
    got = _state(engine)
    assert set(got["links"]) == expected and got["statuses"] == ["archived"] and got["articles"] == len(expected)
    engine.dispose()


# --- the Wayback Machine ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wayback_site(pages: Any) -> Any:
    mine, others = pages
    server = ArchiveServer()
    for i, p in enumerate(mine):
        day = 1 + i
        server.captures.append(Capture(f"202405{day:02d}101500", p.url, p.body))
        server.captures.append(Capture(f"202405{day:02d}201500", p.url, p.body))  # collapsed: one per URL
    server.captures += [Capture("20240430235959", mine[0].url + "?old", mine[0].body),  # before the range
                        Capture("20240502101500", mine[1].url + "/feed.xml", b"<rss/>", mimetype="text/xml"),
                        *(Capture("20240503101500", p.url, p.body) for p in others[:5])]
    expected = {p.url for i, p in enumerate(mine) if 1 + i < 20}  # captured before 2024-05-20
    # one capture answers 429 with Retry-After: 1 first
    first = next(c for c in server.captures if c.original == sorted(expected)[0] and c.timestamp.endswith("101500"))
    server.rate_limit_once.add(f"/web/{first.timestamp}id_/{first.original}")
    server.start()
    yield server, expected
    server.stop()


@pytest.mark.usefixtures("corpus_dir")
def test_wayback_backfill_archives_exactly_the_range_politely(wayback_site: Any, database_url: str, tmp_path: Path,
                                                               extractor: Any) -> None:
    server, expected = wayback_site
    server._limited.clear()  # (this test runs once per back-end)
    config, _ = _config(server, tmp_path, wayback_page_size=2, wayback_delay_s=0.2)
    engine = open_archive(database_url)
    before = len(server.log)
    result = bf.backfill(config, engine, "press", since=SINCE, until=UNTIL, via="wayback", extractor=extractor)
    assert result.problems == [], result.as_dict()
    got = _state(engine)
    assert set(got["links"]) == expected and got["statuses"] == ["archived"] and got["articles"] == len(expected)
    log = server.log[before:]
    cdx = [p for _, p in log if p.startswith("/cdx/")]
    assert len(cdx) == sum((n + 1) // 2 for n in (4, 3, 3, 3, 3)) and sum("resumeKey" in p for p in cdx) == 5
    assert not any("feed.xml" in p or "?old" in p for _, p in log)
    limited = next(iter(server.rate_limit_once))
    hits = [t for t, p in log if p == limited]
    assert len(hits) == 2 and hits[1] - hits[0] >= 0.95  # the 429's Retry-After was waited out
    # wayback_delay_s between requests: arrivals here jitter around the client's spaced starts (a new
    # connection arrives later than a reused one), so, as in the soak, a gap under a quarter of the
    # delay is what a request that skipped the limit looks like (0-3 ms)
    starts = [t for t, _ in log]
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= 0.2 / 4
    with read_session(engine) as s:
        rows = s.execute(select(Fetch.url, Fetch.capture_url, Fetch.captured_at).where(
            Fetch.kind == "page", Fetch.error_kind.is_(None))).all()
    assert {r.url for r in rows} == expected
    for r in rows:
        ts = r.capture_url.removeprefix(server.base_url + "web/").split("id_/")[0]
        assert r.capture_url == f"{server.base_url}web/{ts}id_/{r.url}" and ts.endswith("101500")
        assert r.captured_at == datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    n = len(server.log)
    again = bf.backfill(config, engine, "press", since=SINCE, until=UNTIL, via="wayback", extractor=extractor)
    assert again.windows_run == 0 and server.log[n:] == [] and _state(engine) == got
    engine.dispose()


@pytest.mark.usefixtures("corpus_dir")
def test_a_killed_wayback_backfill_resumes_at_the_next_cdx_page(wayback_site: Any, tmp_path: Path) -> None:
    server, expected = wayback_site
    _, config_path = _config(server, tmp_path, wayback_page_size=2)
    db = f"sqlite:///{tmp_path / 'a.db'}"
    gate = server.hold.setdefault("/cdx/search/cdx?url=br.de", threading.Event())  # the second host
    gate.clear()
    before = len(server.log)
    proc = _cli(config_path, db, "wayback", "--since", "2024-05-01", "--until", "2024-05-20")
    try:
        _wait_for(lambda: any(p.startswith("/cdx/search/cdx?url=br.de") for _, p in server.log[before:]),
                  "the CDX query of the second host")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
    proc = _cli(config_path, db, "wayback", "--since", "2024-05-01", "--until", "2024-05-20")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    cdx = [p for _, p in server.log[before:] if p.startswith("/cdx/")]
    waz = [p for p in cdx if "url=waz.de" in p]
    assert len(waz) == 2 == len(set(waz))  # the first host's two pages were done: not asked again
    engine = open_archive(db)
    got = _state(engine)
    assert set(got["links"]) == expected and got["statuses"] == ["archived"]
    engine.dispose()


# --- WARC files on disk ---------------------------------------------------------------------------------

@pytest.mark.usefixtures("corpus_dir")
def test_warc_files_by_glob_and_directory(ccnews_site: Any, tmp_path: Path, extractor: Any) -> None:
    server, files, ids, expected, d, everything = ccnews_site
    config, _ = _config(server, tmp_path)
    (d / "broken.warc.gz").write_bytes(b"this is not a WARC file")
    try:
        engine = open_archive(f"sqlite:///{tmp_path / 'a.db'}")
        result = bf.backfill(config, engine, "press", since=SINCE, until=UNTIL, via=f"warc:{d}/CC-NEWS-*.warc.gz",
                             extractor=extractor)
        assert result.windows == 5 and result.problems == []
        got = _state(engine)
        assert set(got["links"]) == expected and got["articles"] == len(expected)
        with read_session(engine) as s:
            assert {Path(f).name for f in s.execute(select(Fetch.warc_file).where(Fetch.kind == "page")).scalars()} == {
                Path(p).name for p in files if "00104" not in p}
        # the directory: the broken file is reported and left open, the done files are not read again
        result = bf.backfill(config, engine, "press", since=SINCE, until=UNTIL, via=f"warc:{d}", extractor=extractor)
        assert result.windows == 6 and result.windows_run == 1 and len(result.problems) == 1
        assert "broken.warc.gz" in result.problems[0] and _state(engine) == got
        # no range: every record of the source's site in the files
        result = bf.backfill(config, engine, "press", since=None, until="2030-01-01", via=f"warc:{d}",
                             extractor=extractor)
        assert set(_state(engine)["links"]) == everything, (result.by_window, result.problems)  # the source's 16 pages
        engine.dispose()
    finally:
        (d / "broken.warc.gz").unlink()

