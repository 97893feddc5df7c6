"""Benchmark: poll the whole shared corpus (every page distinct) from a local feed into an empty archive,
next to trafilatura's own ``trafilatura --feed`` on the same site, in the same run.

    .venv/bin/python bench/poll_corpus.py [--corpus ../shared/corpus] [--repeat 3]

Prints, and writes to bench/results/poll_corpus.json:
  * Σ extraction CPU: trafilatura.extract on every page (and ingest's extraction call, which also
    returns the metadata), in this process, one page at a time;
  * the bound: 1.5 × Σ extraction CPU ÷ cores;
  * ingest poll: the whole command's wall time (Python start, in-process: no Prefect server), and
    the run itself (the archive's run row: start to finish);
  * trafilatura --feed: wall time on the same pages (no per-domain sleep, SSRF guard off for loopback;
    its URL filter rejects IP addresses, so its process resolves news.example.com to 127.0.0.1);
  * the peak RSS of the whole process tree of ``ingest poll`` (sampled every 0.1 s from /proc), at the
    corpus's pages and at ``--copies`` × them (distinct copies, a sentence of their own each).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trafilatura

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from procmem import tree_pss, tree_rss  # noqa: E402

from ingest.config import ExtractSettings  # noqa: E402
from ingest.demo.server import NewsSite, Route  # noqa: E402
from ingest.demo.site import corpus_routes  # noqa: E402
from ingest.extract.pages import PageInput, extract_page  # noqa: E402

NAMED_HOST = "news.example.com"
TRAFILATURA_WRAPPER = """
import socket, sys
_real = socket.getaddrinfo
def _stub(host, *args, **kwargs):
    return _real("127.0.0.1" if host == %(host)r else host, *args, **kwargs)
socket.getaddrinfo = _stub
from trafilatura.cli import main
sys.argv = ["trafilatura"] + sys.argv[1:]
main()
"""
TRAFILATURA_CONFIG = """[DEFAULT]
DOWNLOAD_TIMEOUT = 30
MAX_FILE_SIZE = 20000000
MIN_FILE_SIZE = 10
SLEEP_TIME = 0
USER_AGENTS =
COOKIE =
MAX_REDIRECTS = 2
SSRF_PROTECTION = off
INSECURE_SSL_FALLBACK = off
MIN_EXTRACTED_SIZE = 250
MIN_OUTPUT_SIZE = 1
MIN_OUTPUT_COMM_SIZE = 1
MAX_TREE_SIZE =
EXTRACTION_TIMEOUT = 0
MIN_DUPLCHECK_SIZE = 100
MAX_REPETITIONS = 2
EXTENSIVE_DATE_SEARCH = on
EXTERNAL_URLS = off
MAX_FILES_PER_DIRECTORY = 1000
"""


def extraction_cpu(routes: dict[str, Route], pages: list, base_url: str) -> tuple[float, float]:
    """Σ CPU seconds of trafilatura.extract and of ingest's extraction over every page."""
    settings = ExtractSettings()
    options = settings.trafilatura_options()
    plain = ours = 0.0
    for page in pages:
        route = routes[page.path.split("?")[0]] if page.path.split("?")[0] in routes else routes[page.path]
        body = route.body(base_url) if callable(route.body) else route.body
        url = base_url + page.path
        t0 = time.process_time()
        trafilatura.extract(body, url=url, **options)
        t1 = time.process_time()
        extract_page(PageInput(url=url, body=body, content_type="text/html; charset=utf-8"), settings)
        t2 = time.process_time()
        plain += t1 - t0
        ours += t2 - t1
    return plain, ours


def warm_server_cache(site: NewsSite, pages: list) -> None:
    """Let the site compress every page once before timing, as a real server's cache would have."""
    import httpx

    with httpx.Client(headers={"Accept-Encoding": "gzip"}) as client:
        for page in pages:
            client.get(site.url(page.path))


