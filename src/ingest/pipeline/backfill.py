"""Backfills: find a source's past article URLs (sitemaps, a feed walked back in time, a file of URLs),
split the range into date windows, and push each window's URLs through the same fetch -> extract ->
store path as polls.

Every URL becomes an entry of the source with the key ``backfill:<canonical URL>``, so the usual
guarantees hold: the (source, key) constraint makes a re-run add nothing, an already archived URL is a
sighting, and failed items are retried by later polls like any other entry. A checkpoint row per
(source, via, window) makes a killed backfill resume at the first unfinished window, and a finished
one a no-op (nothing is even discovered again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine

from ingest import decide
from ingest.clock import SYSTEM_CLOCK, Clock
from ingest.config import Config, SourceConfig
from ingest.errors import ErrorKind, FeedParseError, UsageError
from ingest.extract.pages import ExtractorPool
from ingest.feeds import sitemaps
from ingest.feeds import walk as feedwalk
from ingest.feeds.parse import FeedEntry, parse_feed
from ingest.fetch.client import Fetcher, FetchResult
from ingest.pipeline.results import BackfillResult, ReprocessResult
from ingest.pipeline.stages import BATCH_SIZE, PollContext, SourceReport, WorkItem, process_batch
from ingest.store import archive, checkpoints
from ingest.store import entries as entry_rows
from ingest.store.db import write_session
from ingest.store.retry import retry_lost_races
from ingest.store.runs import run_status
from ingest.urls import canonicalize

VIAS = ("sitemap", "feed", "urls:FILE", "warc:PATH", "ccnews", "wayback")
MAX_SITEMAPS = 500  # documents fetched per discovery, indexes included
MAX_FEED_PAGES = 200


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    def label(self) -> str:
        return f"{self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}"


@dataclass(frozen=True, slots=True)
class Candidate:
    url: str
    date: datetime | None  # None: the source gave no date (the URL belongs to the whole range)
    found_in: str  # the sitemap / feed page / file that listed it


@dataclass
class Discovery:
    """What discovery found, and why it found nothing when it found nothing (never a silent zero)."""

    candidates: list[Candidate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line each: what failed, where
    failed: bool = False  # a fetch or parse failed: a window left empty may not really be empty

    def fail(self, problem: str) -> None:
        self.problems.append(problem)
        self.failed = True


@dataclass
class WindowReport:
    window: str
    status: str  # done | already done
    urls: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def parse_via(via: str) -> tuple[str, str | None]:
    # archive: re-extract stored bytes (ingest.pipeline.reprocess); warc, ccnews, wayback: pages from the
    # archives others keep (ingest.pipeline.archived)
    if via in ("sitemap", "feed", "archive", "ccnews", "wayback"):
        return via, None
    for prefix in ("urls", "warc"):
        if via.startswith(f"{prefix}:") and len(via) > len(prefix) + 1:
            return prefix, via[len(prefix) + 1:]
    raise UsageError(f"--via must be sitemap, feed, urls:FILE, warc:PATH, ccnews, wayback or archive, got {via!r}")


def windows(since: datetime, until: datetime, days: int) -> list[Window]:
    """[since, until) cut into windows of ``days`` days (the last one shorter), then the window of the
    whole range, which holds the URLs that came without a date (all of a urls:FILE). A range of one
    window is that window alone: it holds both."""
    if since >= until:
        raise UsageError("--since must be before --until")
    if days < 1:
        raise UsageError("the window must be at least one day")
    out, start = [], since
    while start < until:
        end = min(until, start + timedelta(days=days))
        out.append(Window(start, end))
        start = end
    whole = Window(since, until)
    return out if whole in out else [*out, whole]


def assign(candidates: Sequence[Candidate], wins: Sequence[Window]) -> dict[Window, list[Candidate]]:
    """Dated URLs into their window; undated ones into the window spanning the whole range (which is
    also the only dated window when the range is shorter than one window)."""
    whole = Window(min(w.start for w in wins), max(w.end for w in wins))
    dated = [w for w in wins if w != whole] or [whole]
    out: dict[Window, list[Candidate]] = {w: [] for w in wins}
    seen: set[str] = set()
    for c in candidates:
        if c.url in seen:
            continue
        seen.add(c.url)
        if c.date is None:
            out.setdefault(whole, []).append(c)
            continue
        for w in dated:
            if w.start <= c.date < w.end:
                out[w].append(c)
                break
    return out


# --- discovery (network) --------------------------------------------------------------------------

def _record(ctx: PollContext, source_id: int, result: FetchResult, kind: str,
            parse_error: str | None = None) -> None:
    """The fetch as a row; ``parse_error``: its body was fetched but unusable (recorded on the row)."""
    if parse_error is not None and result.records:
        last = replace(result.records[-1], error_kind=ErrorKind.PARSE_ERROR, error_detail=parse_error)
        result = replace(result, records=(*result.records[:-1], last))
    with write_session(ctx.engine) as s:
        archive.record_fetch(s, result, kind=kind, run_id=ctx.run_id, source_id=source_id, keep_body=False,
                             now=ctx.now())


def _failed(result: FetchResult) -> str:
    err = result.error
    return f"{err.kind.value} ({err.detail})" if err else "failed"


def discover(ctx: PollContext, source: SourceConfig, source_id: int, via: str, since: datetime,
             until: datetime) -> Discovery:
    kind, path = parse_via(via)
    if kind == "urls":
        assert path is not None
        found = Discovery(read_url_file(path))
        if not found.candidates:
            found.problems.append(f"{path} lists no URL")
        return found
    if kind == "sitemap":
        return _discover_sitemaps(ctx, ctx.fetcher, source, source_id, since, until)
    return _walk_feed(ctx, ctx.fetcher, source, source_id, since, until)


def read_url_file(path: str) -> list[Candidate]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read URL file {path}: {exc.strerror or exc}") from None
    return [Candidate(line.strip(), None, f"urls:{path}") for line in lines
            if line.strip() and not line.lstrip().startswith("#")]


def _discover_sitemaps(ctx: PollContext, fetcher: Fetcher, source: SourceConfig, source_id: int,
                       since: datetime, until: datetime) -> Discovery:
    parts = urlsplit(source.feed)
    root = f"{parts.scheme}://{parts.netloc}"
    robots = fetcher.fetch(f"{root}/robots.txt", kind="robots")
    _record(ctx, source_id, robots, "robots")
    listed = sitemaps.robots_sitemaps(robots.body.decode("utf-8", "replace")) if robots.ok else []
    found = Discovery()
    if not listed:
        found.problems.append(f"{root}/robots.txt " + ("lists no Sitemap:" if robots.ok else _failed(robots))
                              + f", so {root}/sitemap.xml was tried")
    queue, seen, listed_urls = list(listed or [f"{root}/sitemap.xml"]), set(), 0
    while queue and len(seen) < MAX_SITEMAPS:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        result = fetcher.fetch(url, kind="feed")
        if not result.ok:
            _record(ctx, source_id, result, "sitemap")
            found.fail(f"sitemap {url}: {_failed(result)}")
            continue
        try:
            doc = sitemaps.parse_sitemap(result.body, ctx.config.fetch.max_bytes)
        except sitemaps.SitemapError as exc:
            _record(ctx, source_id, result, "sitemap", parse_error=str(exc))
            found.fail(f"sitemap {url}: parse_error ({exc})")
            continue
        _record(ctx, source_id, result, "sitemap")
        # a child sitemap last modified before the range cannot list anything in it
        queue += [c.loc for c in doc.children if c.date is None or c.date >= since]
        listed_urls += len(doc.urls)
        found.candidates += [Candidate(u.loc, u.date, url) for u in doc.urls if sitemaps.in_range(u.date, since, until)]
    if queue:
        found.problems.append(f"stopped after {MAX_SITEMAPS} sitemaps ({len(queue)} more listed)")
    if not found.candidates and listed_urls:
        found.problems.append(f"the sitemaps list {listed_urls} URLs, none dated within the range")
    return found


def _walk_feed(ctx: PollContext, fetcher: Fetcher, source: SourceConfig, source_id: int,
               since: datetime, until: datetime) -> Discovery:
    url: str | None = source.feed
    page, seen_pages, seen_links = 1, set(), set()
    found = Discovery()
    out = found.candidates
    while url and len(seen_pages) < MAX_FEED_PAGES and url not in seen_pages:
        seen_pages.add(url)
        result = fetcher.fetch_feed(url)
        if not result.ok:
            _record(ctx, source_id, result, "feed")
            if len(seen_pages) == 1:  # later pages end with a 404 (a WordPress feed's last page)
                found.fail(f"feed {url}: {_failed(result)}")
            break
        try:
            parsed = parse_feed(result.body, result.headers, result.final_url or url)
        except FeedParseError as exc:
            _record(ctx, source_id, result, "feed", parse_error=exc.detail)
            found.fail(f"feed {url}: parse_error ({exc.detail})")
            break
        _record(ctx, source_id, result, "feed")
        fresh = [e for e in parsed.entries if e.link and e.link not in seen_links]
        if not fresh:
            break  # an empty page, or a server that ignores ?paged and repeats itself
        for e in fresh:
            seen_links.add(e.link)
            if e.published is None or since <= e.published < until:
                out.append(Candidate(e.link, e.published, url))  # type: ignore[arg-type]
        dated = [e.published for e in fresh if e.published]
        if dated and max(dated) < since:
            break  # this page is entirely older than the range: so is everything before it
        older = feedwalk.prev_archive(result.body, result.final_url or url)
        if older is None:
            page += 1
            older = feedwalk.paged_url(source.feed, page)
        url = older
    if not out and seen_links:
        found.problems.append(f"the feed's {len(seen_links)} items (over {len(seen_pages)} pages) are all "
                              "outside the range")
    return found


# --- checkpoints and windows (rows: store/checkpoints.py) --------------------------------------------------------------

def open_windows(engine: Engine, source_id: int, via: str, wins: Sequence[Window], *,
                 now: datetime | None = None) -> list[Window]:
    """Create the checkpoints (idempotently) and return the windows not yet done."""
    done = checkpoints.open_spans(engine, source_id, via, [(w.start, w.end) for w in wins], now or SYSTEM_CLOCK.now())
    return [w for w in wins if (w.start, w.end) not in done]


def _finish_window(engine: Engine, source_id: int, via: str, w: Window, urls: int, counts: dict[str, int],
                   run_id: int | None, now: datetime) -> None:
    checkpoints.finish_span(engine, source_id, via, (w.start, w.end), urls, counts, run_id, now)


def run_window(ctx: PollContext, source: SourceConfig, source_id: int, via: str, w: Window,
               candidates: Sequence[Candidate]) -> WindowReport:
    """Store the window's URLs as entries, then fetch/extract/store the ones not archived yet."""
    now = ctx.now()
    entries, keys = [], []
    for c in candidates:
        try:
            canonical = canonicalize(c.url)
        except ValueError:
            continue
        key = f"backfill:{canonical}"
        keys.append(key)
        entries.append((c.found_in, FeedEntry(key, None, c.url, None, None, None, (), c.date, None, ())))
    def upsert() -> None:
        with write_session(ctx.engine) as s:
            for found_in, e in entries:
                archive.upsert_entries(s, source_id=source_id, feed_url=found_in, feed_fetch_id=None,
                                       entries=[e], run_id=ctx.run_id, now=now)

    retry_lost_races(upsert)  # another backfill of this source may be inserting the same keys
    report = SourceReport(source.name)
    batches, sighted = _plan(ctx, source_id, keys, now)
    for batch in batches:
        report.add(process_batch(ctx, source_id, batch))
    counts = {k: report.counts.get(k, 0) for k in ("new", "updated", "duplicate", "unchanged", "failed")}
    counts["unchanged"] += sighted  # already archived (by a poll or another source): a sighting
    _finish_window(ctx.engine, source_id, via, w, len(keys), counts, ctx.run_id, ctx.now())
    return WindowReport(w.label(), "done", len(keys), counts)


