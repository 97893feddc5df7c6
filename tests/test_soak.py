"""Weeks of scheduled operation in minutes: the soak (tests/soakrun.py) runs ingest as the scheduled
deployment runs it, every 15 simulated minutes, against a simulated news world that changes and fails
(tests/soakworld.py), and checks its invariants after every tick and the archive against the world's
ground truth at the end (tests/soakcheck.py). bench/soak.py runs it for 90 days, on PostgreSQL too,
with two schedulers at once and kill -9 at random ticks."""

from __future__ import annotations

from pathlib import Path

import pytest
from soakrun import Soak

from ingest import decide


@pytest.mark.timeout(900)
def test_two_weeks_of_scheduled_operation(tmp_path: Path) -> None:
    report = Soak(14, f"sqlite:///{tmp_path / 'soak.db'}").run()
    assert report.violations == []
    # the world did what it was built to do, so the invariants were put to the test
    # every 15 minutes, but the repeated hour of the DST change runs once (Prefect's cron resolves a
    # repeated wall time to its first occurrence), plus the morning source's own 17 hours a day
    assert report.ticks == 14 * 96 - 4 + 14 * 17
    assert report.stories_published > 600 and report.edits_published > 80 and report.deletions_published > 10
    assert report.archive["listed"] >= report.stories_published - 5  # (the last hour's may not be polled yet)
    assert report.archive["versions"] > report.archive["articles"]  # edits archived as versions
    assert report.archive["gone_events"] > 0
    assert report.min_start_gap_ms is not None and report.min_start_gap_ms > 0


def test_the_soak_notices_what_breaks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks have teeth: with re-checks switched off, edits are missed and the soak says so."""
    monkeypatch.setattr(decide, "next_revision_check", lambda first, done: None)
    report = Soak(2, f"sqlite:///{tmp_path / 'soak.db'}").run()
    missed = [v for v in report.violations if "is not in the archive" in v]
    assert missed, report.violations[:5]
