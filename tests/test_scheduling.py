"""Adaptive polling, source health, cron validation, and the deployments derived from the config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest import decide
from ingest.config import load_config
from ingest.cron import cron_problem
from ingest.errors import ConfigError
from ingest.orchestrate.deployments import render_prefect_yaml, schedule_specs

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
BOUNDS = decide.PollBounds(timedelta(minutes=30), timedelta(minutes=5), timedelta(hours=6))


def test_interval_shrinks_while_items_come_and_grows_while_unchanged_within_bounds() -> None:
    seq, interval = [], None
    for new in (3, 1, 2, 5, 0, 0, 0, 0, 0, 0, 0, 0):
        interval = decide.adapt_interval(interval, new, BOUNDS)
        seq.append(int(interval.total_seconds() // 60))
    assert seq == [15, 7, 5, 5, 7, 11, 16, 25, 37, 56, 85, 128]
    for _ in range(20):
        interval = decide.adapt_interval(interval, 0, BOUNDS)
    assert interval == timedelta(hours=6)


def test_publisher_hints_lengthen_the_interval_up_to_the_maximum_and_retry_after_wins() -> None:
    ten = timedelta(minutes=10)
    assert decide.next_poll_adaptive(NOW, ten, BOUNDS) == NOW + ten
    assert decide.next_poll_adaptive(NOW, ten, BOUNDS, ttl_s=3600) == NOW + timedelta(hours=1)
    assert decide.next_poll_adaptive(NOW, ten, BOUNDS, update_period_s=7200) == NOW + timedelta(hours=2)
    assert decide.next_poll_adaptive(NOW, ten, BOUNDS, max_age_s=1800) == NOW + timedelta(minutes=30)
    assert decide.next_poll_adaptive(NOW, ten, BOUNDS, ttl_s=7 * 86400) == NOW + timedelta(hours=6)
    assert decide.next_poll_adaptive(NOW, ten, BOUNDS, ttl_s=60, retry_after_s=86400) == NOW + timedelta(days=1)


def test_cache_control_max_age() -> None:
    assert decide.cache_max_age_s("public, max-age=600") == 600
    assert decide.cache_max_age_s('max-age="300", s-maxage=900') == 900
    assert decide.cache_max_age_s("no-cache") is None
    assert decide.cache_max_age_s(None) is None


def test_due_and_state() -> None:
    assert decide.source_is_due(None, NOW)
    assert decide.source_is_due(NOW - timedelta(days=3), NOW)  # missed schedules: simply overdue
    assert not decide.source_is_due(NOW + timedelta(seconds=1), NOW)
    nxt = NOW + timedelta(minutes=10)
    assert decide.source_state(None, 0, None, None) == "never polled"
    assert decide.source_state(NOW, 0, None, nxt) == "healthy"
    assert decide.source_state(NOW, 2, NOW, nxt) == "backing off (2 failed, next 2026-01-01 12:10)"
    assert decide.source_state(NOW, 9, NOW - timedelta(days=2), nxt) == (
        "failing since 2025-12-30 12:00 (9 failed, next 2026-01-01 12:10)")


@pytest.mark.parametrize(("expr", "problem"), [
    ("*/15 * * * *", None), ("0 7 * * mon-fri", None), ("5,35 6-22/2 1 jan,jul 0", None),
    ("* * * *", "a cron expression has 5 fields (minute hour day month weekday), got 4 in '* * * *'"),
    ("61 * * * *", "bad minute field '61' in '61 * * * *'"),
    ("*/0 * * * *", "bad minute field '*/0' in '*/0 * * * *'"),
    ("0 0 * * funday", "bad day of week field 'funday' in '0 0 * * funday'"),
    ("@hourly x y z w", "bad minute field '@hourly' in '@hourly x y z w'"),
])
def test_cron_validation(expr: str, problem: str | None) -> None:
    assert cron_problem(expr) == problem


def test_bad_schedules_are_config_errors_naming_file_and_key(tmp_path: Path) -> None:
    p = tmp_path / "feeds.yaml"
    p.write_text('schedule: "0 25 * * *"\nsources: []\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(err.value) == f"{p}: schedule: bad hour field '25' in '0 25 * * *'"
    p.write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="timezone: unknown time zone 'Mars/Olympus'"):
        load_config(p)
    p.write_text("poll: {min_interval_s: 600, interval_s: 300}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="poll: needs min_interval_s <= interval_s <= max_interval_s"):
        load_config(p)
    p.write_text("sources:\n  - {name: a, feed: 'http://a/f', schedule: 'every hour'}\n"
                 "  - {name: b, feed: 'http://b/f'}\n", encoding="utf-8")
    cfg = load_config(p)
    assert [s.name for s in cfg.sources] == ["b"]
    assert [str(e) for e in cfg.invalid_sources] == [
        f"{p}: sources[0].schedule: a cron expression has 5 fields (minute hour day month weekday), "
        "got 2 in 'every hour' (source 'a')"]


def test_per_source_schedules_become_their_own_deployment_schedules(tmp_path: Path) -> None:
    p = tmp_path / "feeds.yaml"
    p.write_text('schedule: "*/10 * * * *"\ntimezone: Europe/Kyiv\nsources:\n'
                 "  - {name: a, feed: 'http://a/f', schedule: '0 7 * * *'}\n"
                 "  - {name: b, feed: 'http://b/f'}\n"
                 "  - {name: c, feed: 'http://c/f', schedule: '0 7 * * *'}\n"
                 "  - {name: d, feed: 'http://d/f', enabled: false}\n", encoding="utf-8")
    specs = schedule_specs(load_config(p))
    assert [(s.cron, s.timezone, s.parameters, s.slug) for s in specs] == [
        ("*/10 * * * *", "Europe/Kyiv", {"due_only": True, "sources": ["b"]}, "default"),
        ("0 7 * * *", "Europe/Kyiv", {"sources": ["a", "c"], "due_only": False}, "sources-1")]


def test_shipped_prefect_yaml_is_rendered_from_the_shipped_config() -> None:
    text = (REPO / "deployments" / "prefect.yaml").read_text(encoding="utf-8")
    assert text == render_prefect_yaml(load_config(REPO / "config" / "feeds.yaml"), "config/feeds.yaml")
    assert "set_working_directory" in text and "'*/15 * * * *'" in text and "name: ingest" in text
