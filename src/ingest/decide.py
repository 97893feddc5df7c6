"""Pure decisions of a poll: which feed entries need a page fetch, when a failure is retried, when a
source is polled next. No I/O here (the reader/miniflux "decider" split): the pipeline gathers state,
asks these functions, and applies the answers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ingest.errors import ErrorKind

# Failures worth another attempt later: the server or the network may recover. Others (404, not HTML,
# no text, forbidden address…) are final for automatic polling; a backfill or reprocess can still
# take them up by hand.
RETRYABLE_KINDS = frozenset({
    ErrorKind.TIMEOUT, ErrorKind.DNS, ErrorKind.REFUSED, ErrorKind.CONNECTION, ErrorKind.TLS,
    ErrorKind.TRUNCATED, ErrorKind.HTTP_5XX, ErrorKind.RATE_LIMITED, ErrorKind.EXTRACTOR_ERROR,
    ErrorKind.BOT_WALL, ErrorKind.INTERNAL,
})
ITEM_RETRY_DELAYS = (timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4), timedelta(hours=16))

SOURCE_BACKOFF_BASE = timedelta(minutes=5)
SOURCE_BACKOFF_CAP = timedelta(hours=6)  # a failing source is retried at the cap forever, never disabled
DEFAULT_POLL_INTERVAL = timedelta(minutes=30)
# A server's Retry-After is honoured up to this: a hostile or broken one (Retry-After: 10^9) must not
# silence a source for good, which would be disabling it by another name.
RETRY_AFTER_CAP = timedelta(hours=24)


def _retry_after(retry_after_s: float | None) -> timedelta:
    return min(timedelta(seconds=retry_after_s or 0), RETRY_AFTER_CAP)


def next_item_attempt(kind: str | None, attempts: int, now: datetime,
                      retry_after_s: float | None = None) -> datetime | None:
    """When a failed item is tried again, or None when it is not retried automatically."""
    if kind is None or kind not in RETRYABLE_KINDS or attempts > len(ITEM_RETRY_DELAYS):
        return None
    delay = ITEM_RETRY_DELAYS[max(attempts, 1) - 1]
    return now + max(delay, _retry_after(retry_after_s))


def is_due(status: str, next_attempt_at: datetime | None, now: datetime) -> bool:
    """Pending entries are always due (a crash may have left them); failed ones when their time came."""
    if status == "pending":
        return True
    return status == "failed" and next_attempt_at is not None and next_attempt_at <= now


MAX_BACKOFF_DOUBLINGS = 30  # 2**30 × the base is far past any cap, and far from timedelta's limit


def next_poll_after_error(error_count: int, now: datetime, retry_after_s: float | None = None,
                          rng: random.Random | None = None) -> datetime:
    """Exponential back-off with full jitter, capped, honouring Retry-After."""
    rng = rng or random.Random()
    # The exponent stops growing long after the cap is reached: a feed failing for weeks counts
    # hundreds of errors, and base * 2**n overflowed timedelta at about 40 (found by the 90-day soak).
    doublings = min(max(error_count - 1, 0), MAX_BACKOFF_DOUBLINGS)
    ceiling = min(SOURCE_BACKOFF_CAP, SOURCE_BACKOFF_BASE * (2 ** doublings))
    delay = timedelta(seconds=rng.uniform(ceiling.total_seconds() / 2, ceiling.total_seconds()))
    return now + max(delay, _retry_after(retry_after_s))


def next_poll_after_success(now: datetime, ttl_s: int | None = None,
                            interval: timedelta = DEFAULT_POLL_INTERVAL) -> datetime:
    return now + max(interval, timedelta(seconds=ttl_s or 0))


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """For one poll of one source: entries already archived elsewhere, and entries to fetch."""

    link_known: tuple[tuple[int, int], ...]  # (entry_id, article_id): the link is an alias of an article
    to_fetch: tuple[tuple[int, str, str], ...]  # (entry_id, link, canonical link)


def plan_entries(due_entries: Iterable[tuple[int, str, str]], known_urls: Mapping[str, int]) -> EntryPlan:
    """``due_entries``: (entry_id, link, canonical link). A link whose canonical form is a known alias is
    a sighting of that article, not a fetch; two due entries with the same canonical link fetch once
    (the first), and the others become sightings once it is stored (the store resolves them)."""
    known: list[tuple[int, int]] = []
    fetch: list[tuple[int, str, str]] = []
    for entry_id, link, canonical in due_entries:
        article_id = known_urls.get(canonical)
        if article_id is not None:
            known.append((entry_id, article_id))
        else:
            fetch.append((entry_id, link, canonical))
    return EntryPlan(tuple(known), tuple(fetch))


# --- adaptive polling -----------------------------------------------------------------------------

SPEED_UP = 0.5  # the interval halves while new items keep coming …
SLOW_DOWN = 1.5  # … and grows by half each time the feed is unchanged


@dataclass(frozen=True, slots=True)
class PollBounds:
    interval: timedelta  # a new source's first interval
    minimum: timedelta
    maximum: timedelta


def adapt_interval(previous: timedelta | None, new_items: int, bounds: PollBounds) -> timedelta:
    """The next interval from how the feed changed: shorter after new items, longer when unchanged,
    always within [minimum, maximum]."""
    current = previous or bounds.interval
    nxt = current * (SPEED_UP if new_items > 0 else SLOW_DOWN)
    return min(bounds.maximum, max(bounds.minimum, nxt))


def cache_max_age_s(cache_control: str | None) -> int | None:
    """``max-age`` (or ``s-maxage``) of a Cache-Control header, in seconds."""
    best: int | None = None
    for part in (cache_control or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() in ("max-age", "s-maxage") and value.strip().strip('"').isdigit():
            best = max(best or 0, int(value.strip().strip('"')))
    return best


def next_poll_adaptive(now: datetime, interval: timedelta, bounds: PollBounds, *, ttl_s: int | None = None,
                       update_period_s: int | None = None, max_age_s: int | None = None,
                       retry_after_s: float | None = None) -> datetime:
    """When to poll next after a successful poll. The publisher's hints (RSS ttl, sy:updatePeriod,
    Cache-Control max-age) say "not more often than": they lengthen the adapted interval, but never
    beyond the configured maximum, so a bogus hint cannot silence a source. Retry-After always wins."""
    hint = max(ttl_s or 0, update_period_s or 0, max_age_s or 0)
    delay = min(bounds.maximum, max(interval, timedelta(seconds=hint)))
    return now + max(delay, _retry_after(retry_after_s))


def source_is_due(next_poll_at: datetime | None, now: datetime) -> bool:
    """A source never polled, or whose planned poll time has come (a missed one is simply overdue)."""
    return next_poll_at is None or next_poll_at <= now


def source_state(last_polled_at: datetime | None, error_count: int, failing_since: datetime | None,
                 next_poll_at: datetime | None, last_status: str | None = None) -> str:
    """healthy | backing off (n failed polls, next …) | failing since … (three or more in a row).
    A source whose last poll failed is never healthy, whatever its counters say."""
    failed = error_count > 0 or last_status == "error"
    if last_polled_at is None and not failed:
        return "never polled"
    if not failed:
        return "healthy"
    error_count = max(error_count, 1)
    when = next_poll_at.strftime("%Y-%m-%d %H:%M") if next_poll_at else "-"
    if error_count < 3:
        return f"backing off ({error_count} failed, next {when})"
    since = failing_since.strftime("%Y-%m-%d %H:%M") if failing_since else "-"
    return f"failing since {since} ({error_count} failed, next {when})"


# Re-checks of an archived article for revisions and removals, counted from when it was first seen:
# news is edited most in its first hours, rarely after a few days; removals come later too (a week, a
# month: legal takedowns, unpublished stories), and are what researchers of deletions need.
REVISION_CHECKS = (timedelta(hours=1), timedelta(hours=6), timedelta(days=1), timedelta(days=3),
                   timedelta(days=7), timedelta(days=30))
# A removed page is re-checked this often once the schedule above is over, in case it comes back.
GONE_RECHECK = timedelta(days=30)
# A change of the feed's listing (title, summary) re-checks an article at most this often.
RELIST_MIN_GAP = timedelta(hours=1)


def next_revision_check(first_seen_at: datetime, checks_done: int) -> datetime | None:
    """When an article is next re-fetched to look for a revision; None once the schedule is over."""
    if checks_done >= len(REVISION_CHECKS):
        return None
    return first_seen_at + REVISION_CHECKS[checks_done]


# --- conditional GET of feeds -----------------------------------------------------------------------

# Validators (ETag, Last-Modified) are not trusted for ever: a feed answered with 304s is fetched in full
# at least this often, and a server caught answering 304 (or an unchanged ETag) for a changed body is
# fetched without them from then on (Media Cloud's lesson: the body hash decides).
REVALIDATE_AFTER = timedelta(hours=1)


def send_validators(*, has_validators: bool, last_body_at: datetime | None, unreliable_since: datetime | None,
                    now: datetime, revalidate_after: timedelta = REVALIDATE_AFTER) -> bool:
    """Whether this poll of a feed sends If-None-Match / If-Modified-Since."""
    if not has_validators or unreliable_since is not None:
        return False
    return last_body_at is not None and now - last_body_at < revalidate_after


def validators_lied(*, stored_etag: str | None, stored_last_modified: str | None, new_etag: str | None,
                    new_last_modified: str | None, stored_sha: str | None, new_sha: str | None) -> bool:
    """A full response whose body changed although it came with the very validator we hold: the
    server's ETag (or, without one, Last-Modified) does not follow its content, so its 304s cannot be
    believed either."""
    if stored_sha is None or new_sha is None or stored_sha == new_sha:
        return False
    if stored_etag is not None:
        return new_etag == stored_etag
    return stored_last_modified is not None and new_last_modified == stored_last_modified


# --- the source row after a feed poll ---------------------------------------------------------------

def source_after_poll(*, now: datetime, error: tuple[str, str] | None, feed_status: str, error_count: int,
                      failing_since: datetime | None, retry_after_s: float | None, rng: Any, got_body: bool,
                      lied: bool, cursor: dict[str, Any] | None, new_items: int, warning: str | None,
                      next_poll: dict[str, Any] | None) -> dict[str, Any]:
    """The source row's new values after one poll of its feed (the store applies them in the same
    transaction as the feed's entries). ``error``: (kind, detail) when the poll failed; ``cursor``: the
    feed's new fetch state (ETag, Last-Modified, body hash, title) when its entries were parsed;
    ``next_poll``: the adaptive interval and next time (decided by the caller from the config's bounds),
    used when the poll did not fail. A failure backs off exponentially (``next_poll_after_error``)."""
    values: dict[str, Any] = {"last_polled_at": now}
    if error is not None:
        values.update(last_status="error", error_kind=error[0], error_detail=error[1], error_count=error_count + 1,
                      failing_since=failing_since or now,
                      next_poll_at=next_poll_after_error(error_count + 1, now, retry_after_s, rng=rng))
    else:
        values.update(last_status=feed_status, last_success_at=now, error_kind=None, error_detail=None,
                      error_count=0, failing_since=None)
    if got_body:
        values["last_body_at"] = now
    if lied:
        values["validators_unreliable_since"] = now
    if cursor is not None:
        values.update(cursor, feed_warning=warning)  # the cursor moves with the entries it produced
        if new_items:
            values["last_new_item_at"] = now
    elif warning:
        values["feed_warning"] = warning
    if error is None and next_poll is not None:  # adaptive: sooner while new items come, later while unchanged
        values.update(next_poll)
    return values
