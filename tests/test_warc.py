"""WARC out and back: ``ingest export --format warc`` read back with warcio, imported into an empty archive
(SQLite and PostgreSQL: the same canonical URLs and texts, provenance pointing at the WARC), and replayed
by pywb, run for real on 127.0.0.1."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from ingest.cli import main
from ingest.config import parse_config
from ingest.demo.site import demo_config_yaml
from ingest.interop.warc_out import METADATA_URI, write_warc
from ingest.pipeline import backfill as bf
from ingest.store.db import open_archive, read_session
from ingest.store.models import Article, Fetch
from ingest.store.warcexport import ArticleExport, PageFetch

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _sha1(body: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()


def _records(path: Path) -> list[dict[str, Any]]:
    out = []
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        for r in it:
            out.append({"type": r.rec_type, "uri": r.rec_headers.get_header("WARC-Target-URI"),
                        "headers": dict(r.rec_headers.headers), "status": r.http_headers.get_statuscode()
                        if r.http_headers is not None and r.rec_type != "request" else None,
                        "http": dict(r.http_headers.headers) if r.http_headers is not None else {},
                        "body": r.content_stream().read(), "offset": it.get_record_offset()})
    return out


def test_the_writer_makes_true_records(tmp_path: Path) -> None:
    body = "<html><head><title>Test</title></head><body>Hallo Welt ünd mehr</body></html>".encode()
    hops = ("https://b.example/story", "https://b.example/story/amp", "https://b.example/story/full")
    first = PageFetch(1, "https://a.example/s?id=1", hops[-1], hops, (hops[2],), 200,
                      {"content-type": "text/html; charset=utf-8", "content-encoding": "gzip", "content-length": "61",
                       "etag": '"x"'}, T0, hashlib.sha256(body).hexdigest(), body)
    again = PageFetch(2, hops[-1], hops[-1], (), (), 200, {"content-type": "text/html"}, T0.replace(hour=9),
                      first.sha256, body)
    article = ArticleExport(7, hops[-1], hops[-1], "demo", T0.replace(hour=10),
                            {"article_id": 7, "extraction": {"extractor": "trafilatura"}}, [first, again], 1)
    path = tmp_path / "t.warc.gz"
    with open(path, "wb") as fh:
        counts = write_warc(fh, [article])
    assert (counts.responses, counts.revisits, counts.redirects, counts.articles) == (1, 1, 3, 1)
    raw = path.read_bytes()  # one gzip member per record
    assert raw.count(b"\x1f\x8b\x08") >= counts.records == 12
    recs = _records(path)
    assert [r["type"] for r in recs] == ["warcinfo", *["request", "response"] * 4, "request", "revisit", "metadata"]
    assert all(r["headers"]["WARC-Date"] == "2025-03-01T08:30:15.123456Z" for r in recs[1:9])
    # the hops: a redirect, another, then the meta refresh, each under the URL requested
    hop_responses = [r for r in recs if r["type"] == "response"][:3]
    assert [(r["uri"], r["status"]) for r in hop_responses] == [
        ("https://a.example/s?id=1", "302"), (hops[0], "302"), (hops[1], "200")]
    assert hop_responses[0]["http"]["Location"] == hops[0] and hop_responses[2]["http"]["Refresh"] == f"0; url={hops[2]}"
    page = recs[8]
    assert page["uri"] == hops[-1] and page["body"] == body and page["status"] == "200"
    assert page["http"]["Content-Length"] == str(len(body)) and "Content-Encoding" not in page["http"]
    assert page["http"]["X-Original-Content-Encoding"] == "gzip" and page["http"]["X-Original-Content-Length"] == "61"
    assert page["headers"]["WARC-Payload-Digest"] == _sha1(body)
    assert recs[7]["headers"]["WARC-Concurrent-To"] == page["headers"]["WARC-Record-ID"]
    revisit = recs[10]
    assert revisit["headers"]["WARC-Refers-To-Target-URI"] == hops[-1]
    assert revisit["headers"]["WARC-Refers-To-Date"] == "2025-03-01T08:30:15.123456Z"
    assert revisit["headers"]["WARC-Payload-Digest"] == _sha1(body) and revisit["body"] == b""
    meta = recs[11]
    assert meta["uri"] == f"{METADATA_URI}7" and meta["headers"]["WARC-Refers-To"] == page["headers"]["WARC-Record-ID"]
    assert meta["headers"]["WARC-Refers-To-Target-URI"] == hops[-1]
    assert json.loads(meta["body"]) == article.provenance and meta["headers"]["Content-Type"] == "application/json"
    # not gzipped when asked
    plain = io.BytesIO()
    write_warc(plain, [article], gzip=False)
    assert plain.getvalue().startswith(b"WARC/1.1\r\n")


@pytest.fixture(scope="module")
def exported(demo_archive: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The demo archive (polled from the demo site) exported as WARC; canonical URL -> text."""
    out = tmp_path_factory.mktemp("warc") / "demo.warc.gz"
    result = CliRunner().invoke(main, ["export", "--format", "warc", "--out", str(out), "--db", demo_archive])
    assert result.exit_code == 0, result.output
    engine = open_archive(demo_archive, create_if_empty=False)
    with read_session(engine) as s:
        texts = dict(s.execute(select(Article.canonical_url, Article.text)).all())
    engine.dispose()
    return out, texts