def add_copies(routes: dict[str, Route], pages: list, copies: int) -> int:
    """``copies`` - 1 more versions of every page at /copy-k/<path>, each with a sentence of its own in
    its first paragraph (distinct texts: new articles, near-duplicates of the original), and /feed-x<copies>.xml
    listing them all with the originals: the same poll at ``copies`` × the pages. Returns the pages listed."""
    import dataclasses
    from functools import partial

    def copy_body(route: Route, k: int, base: str) -> bytes:
        body = route.body(base) if callable(route.body) else route.body
        marker = f"Copy {k} of this page, served for the memory benchmark. ".encode()
        m = re.search(rb"<p(?:\s[^>]*)?>", body)
        return body[:m.end()] + marker + body[m.end():] if m else body

    original = routes["/feed.xml"].body
    items = list(original.args[0])
    listed = list(items)
    for k in range(1, copies):
        for page in pages:
            route = routes[page.path]
            routes[f"/copy-{k}{page.path}"] = Route(route.status, route.headers, partial(copy_body, route, k))
        listed += [dataclasses.replace(item, path=f"/copy-{k}{item.path}",
                                       title=f"{item.title} (copy {k})") for item in items]
    routes[f"/feed-x{copies}.xml"] = Route(200, (("Content-Type", "application/rss+xml; charset=utf-8"),),
                                           partial(original.func, tuple(listed), "News corpus, copies",
                                                   f"/feed-x{copies}.xml"))
    return len(listed)


