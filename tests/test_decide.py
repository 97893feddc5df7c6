from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ingest import decide
from ingest.analyse.dedup import content_sha256, normalize_text

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_normalised_text_ignores_case_quotes_dashes_and_whitespace() -> None:
    a = "Ukraine’s  Ambassador — “North Korean” soldiers\n\nare\u00a0captured."
    b = "ukraine's ambassador - \"north korean\" SOLDIERS are captured."
    assert normalize_text(a) == normalize_text(b) == "ukraine's ambassador - \"north korean\" soldiers are captured."
    assert content_sha256(a) == content_sha256(b)
    assert content_sha256(a) != content_sha256(a + " More.")


def test_retryable_item_failures_back_off_then_stop() -> None:
    times = [decide.next_item_attempt("timeout", n, NOW) for n in range(1, 6)]
    assert [t - NOW for t in times[:4]] == [timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4),
                                           timedelta(hours=16)]
    assert times[4] is None


def test_permanent_item_failures_are_not_retried() -> None:
    for kind in ("http_4xx", "not_html", "empty_extraction", "forbidden_address", "too_large", "robots"):
        assert decide.next_item_attempt(kind, 1, NOW) is None


def test_retry_after_extends_the_wait() -> None:
    assert decide.next_item_attempt("rate_limited", 1, NOW, retry_after_s=7200) == NOW + timedelta(hours=2)


def test_due() -> None:
    assert decide.is_due("pending", None, NOW)
    assert decide.is_due("failed", NOW - timedelta(seconds=1), NOW)
    assert not decide.is_due("failed", NOW + timedelta(seconds=1), NOW)
    assert not decide.is_due("failed", None, NOW)
    assert not decide.is_due("archived", None, NOW)


def test_source_backoff_is_exponential_jittered_and_capped_never_disabled() -> None:
    rng = random.Random(7)
    delays = [decide.next_poll_after_error(n, NOW, rng=rng) - NOW for n in range(1, 30)]
    for n, d in enumerate(delays, 1):
        ceiling = min(decide.SOURCE_BACKOFF_CAP, decide.SOURCE_BACKOFF_BASE * 2 ** (n - 1))
        assert ceiling / 2 <= d <= ceiling
    assert max(delays) <= decide.SOURCE_BACKOFF_CAP
    assert decide.next_poll_after_error(1, NOW, retry_after_s=36000, rng=rng) == NOW + timedelta(hours=10)


def test_a_source_failing_for_months_keeps_backing_off_at_the_cap() -> None:
    # Found by the 90-day soak: the 40th consecutive failure overflowed timedelta, and the error of
    # recording the failure took the scheduler down.
    rng = random.Random(7)
    for n in (40, 41, 1_000, 10**6):
        delay = decide.next_poll_after_error(n, NOW, rng=rng) - NOW
        assert decide.SOURCE_BACKOFF_CAP / 2 <= delay <= decide.SOURCE_BACKOFF_CAP


def test_plan_turns_known_links_into_sightings() -> None:
    plan = decide.plan_entries([(1, "http://a/x?utm_source=y", "http://a/x"), (2, "http://a/new", "http://a/new")],
                               {"http://a/x": 42})
    assert plan.link_known == ((1, 42),)
    assert plan.to_fetch == ((2, "http://a/new", "http://a/new"),)