def _plan(ctx: PollContext, source_id: int, keys: Sequence[str], now: datetime
          ) -> tuple[list[list[WorkItem]], int]:
    due = [(eid, link, canonicalize(link)) for eid, link, status, at in entry_rows.entries_by_keys(
        ctx.engine, source_id, keys) if link and decide.is_due(status, at, now)]
    known = entry_rows.known_articles(ctx.engine, (c for _, _, c in due))
    plan = decide.plan_entries(due, known)

    def resolve() -> None:
        with write_session(ctx.engine) as s:
            entry_rows.settle_without_fetch(s, plan.link_known, (), now=now)

    if plan.link_known:
        retry_lost_races(resolve)
    work = [WorkItem((eid,), link, canonical) for eid, link, canonical in plan.to_fetch]
    return [work[i:i + BATCH_SIZE] for i in range(0, len(work), BATCH_SIZE)], len(plan.link_known)


WindowArgs = tuple[PollContext, SourceConfig, int, str, Window, list[Candidate]]


def _one_by_one(items: Sequence[WindowArgs]) -> Iterable[WindowReport]:
    return (run_window(*args) for args in items)


def run_backfill(ctx: PollContext, source: SourceConfig, via: str, since: datetime, until: datetime,
                 window_days: int = 7, on_window: Callable[[WindowReport], None] | None = None,
                 on_plan: Callable[[int], None] | None = None, *,
                 discover_fn: Callable[..., Discovery] = discover,
                 map_windows: Callable[[Sequence[WindowArgs]], Iterable[WindowReport]] = _one_by_one,
                 on_discovered: Callable[[Discovery, int, int], None] | None = None) -> dict[str, Any]:
    """The whole backfill of one source. Windows run one by one here; ``map_windows`` runs them
    otherwise (the flow submits each as a task: it is given :func:`run_window`'s arguments, and
    yields the reports). ``discover_fn`` is :func:`discover` or a wrapper of it (a task);
    ``on_discovered(found, windows to do, windows)`` hears what discovery found."""
    source_id = ctx.source_id(source)
    wins = windows(since, until, window_days)
    todo = open_windows(ctx.engine, source_id, via, wins, now=ctx.now())
    reports: list[WindowReport] = []
    found = Discovery()
    if todo:
        found = discover_fn(ctx, source, source_id, via, since, until)
        by_window = assign(found.candidates, wins)
        todo = runnable_windows(todo, by_window, found)
        if on_discovered:
            on_discovered(found, len(todo), len(wins))
        if on_plan:
            on_plan(len(todo))
        for report in map_windows([(ctx, source, source_id, via, w, by_window.get(w, [])) for w in todo]):
            reports.append(report)
            if on_window:
                on_window(report)
    elif on_plan:
        on_plan(0)
    return backfill_summary(source.name, via, since, until, wins, reports, found.problems)