def test_the_export_reads_back_with_warcio(exported: Any, demo_archive: str) -> None:
    path, texts = exported
    recs = _records(path)
    kinds = Counter(r["type"] for r in recs)
    assert kinds["metadata"] == len(texts) and kinds["request"] == kinds["response"] + kinds["revisit"]
    engine = open_archive(demo_archive, create_if_empty=False)
    with read_session(engine) as s:
        fetches = {r.final_url or r.url: r for r in s.execute(select(Fetch).where(Fetch.kind == "page", Fetch.status == 200))
                   .scalars()}
    engine.dispose()
    responses = [r for r in recs if r["type"] == "response"]
    for r in responses:
        f = fetches[r["uri"]]
        assert hashlib.sha256(r["body"]).hexdigest() == f.sha256 and r["headers"]["WARC-Payload-Digest"] == _sha1(r["body"])
        assert r["headers"]["WARC-Date"].startswith(f.started_at.strftime("%Y-%m-%dT%H:%M:%S"))
        if "content-encoding" in (f.headers or {}):
            assert r["http"]["X-Original-Content-Encoding"] == f.headers["content-encoding"]
    metas = [json.loads(r["body"]) for r in recs if r["type"] == "metadata"]
    assert {m["canonical_url"] for m in metas} == set(texts)
    m = metas[0]
    assert set(m) >= {"article_id", "canonical_url", "source", "feed_urls", "entries", "extraction", "run"}
    assert m["extraction"]["extractor"] == "trafilatura" and m["extraction"]["extractor_version"]
    assert m["entries"][0]["guid"] is not None and m["feed_urls"]


def test_a_warc_export_imports_into_an_empty_archive(exported: Any, demo_site_running: Any, database_url: str,
                                                      tmp_path: Path, extractor: Any) -> None:
    path, texts = exported
    config = parse_config(yaml.safe_load(demo_config_yaml(demo_site_running.base_url)))
    engine = open_archive(database_url)
    result = bf.backfill(config, engine, config.sources[0].name, since=None, via=f"warc:{path}", extractor=extractor)
    assert result.problems == [] and result.totals["failed"] == 0, result.as_dict()
    with read_session(engine) as s:
        assert dict(s.execute(select(Article.canonical_url, Article.text)).all()) == texts
        rows = s.execute(select(Fetch.url, Fetch.warc_file, Fetch.warc_offset, Fetch.warc_record_id).where(
            Fetch.kind == "page")).all()
    by_offset = {r["offset"]: r for r in _records(path)}
    assert rows and all(r.warc_file == str(path) for r in rows)
    for r in rows:
        rec = by_offset[r.warc_offset]
        assert rec["type"] == "response" and rec["uri"] == r.url and rec["headers"]["WARC-Record-ID"] == r.warc_record_id
    again = bf.backfill(config, engine, config.sources[0].name, since=None, via=f"warc:{path}", extractor=extractor)
    assert again.windows_run == 0
    engine.dispose()


# --- pywb --------------------------------------------------------------------------------------------------

PYWB_VENV = Path(os.environ.get("INGEST_PYWB_VENV", REPO / ".cache" / "pywb-venv"))


@pytest.fixture(scope="session")
def pywb_bin() -> Path:
    """pywb in a virtualenv of its own (tests/requirements-pywb.txt says why), made on first use."""
    bin_dir = PYWB_VENV / "bin"
    if not (bin_dir / "wayback").exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(PYWB_VENV)], check=True, timeout=300)
            subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "-r",
                            str(REPO / "tests" / "requirements-pywb.txt")], check=True, timeout=900,
                           capture_output=True)
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"pywb could not be installed into {PYWB_VENV} from PyPI: {exc}")
    return bin_dir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 - 127.0.0.1 only
            data = r.read()
            return r.status, gzip.decompress(data) if r.headers.get("Content-Encoding") == "gzip" else data
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_pywb_replays_a_page_from_the_export(exported: Any, pywb_bin: Path, tmp_path: Path) -> None:
    path, texts = exported
    env = {**os.environ, "PYTHONPATH": ""}
    subprocess.run([str(pywb_bin / "wb-manager"), "init", "news"], cwd=tmp_path, check=True, env=env, capture_output=True)
    subprocess.run([str(pywb_bin / "wb-manager"), "add", "news", str(path)], cwd=tmp_path, check=True, env=env,
                   capture_output=True)
    page = next(r for r in _records(path) if r["type"] == "response" and r["status"] == "200")
    port = _free_port()
    server = subprocess.Popen([str(pywb_bin / "wayback"), "-b", "127.0.0.1", "-p", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/news"
        end = time.monotonic() + 120
        while True:
            try:
                status, _ = _get(f"{base}/")
                break
            except OSError:
                if time.monotonic() > end or server.poll() is not None:
                    raise AssertionError("pywb did not start") from None
                time.sleep(0.3)
        stamp = page["headers"]["WARC-Date"][:19].replace("-", "").replace("T", "").replace(":", "")
        status, body = _get(f"{base}/{stamp}id_/{page['uri']}")
        assert status == 200 and body == page["body"]  # the original bytes, as archived
        status, body = _get(f"{base}/{stamp}mp_/{page['uri']}")  # the page as a browser replays it: rewritten
        assert status == 200 and b"wombat" in body.lower() and len(body) > len(page["body"]) // 2
    finally:
        server.terminate()
        server.wait(30)
