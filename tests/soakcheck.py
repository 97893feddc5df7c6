"""The soak's invariants: checked against the archive after every tick, and against the world's ground
truth at the end. A violation is a line saying what broke, for which story or source, and when.

After every tick:
* no duplicate articles (one per story, a wire story and its copies included), entries or versions;
* page work done at the first tick that runs its source: nothing pending, no due retry and no due
  re-check left longer than that; no retry budget exceeded;
* every failure shows on its source (the kind of its last feed fetch; parse errors too); an
  ``internal`` error anywhere is a defect;
* back-off bounded, and every source polled again within its bound: none is ever disabled;
* per host, never more requests in flight than ``per_host_concurrency`` (counted by the server), and
  request starts at least ``per_host_delay_s`` apart (as the fetcher recorded them, within
  :data:`SPACING_SLACK`: a thread can be descheduled between its turn and its time stamp).

At the end:
* every story a feed listed is archived (or failed 404 when it was deleted before its first fetch),
  and every story visible for four healthy hours (six hours after a fault: the back-off cap) was listed;
* each archived story's title and text are those of its last version served;
* every version fetched is a version in the archive, and every edit that was live across a scheduled
  re-check is one; every removal the re-checks saw is a gone event, and so is every one they must see;
* the source with its own schedule was polled at its local times, across the DST change.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from soakworld import TZ, World
from sqlalchemy import Engine, func, select

from ingest import decide
from ingest.config import Config
from ingest.store.db import read_session
from ingest.store.models import Article, ArticleEvent, ArticleState, ArticleVersion, Entry, Fetch, Source
from ingest.store.query import sources_status

TICK = timedelta(minutes=15)
# Request starts are judged on the fetcher's own time stamps, taken right after its turn came; a thread
# descheduled in between stamps late and makes the next gap look shorter by as much. On this 2-core
# machine under the soak's own load that was up to ~10 ms of a 20 ms delay, so a gap is a violation
# below a quarter of the delay: well above that noise, well below what a request that skips the
# per-host limits leaves (0-3 ms: a missing slot, or the stale reservation the soak found in host_slots).
SPACING_SLACK = 0.25
MAX_VIOLATIONS = 200


class Checker:
    def __init__(self, world: World, engine: Engine, config: Config) -> None:
        self.world = world
        self.engine = engine
        self.config = config
        self.violations: list[str] = []
        self.ticks: list[datetime] = []
        self.polls_of: dict[str, list[datetime]] = defaultdict(list)  # source -> tick times it was run
        self.visible: dict[str, int] = Counter()  # story key -> consecutive healthy ticks seen in its feed
        self.must_list: set[str] = set()
        self.min_start_gap_s: float | None = None  # smallest gap between request starts on one host
        self.min_arrival_gap_s: float | None = None  # the same, as the server saw the requests arrive
        self.last_fetch_id = 0
        self.logged = 0
        self.max_interval = timedelta(seconds=config.poll.max_interval_s)
        # due page work (re-checks, retries, pending entries) is done at the next tick that runs the source:
        # the default schedule's every 15 minutes; a source on its own schedule waits for its next hour
        # (the night between 22:05 and 06:05 the longest: nine hours when DST ends and the night has 25)
        self.lag = {name: (2 * TICK if spec.schedule is None else timedelta(hours=9, minutes=30))
                    for name, spec in world.sources.items()}

    def fail(self, message: str) -> None:
        if len(self.violations) < MAX_VIOLATIONS:
            self.violations.append(message)

    # --- after every tick --------------------------------------------------------------------------

    def after_tick(self, t: datetime, ran: dict[str, bool], *, killed: bool = False) -> None:
        """``ran``: source -> whether a run that could poll it was run at this tick; ``killed``: a
        scheduler was killed (and a new one started) during it."""
        self.ticks.append(t)
        for name, polled in ran.items():
            if polled:
                self.polls_of[name].append(t)
        self._coverage(t)
        with read_session(self.engine) as s:
            self._duplicates(s, t)
            self._pending_and_retries(s, t)
            self._sources(s, t)
            self._politeness(s, t, judge_spacing=not killed)

    def _coverage(self, t: datetime) -> None:
        for name in self.world.sources:
            # Healthy: no fault now, nor within the back-off cap before: a feed that failed for days is
            # polled again up to SOURCE_BACKOFF_CAP (6 h) after its last failed poll, by design, so a
            # story that appears as the fault ends and goes within those hours may be missed. (The
            # 90-day PostgreSQL run flagged exactly that: times-275, in the feed 4.4 h after a 6-day
            # garbage fault ended; the next poll's jitter landed after it was deleted.)
            healthy = not any(f.start <= t and f.end > t - decide.SOURCE_BACKOFF_CAP
                              for f in self.world.sources[name].faults)
            shown = {story.key for story in self.world.listed(name, t)}
            for key in list(self.visible):
                if key.startswith(name + "-") and key not in shown:
                    del self.visible[key]
            for key in shown:
                self.visible[key] = self.visible[key] + 1 if healthy else 0
                if self.visible[key] >= 16:  # four hours
                    self.must_list.add(key)

    def _duplicates(self, s: Any, t: datetime) -> None:
        stories: dict[str, list[int]] = defaultdict(list)
        for article_id, url in s.execute(select(Article.id, Article.url)):
            story = self.world.stories.get(_key(url))
            if story is None:
                self.fail(f"{t}: article #{article_id} {url} is no story of the world")
                continue
            stories[story.story_id].append(article_id)
        for story_id, ids in stories.items():
            if len(ids) > 1:
                self.fail(f"{t}: story {story_id} archived {len(ids)} times: articles {sorted(ids)}")
        for link, n in s.execute(select(Entry.link, func.count()).group_by(Entry.source_id, Entry.link)
                                 .having(func.count() > 1)):
            self.fail(f"{t}: {n} entries for {link}")
        last: dict[int, tuple[str, str | None]] = {}
        for article_id, version, sha, title in s.execute(select(
                ArticleVersion.article_id, ArticleVersion.version, ArticleVersion.content_sha256, ArticleVersion.title)
                .order_by(ArticleVersion.article_id, ArticleVersion.version)):
            if last.get(article_id) == (sha, title):
                self.fail(f"{t}: article #{article_id} version {version} repeats version {version - 1}")
            last[article_id] = (sha, title)

    def _pending_and_retries(self, s: Any, t: datetime) -> None:
        """Page work is done at the first tick that runs its source: nothing pending, no due retry and no
        due re-check older than that (a source on its own schedule: older than its longest gap)."""
        names = dict(s.execute(select(Source.id, Source.name)).all())
        for e in s.execute(select(Entry.link, Entry.status, Entry.first_seen_at, Entry.error_kind, Entry.attempts,
                                  Entry.next_attempt_at, Entry.source_id).where(Entry.status.in_(("pending", "failed")))):
            lag = self.lag[names[e.source_id]]
            if e.status == "pending" and e.first_seen_at < t - lag:
                self.fail(f"{t}: {e.link} pending since {e.first_seen_at}")
            if e.status == "failed":
                if e.error_kind is None:
                    self.fail(f"{t}: {e.link} failed without a kind")
                if e.attempts > len(decide.ITEM_RETRY_DELAYS) + 1:
                    self.fail(f"{t}: {e.link} tried {e.attempts} times")
                if e.next_attempt_at is not None and e.next_attempt_at < t - lag:
                    self.fail(f"{t}: {e.link}: retry due {e.next_attempt_at} not taken")
        for url, due, source_id in s.execute(
                select(Article.url, ArticleState.next_check_at, Article.source_id)
                .join(Article, Article.id == ArticleState.article_id).where(ArticleState.next_check_at < t - TICK)):
            if due < t - self.lag[names[source_id]]:
                self.fail(f"{t}: {url}: re-check due {due} not done")

    def _sources(self, s: Any, t: datetime) -> None:
        names = dict(s.execute(select(Source.id, Source.name)).all())
        status = {r["source"]: r for r in sources_status(s, now=t)}
        last_ids = select(func.max(Fetch.id)).where(Fetch.kind == "feed").group_by(Fetch.source_id)
        last_fetch = {f.source_id: f for f in s.execute(select(Fetch.source_id, Fetch.error_kind, Fetch.started_at)
                                                        .where(Fetch.id.in_(last_ids)))}
        bound = max(decide.SOURCE_BACKOFF_CAP, self.max_interval) + 2 * TICK
        for src in s.execute(select(Source)).scalars():
            name, row = names[src.id], status[names[src.id]]
            if src.error_kind == "internal":
                self.fail(f"{t}: {name}: internal error: {src.error_detail}")
            if src.last_status == "error" and row["state"] == "healthy":
                self.fail(f"{t}: {name} shown healthy after a failed poll ({src.error_kind})")
            f = last_fetch.get(src.id)
            if f is not None and f.error_kind and src.error_kind != f.error_kind:
                self.fail(f"{t}: {name}: last feed fetch failed {f.error_kind}, the source says {src.error_kind}")
            if f is not None and not f.error_kind and self._garbage_at(name, f.started_at) and src.error_kind != "parse_error":
                self.fail(f"{t}: {name}: garbage feed at {f.started_at} not recorded as parse_error")
            if src.last_polled_at and src.next_poll_at and src.next_poll_at - src.last_polled_at > bound:
                self.fail(f"{t}: {name}: next poll {src.next_poll_at} is more than {bound} after the last")
            if self.world.sources[name].schedule is None and src.last_polled_at and t - src.last_polled_at > bound:
                self.fail(f"{t}: {name} not polled since {src.last_polled_at}")

    def _garbage_at(self, name: str, when: datetime) -> bool:
        fault = self.world.fault(name, when)
        return fault is not None and fault.kind == "garbage"

    def _politeness(self, s: Any, t: datetime, *, judge_spacing: bool = True) -> None:
        """Concurrency from the server's own count (exact); spacing from the request start times the
        fetcher records, on the shared clock (the server's arrival stamps carry its own scheduling delay
        on a loaded machine: their smallest gap is reported, not judged). Not judged either in a tick
        where a scheduler was killed: the new one starting (imports, extractor processes) starves the
        other of CPU for seconds, and a thread resuming late stamps late."""
        limit, delay = self.config.fetch.per_host_concurrency, self.config.fetch.per_host_delay_s
        for host, most in self.world.max_in_flight.items():
            if most > limit:
                self.fail(f"{t}: {most} requests in flight on {host} (limit {limit})")
        self.world.max_in_flight.clear()
        starts: dict[str, list[tuple[datetime, int, str, int | None]]] = defaultdict(list)
        for fetch_id, url, started, status, kind, run_id in s.execute(select(
                Fetch.id, Fetch.url, Fetch.started_at, Fetch.status, Fetch.kind, Fetch.run_id)
                .where(Fetch.id > self.last_fetch_id)):
            self.last_fetch_id = max(self.last_fetch_id, fetch_id)
            if status is not None:  # a request went out (refusals before sending, robots ones, have no status)
                starts[urlsplit(url).hostname or ""].append((started, fetch_id, kind, run_id))
        for host, rows in starts.items():
            rows.sort()
            gaps = [((b[0] - a[0]).total_seconds(), a, b) for a, b in zip(rows, rows[1:], strict=False)]
            if judge_spacing and gaps and (worst := min(gaps))[0] < delay * SPACING_SLACK:
                gap, a, b = worst
                self.fail(f"{t}: requests to {host} started {gap * 1000:.1f} ms apart (delay {delay * 1000:.0f} ms): "
                          f"fetch #{a[1]} ({a[2]}, run {a[3]}) and #{b[1]} ({b[2]}, run {b[3]})")
            self.min_start_gap_s = _smallest([g for g, _, _ in gaps], self.min_start_gap_s)
        arrivals: dict[str, list[float]] = defaultdict(list)
        for r in self.world.log[self.logged:]:
            arrivals[r.host].append(r.real)
        self.logged = len(self.world.log)
        for times in arrivals.values():
            times.sort()
            gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
            self.min_arrival_gap_s = _smallest(gaps, self.min_arrival_gap_s)

    # --- at the end --------------------------------------------------------------------------------

    def final(self, end: datetime) -> dict[str, Any]:
        with read_session(self.engine) as s:
            articles = {a.id: a for a in s.execute(select(Article)).scalars()}
            entries = list(s.execute(select(Entry)).scalars())
            versions: dict[int, list[Any]] = defaultdict(list)
            # a version stored as NULL is the article's current text (store/textcopies.py)
            for v in s.execute(select(ArticleVersion.article_id, ArticleVersion.version, ArticleVersion.title,
                                      func.coalesce(ArticleVersion.text, Article.text).label("text"),
                                      ArticleVersion.content_sha256, ArticleVersion.fetched_at)
                               .join(Article, Article.id == ArticleVersion.article_id)
                               .order_by(ArticleVersion.article_id, ArticleVersion.version)):
                versions[v.article_id].append(v)
            events: dict[int, list[ArticleEvent]] = defaultdict(list)
            for ev in s.execute(select(ArticleEvent).order_by(ArticleEvent.id)).scalars():
                events[ev.article_id].append(ev)
        by_link = {e.link: e for e in entries}
        article_of_story: dict[str, int] = {}
        for e in entries:
            if e.article_id is not None:
                article_of_story[self.world.stories[_key(e.link)].story_id] = e.article_id
        listed = {key for r in self.world.log if r.status == 200 for key in r.listed}
        served: dict[str, list[Any]] = defaultdict(list)  # story key -> page responses
        for r in self.world.log:
            if r.path.startswith("/news/"):
                served[_key(r.path)].append(r)

        for key in sorted(self.must_list - listed):
            self.fail(f"end: {key} was in its feed for four healthy hours and never listed")
        for key in sorted(listed):
            story = self.world.stories[key]
            e = by_link.get(self.world.base(story.source) + story.path)
            if e is None:
                self.fail(f"end: {key} listed but no entry")
            elif e.status == "failed":
                first = served[key][0].status if served[key] else None
                if not (e.error_kind == "http_4xx" and first in (404, 410)):
                    self.fail(f"end: {key} listed but lost: {e.status} {e.error_kind} ({e.error_detail})")
            elif e.status not in ("archived", "duplicate"):
                self.fail(f"end: {key} listed but {e.status}")

        for story_id, article_id in article_of_story.items():
            a = articles[article_id]
            pages = [r for key in self._keys_of(story_id) for r in served[key] if r.status == 200]
            if not pages:
                continue
            last = max(pages, key=lambda r: r.sim)
            v = self.world.stories[_key(last.path)].versions[last.version]
            if (a.title, a.text) != (v.title, v.title + "\n" + v.text):
                self.fail(f"end: {story_id}: archived title/text are not those of its last version served "
                          f"(version {last.version} at {last.sim})")
            have = {(x.title, x.text) for x in versions[article_id]}
            for r in pages:
                w = self.world.stories[_key(r.path)].versions[r.version]
                if (w.title, w.title + "\n" + w.text) not in have:
                    self.fail(f"end: {story_id}: version {r.version} fetched at {r.sim} is not a version")
            self._edits(story_id, a, have, end)
            self._removal(story_id, a, events[article_id], served, end)
        self._own_schedule(end)
        return {"articles": len(articles), "versions": sum(len(v) for v in versions.values()),
                "gone_events": sum(e.kind == "gone" for evs in events.values() for e in evs),
                "restored_events": sum(e.kind == "restored" for evs in events.values() for e in evs),
                "listed": len(listed), "entries": len(entries)}

    def _keys_of(self, story_id: str) -> list[str]:
        return [s.key for s in self.world.stories.values() if s.story_id == story_id]

    def _healthy(self, source: str, start: datetime, end: datetime) -> bool:
        return not any(f.start < end and start < f.end for f in self.world.sources[source].faults)

    def _edits(self, story_id: str, a: Article, have: set[tuple[str | None, str]], end: datetime) -> None:
        story = self.world.stories[story_id]
        for i, v in enumerate(story.versions):
            live_until = story.versions[i + 1].at if i + 1 < len(story.versions) else end
            if story.deleted_at is not None:
                live_until = min(live_until, story.deleted_at)
            checks = [a.first_seen_at + c for c in decide.REVISION_CHECKS]
            lag = self.lag[story.source]
            covered = [c for c in checks if v.at <= c and c + lag <= live_until and c + lag <= end
                       and self._healthy(story.source, c, c + lag)]
            if covered and (v.title, v.title + "\n" + v.text) not in have:
                self.fail(f"end: {story_id}: version {i} (live {v.at}..{live_until}, re-check due {covered[0]}) "
                          "is not in the archive")

    def _removal(self, story_id: str, a: Article, evs: list[ArticleEvent], served: dict[str, list[Any]],
                 end: datetime) -> None:
        story = self.world.stories[story_id]
        seen = {r.status for r in served[story.key] if r.status in (404, 410) and r.sim >= story.published}
        recorded = {e.http_status for e in evs if e.kind == "gone"}
        for status in sorted(seen - recorded):
            if any(r.status == 200 for r in served[story.key]):  # gone after being archived
                self.fail(f"end: {story_id}: HTTP {status} served on a re-check, no gone event")
        if story.deleted_at is None or story.deleted_at < a.first_seen_at:
            return
        due = [a.first_seen_at + c for c in decide.REVISION_CHECKS]
        lag = self.lag[story.source]
        if any(c >= story.deleted_at and c + lag <= end and self._healthy(story.source, c, c + lag)
               for c in due) and 404 not in recorded and 410 not in recorded:
            self.fail(f"end: {story_id}: deleted at {story.deleted_at}, a re-check was due after, no gone event")

    def _own_schedule(self, end: datetime) -> None:
        for name, spec in self.world.sources.items():
            if spec.schedule is None:
                continue
            per_day: dict[Any, list[int]] = defaultdict(list)
            for t in self.polls_of[name]:
                local = t.astimezone(TZ)
                if local.minute != 5 or not 6 <= local.hour <= 22:
                    self.fail(f"end: {name} polled at {local:%Y-%m-%d %H:%M %Z}, off its schedule")
                per_day[local.date()].append(local.hour)
            days = sorted(per_day)[1:-1]  # whole local days only
            for day in days:
                if sorted(per_day[day]) != list(range(6, 23)):
                    self.fail(f"end: {name} on {day}: polled at hours {sorted(per_day[day])}, not 06-22")


def _smallest(values: list[float], so_far: float | None) -> float | None:
    return min([*values, *([so_far] if so_far is not None else [])], default=None)


def _key(url: str) -> str:
    """The world's story key in a page URL or path."""
    return url.rsplit("/", 1)[-1].removesuffix(".html")