def runnable_windows(todo: Sequence[Window], by_window: dict[Window, list[Candidate]],
                     found: Discovery) -> list[Window]:
    """The windows to run (and then mark done). When discovery failed somewhere, a window it found
    nothing for is left open: marking it done would make a re-run, once the site is fixed, skip it."""
    return [w for w in todo if by_window.get(w) or not found.failed]


def backfill_summary(source: str, via: str, since: datetime, until: datetime, wins: Sequence[Window],
                     reports: Sequence[WindowReport], problems: Sequence[str] = ()) -> dict[str, Any]:
    totals: dict[str, int] = {}
    for r in reports:
        for k, v in r.counts.items():
            totals[k] = totals.get(k, 0) + v
    urls = sum(r.urls for r in reports)
    return {"source": source, "via": via, "since": since.isoformat(), "until": until.isoformat(),
            "windows": len(wins), "windows_run": len(reports), "urls": urls,
            "totals": totals, "by_window": [{"window": r.window, "urls": r.urls, **r.counts} for r in reports],
            "problems": list(problems), "nothing_found": nothing_found(urls, problems)}


def nothing_found(urls: int, problems: Sequence[str]) -> str | None:
    """One line saying why a backfill found no URL (None when it found some)."""
    if urls:
        return None
    return "no URLs found: " + ("; ".join(problems) if problems else "the source listed none in the range")