def run_ingest(site: NewsSite, work: Path, i: int, feed: str = "/feed.xml") -> dict[str, float | int]:
    db = work / f"ingest-{i}.db"
    config = work / f"feeds-{i}.yaml"
    config.write_text(f"""
fetch: {{allow_private_networks: true, per_host_delay_s: 0, per_host_concurrency: 16, max_connections: 16}}
sources: [{{name: corpus, feed: "{site.url(feed)}"}}]
""", encoding="utf-8")
    env = {**os.environ, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_HOME": str(work / "prefect-home")}  # (used only with --prefect or PREFECT_API_URL)
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(REPO / ".venv/bin/ingest"), "poll", "--config", str(config), "--db",
                             f"sqlite:///{db}", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    peak, main_peak, pss_peak = 0, 0, 0
    while proc.poll() is None:  # the whole process tree: the command, its extractor processes, anything else
        peak = max(peak, tree_rss(proc.pid))
        main_peak = max(main_peak, tree_rss(proc.pid, children=False))
        pss_peak = max(pss_peak, tree_pss(proc.pid))
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    proc = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"ingest poll failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    import sqlite3

    with sqlite3.connect(db) as conn:
        started, finished = conn.execute("SELECT started_at, finished_at FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    from datetime import datetime

    poll = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    return {"wall_s": wall, "poll_s": poll, "new": summary["totals"].get("new", 0),
            "failed": summary["totals"].get("failed", 0), "peak_tree_rss_mb": round(peak / 2 ** 20),
            "peak_main_rss_mb": round(main_peak / 2 ** 20), "peak_tree_pss_mb": round(pss_peak / 2 ** 20)}


def run_trafilatura(site: NewsSite, work: Path) -> dict[str, float | int]:
    cfg = work / "trafilatura.cfg"
    cfg.write_text(TRAFILATURA_CONFIG, encoding="utf-8")
    wrapper = work / "trafilatura_wrapper.py"
    wrapper.write_text(TRAFILATURA_WRAPPER % {"host": NAMED_HOST}, encoding="utf-8")
    out = work / "trafilatura-out"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(wrapper), "--feed", f"http://{NAMED_HOST}:{site.port}/feed-named.xml",
                           "--config-file", str(cfg), "-o", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    docs = len(list(out.glob("*.txt"))) if out.exists() else 0
    return {"wall_s": wall, "documents": docs, "returncode": proc.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=os.environ.get("INGEST_CORPUS_DIR", str(REPO.parent / "shared" / "corpus")))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--copies", type=int, default=5,
                        help="also poll this many × the pages (distinct copies), for the peak RSS; 1: skip")
    args = parser.parse_args()
    routes, pages = corpus_routes(Path(args.corpus))
    cores = os.cpu_count() or 1
    feed = routes["/feed.xml"].body
    routes["/feed-named.xml"] = Route(headers=(("Content-Type", "application/rss+xml"),),
                                      body=lambda base: feed(base.replace("127.0.0.1", NAMED_HOST)))
    listed = add_copies(routes, pages, args.copies) if args.copies > 1 else len(pages)  # served from the start
    with NewsSite(routes) as site, tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        work = Path(tmp)
        plain_cpu, ours_cpu = extraction_cpu(routes, pages, site.base_url)
        warm_server_cache(site, pages)
        ingest_runs = [run_ingest(site, work, i) for i in range(args.repeat)]
        traf = run_trafilatura(site, work)
        big = None
        if args.copies > 1:
            big = run_ingest(site, work, args.repeat, f"/feed-x{args.copies}.xml") | {"pages": listed}
    bound = 1.5 * plain_cpu / cores
    result = {
        "pages": len(pages), "cores": cores,
        "sum_extract_cpu_s": round(plain_cpu, 2), "sum_ingest_extraction_cpu_s": round(ours_cpu, 2),
        "bound_s": round(bound, 2), "bound_ingest_extraction_s": round(1.5 * ours_cpu / cores, 2),
        "ingest_poll_s": [round(r["poll_s"], 2) for r in ingest_runs],
        "ingest_wall_s": [round(r["wall_s"], 2) for r in ingest_runs],
        "ingest_archived": ingest_runs[0]["new"], "ingest_failed": ingest_runs[0]["failed"],
        "trafilatura_feed_wall_s": round(traf["wall_s"], 2), "trafilatura_documents": traf["documents"],
        "peak_tree_rss_mb": [r["peak_tree_rss_mb"] for r in ingest_runs],
        "peak_main_rss_mb": [r["peak_main_rss_mb"] for r in ingest_runs],
        "peak_tree_pss_mb": [r["peak_tree_pss_mb"] for r in ingest_runs],
        "copies": big,
    }
    median_poll = statistics.median(result["ingest_poll_s"])
    warm = result["ingest_wall_s"][1:] or result["ingest_wall_s"]
    median_wall = statistics.median(warm)
    print(f"pages served                      {len(pages)} (every page distinct), {cores} cores")
    print(f"Σ trafilatura.extract CPU         {plain_cpu:.2f} s  ({1000 * plain_cpu / len(pages):.1f} ms/page)")
    print(f"Σ ingest extraction CPU           {ours_cpu:.2f} s  (with metadata: title, authors, date, …)")
    print(f"bound 1.5 × Σ extract CPU ÷ cores {bound:.2f} s  "
          f"(with ingest's extraction CPU: {1.5 * ours_cpu / cores:.2f} s)")
    print(f"ingest poll, the run (run row)    {median_poll:.2f} s median of {result['ingest_poll_s']}"
          f"  -> {median_poll / bound:.2f} × bound")
    print(f"ingest poll, whole command        {median_wall:.2f} s median (in-process, no Prefect server); "
          f"{median_wall / bound:.2f} × bound, {median_wall / traf['wall_s']:.2f} × trafilatura --feed")
    print(f"ingest archived / failed          {result['ingest_archived']} / {result['ingest_failed']}")
    print(f"trafilatura --feed, same site     {traf['wall_s']:.2f} s, {traf['documents']} documents")
    print(f"peak RSS, process tree            {max(result['peak_tree_rss_mb'])} MB at {len(pages)} pages "
          f"(the command alone {max(result['peak_main_rss_mb'])} MB; PSS of the tree "
          f"{max(result['peak_tree_pss_mb'])} MB)")
    if big:
        print(f"peak RSS, process tree            {big['peak_tree_rss_mb']} MB at {big['pages']} pages "
              f"(the command alone {big['peak_main_rss_mb']} MB, PSS of the tree {big['peak_tree_pss_mb']} MB; "
              f"{big['new']} archived, {big['failed']} failed, "
              f"{big['poll_s']:.1f} s)")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "poll_corpus.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
