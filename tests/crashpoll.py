"""A poll in a process of its own that can SIGKILL itself at a chosen point, and the archive checks a
crashed-then-finished archive must pass. Used by test_crash.py, test_concurrency.py and
bench/crash_trials.py; the library has no test hooks, so the points are set here by wrapping library
functions before the poll starts.

    python tests/crashpoll.py CONFIG [--kill PHASE:K] [--trace FILE]

PHASE:K kills the process when the K-th call of that phase starts:
    feed     archive.upsert_entries: a feed's entries are being written (inside its transaction)
    fetch    Fetcher.fetch_page: a page fetch (in a fetch thread, others in flight)
    extract  ExtractorPool.extract_many: a chunk is with the extractor processes
    store    archive.store_outcome: a page is being stored (earlier pages of the batch are written
             in the same, uncommitted transaction)
--trace appends each phase name to FILE as it starts (flushed at once), so a kill from outside at a
random moment can be attributed to a phase. Exit 0 with a JSON summary line when the poll completes.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faultsite import FaultSite, rss, serve
from sqlalchemy import Engine, text

PHASES = ("feed", "fetch", "extract", "store")
HERE = Path(__file__).resolve().parent
CLEAN = {"duplicate_entries": 0, "duplicate_articles": 0, "duplicate_aliases": 0,
         "article_without_current_extraction": 0, "article_without_text_hash": 0, "extraction_without_blob": 0,
         "fetch_without_blob": 0, "archived_entry_without_article": 0, "entries_left_pending": 0}


def _install(kill: tuple[str, int] | None, trace: str | None) -> None:
    from ingest.extract.pages import ExtractorPool
    from ingest.fetch.client import Fetcher
    from ingest.store import archive

    lock = threading.Lock()
    calls = dict.fromkeys(PHASES, 0)
    trace_fd = os.open(trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT) if trace else None

    def wrap(phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with lock:
                calls[phase] += 1
                n = calls[phase]
            if trace_fd is not None:
                os.write(trace_fd, f"{phase}\n".encode())
            if kill is not None and kill == (phase, n):
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)
        return wrapper

    archive.upsert_entries = wrap("feed", archive.upsert_entries)  # type: ignore[method-assign]
    Fetcher.fetch_page = wrap("fetch", Fetcher.fetch_page)  # type: ignore[method-assign]
    ExtractorPool.extract_many = wrap("extract", ExtractorPool.extract_many)  # type: ignore[method-assign]
    archive.store_outcome = wrap("store", archive.store_outcome)  # type: ignore[method-assign]


def poll(config_path: str) -> dict[str, Any]:
    from ingest.config import load_config
    from ingest.pipeline.stages import PollContext, poll_source, run_summary
    from ingest.store import archive
    from ingest.store.db import open_archive

    config = load_config(config_path)
    assert config.database is not None
    engine = open_archive(config.database)
    run_id = archive.start_run(engine, "poll")
    with PollContext(config, engine, run_id) as ctx:
        reports = [poll_source(ctx, s) for s in config.select(None)]
    summary = run_summary(reports, run_id)
    archive.finish_run(engine, run_id, "completed", summary)
    engine.dispose()
    return summary


# --- the crash site: two feeds over one local site, with overlaps, an exact duplicate and failures ---

def crash_site_routes(site: FaultSite, n: int = 12) -> dict[str, Any]:
    """alpha lists n articles, a 404 and a PDF; beta lists 4 of alpha's pages, copies (same text, other
    URL) of 2 more, and n // 3 pages of its own."""
    alpha = [(f"a{i}", f"/article?n=a{i}") for i in range(n)] + [("a404", "/404"), ("apdf", "/pdf")]
    beta = ([(f"b{i}", f"/article?n=a{i}") for i in range(4)] + [(f"bc{i}", f"/copy?n=a{i}") for i in (4, 5)]
            + [(f"b{i}", f"/article?n=b{i}") for i in range(6, 6 + n // 3)])
    return {"/feeds/alpha.xml": serve(rss([(g, site.url(p)) for g, p in alpha])),
            "/feeds/beta.xml": serve(rss([(g, site.url(p)) for g, p in beta]))}


def expected_outcome(site: FaultSite, n: int = 12) -> list[tuple[str, ...]]:
    """(source, entry key, status, error kind, canonical URL of its article) of an uninterrupted poll;
    n + n // 3 articles."""
    rows = [("alpha", f"guid:a{i}", "archived", "", site.url(f"/article?n=a{i}")) for i in range(n)]
    rows += [("alpha", "guid:a404", "failed", "http_4xx", ""), ("alpha", "guid:apdf", "failed", "not_html", "")]
    rows += [("beta", f"guid:b{i}", "archived", "", site.url(f"/article?n=a{i}")) for i in range(4)]
    rows += [("beta", f"guid:bc{i}", "duplicate", "", site.url(f"/article?n=a{i}")) for i in (4, 5)]
    rows += [("beta", f"guid:b{i}", "archived", "", site.url(f"/article?n=b{i}")) for i in range(6, 6 + n // 3)]
    return sorted(rows)


def write_config(path: Path, site: FaultSite, database: str) -> Path:
    path.write_text(json.dumps({
        "database": database,
        "fetch": {"allow_private_networks": True, "respect_robots": False, "per_host_delay_s": 0,
                  "per_host_concurrency": 4, "timeout_s": 5, "retries": 0},
        "extract": {"workers": 1},
        "sources": [{"name": "alpha", "feed": site.url("/feeds/alpha.xml")},
                    {"name": "beta", "feed": site.url("/feeds/beta.xml")}]}))
    return path


def check_archive(engine: Engine) -> dict[str, Any]:
    """Integrity of an archive after crashes: each query counts violations (all must be 0), and
    ``outcome`` is what a comparison with an uninterrupted run needs."""
    violations = {
        "duplicate_entries": "SELECT count(*) - count(DISTINCT source_id || ':' || entry_key) FROM entries",
        "duplicate_articles": "SELECT count(*) - count(DISTINCT canonical_url) FROM articles",
        "duplicate_aliases": "SELECT count(*) - count(DISTINCT url) FROM url_aliases",
        "article_without_current_extraction":
            "SELECT count(*) FROM articles a LEFT JOIN extractions x ON x.id = a.current_extraction_id "
            "WHERE x.id IS NULL OR x.article_id <> a.id OR x.content_sha256 <> a.content_sha256",
        "article_without_text_hash":
            "SELECT count(*) FROM articles a WHERE NOT EXISTS "
            "(SELECT 1 FROM text_hashes t WHERE t.sha256 = a.content_sha256)",
        "extraction_without_blob":
            "SELECT count(*) FROM extractions x LEFT JOIN blobs b ON b.sha256 = x.blob_sha256 WHERE b.sha256 IS NULL",
        "fetch_without_blob":
            "SELECT count(*) FROM fetches f LEFT JOIN blobs b ON b.sha256 = f.blob_sha256 "
            "WHERE f.blob_sha256 IS NOT NULL AND b.sha256 IS NULL",
        "archived_entry_without_article":
            "SELECT count(*) FROM entries e LEFT JOIN articles a ON a.id = e.article_id "
            "WHERE e.status IN ('archived', 'duplicate') AND a.id IS NULL",
        "entries_left_pending": "SELECT count(*) FROM entries WHERE status = 'pending'",
    }
    with engine.connect() as conn:
        counts = {name: int(conn.execute(text(sql)).scalar_one()) for name, sql in violations.items()}
        outcome = sorted(tuple(r) for r in conn.execute(text(
            "SELECT s.name, e.entry_key, e.status, coalesce(e.error_kind, ''), coalesce(a.canonical_url, '') "
            "FROM entries e JOIN sources s ON s.id = e.source_id LEFT JOIN articles a ON a.id = e.article_id")))
        articles = int(conn.execute(text("SELECT count(*) FROM articles")).scalar_one())
    return {"violations": counts, "outcome": outcome, "articles": articles}


def run_poll(config: Path, *extra: str, timeout: float = 120, kill_after: float | None = None,
             tag: str = "", reap: bool = True) -> subprocess.CompletedProcess[str]:
    """tests/crashpoll.py in its own session; whatever it leaves (extractor workers) is killed after.
    ``kill_after``: SIGKILL the poll (its whole process group) after that many seconds if still running.
    ``reap=False`` leaves whatever the poll left behind running. Output goes to files (``tag`` keeps concurrent runs apart): a killed poll's orphaned workers would
    hold pipes open."""
    out_path, err_path = config.with_name(f"{config.stem}{tag}.out"), config.with_name(f"{config.stem}{tag}.err")
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen([sys.executable, str(HERE / "crashpoll.py"), str(config), *extra],
                                stdout=out, stderr=err, text=True, start_new_session=True,
                                env=os.environ | {"PYTHONPATH": str(HERE)})
        try:
            proc.wait(timeout=kill_after if kill_after is not None else timeout)
        except subprocess.TimeoutExpired:
            if kill_after is None:
                raise
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if reap:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out_path.read_text(), err_path.read_text())


def session_members(sid: int) -> list[int]:
    """Live processes of a session (a poll started by run_poll is its session's leader)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.getsid(int(entry)) == sid:
                    members.append(int(entry))
    return members


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--kill", help="PHASE:K")
    parser.add_argument("--trace")
    args = parser.parse_args(argv)
    kill = None
    if args.kill:
        phase, k = args.kill.split(":")
        assert phase in PHASES, phase
        kill = (phase, int(k))
    _install(kill, args.trace)
    summary = poll(args.config)
    print(json.dumps({"totals": summary["totals"], "failures": summary["failures"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