def parse_day(value: str | datetime) -> datetime:
    """A date or ISO date-time; naive values are UTC."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"{value!r} is not a date (use YYYY-MM-DD or an ISO date-time)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_range(since: str | datetime, until: str | datetime | None) -> tuple[datetime, datetime]:
    start = parse_day(since)
    # No --until: the end of today (UTC), so that re-running the same command today finds the same
    # windows (and their checkpoints) instead of a new, slightly later range.
    end = parse_day(until) if until else datetime.combine(SYSTEM_CLOCK.now().date() + timedelta(days=1), time(), UTC)
    if start >= end:
        raise UsageError("--since must be before --until")
    return start, end


# No --since with --via urls:FILE: every listed URL, whatever its date, in one window.
URLS_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def backfill(config: Config, engine: Engine, source: str, *, since: str | datetime | None,
             until: str | datetime | None = None, via: str = "sitemap", window_days: int = 7,
             clock: Clock = SYSTEM_CLOCK, on_window: Callable[[WindowReport], None] | None = None,
             on_plan: Callable[[int], None] | None = None, parameters: dict[str, Any] | None = None,
             extractor: ExtractorPool | None = None, flow_run: tuple[str | None, str | None, str | None] = (None, None, None),
             discover_fn: Callable[..., Discovery] = discover,
             map_windows: Callable[[Sequence[WindowArgs]], Iterable[WindowReport]] = _one_by_one,
             on_discovered: Callable[[Discovery, int, int], None] | None = None,
             reprocess_fn: Callable[..., ReprocessResult] | None = None) -> BackfillResult | ReprocessResult:
    """The backfill story: a ``backfill`` run row (finished whatever happens), then :func:`run_backfill`
    (``via="archive"``: :func:`~ingest.pipeline.reprocess.reprocess` of the range). ``since`` may be None
    only for ``urls:FILE`` and ``warc:PATH``, which then take every URL or record of the input. In-process by default; the flow
    passes its Prefect flow run (id, flow name, deployment), its shared ``extractor``, and tasks for
    discovery, windows and reprocessing."""
    kind, path = parse_via(via)
    if since is None:
        if kind not in ("urls", "warc"):
            raise UsageError(f"--since is needed with --via {via} (only urls:FILE and warc:PATH may go without)")
        start, end = URLS_EPOCH, parse_range(URLS_EPOCH, until)[1]
        window_days = max(window_days, (end - start).days + 1)
    else:
        start, end = parse_range(since, until)
    (src,) = config.select([source])
    params = {"source": source, "since": start.isoformat(), "until": end.isoformat(), "via": via,
              "window_days": window_days} | (parameters or {})
    flow_run_id, flow_name, deployment = flow_run
    run_id = archive.start_run(engine, "backfill", params, flow_run_id=flow_run_id, flow_name=flow_name,
                               deployment=deployment, now=clock.now())
    try:
        if kind == "archive":  # no network: re-extract, re-dedup and re-tag what the archive holds
            from ingest.pipeline.reprocess import reprocess

            result: BackfillResult | ReprocessResult = (reprocess_fn or reprocess)(
                engine, config, sources=[source], since=start, until=end, run_id=run_id, clock=clock,
                extractor=extractor)
        elif kind in ("warc", "ccnews", "wayback"):  # pages from the archives others keep
            from ingest.pipeline.archived import run_archive_backfill

            with PollContext(config, engine, run_id, clock=clock, extractor=extractor) as ctx:
                result = BackfillResult(**(run_archive_backfill(
                    ctx, src, kind, path, start, end, on_plan=on_plan, on_unit=on_window) | {"run_id": run_id}))
        else:
            with PollContext(config, engine, run_id, clock=clock, extractor=extractor) as ctx:
                result = BackfillResult(**(run_backfill(
                    ctx, src, via, start, end, window_days, on_window=on_window, on_plan=on_plan,
                    discover_fn=discover_fn, map_windows=map_windows, on_discovered=on_discovered)
                    | {"run_id": run_id}))
    except BaseException as exc:
        archive.finish_run(engine, run_id, run_status(exc), error=f"{type(exc).__name__}: {exc}", now=clock.now())
        raise
    archive.finish_run(engine, run_id, "completed", result.as_dict(), now=clock.now())
    return result


def summary_markdown(summary: dict[str, Any]) -> str:
    totals = ", ".join(f"{k} {v}" for k, v in summary["totals"].items()) or "nothing to do"
    out = [f"# ingest backfill of {summary['source']} via {summary['via']}", "",
           f"{summary['since']} .. {summary['until']}: {summary['windows_run']} of {summary['windows']} windows "
           f"run, {summary['urls']} URLs: {totals}"]
    if summary["by_window"]:
        cols = list(summary["by_window"][0])
        out += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in summary["by_window"]]
    return "\n".join(out)
