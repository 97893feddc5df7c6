"""Extraction drift: real pages of one source, then the same site with a broken template (the article
body removed: the same chrome on every page), polled on a driven clock; the flag rises within the
window, shows in `ingest sources` (and `--check` exits 1), on the web sources page, in the poll summary
and as a Prefect event, and clears after the fix. Plus the pure measures on made-up observations."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from driftsite import DriftSite

from ingest.analyse.drift import EMPTY, TEXT, Observation, Thresholds, compare
from ingest.analyse.driftwalk import scan
from ingest.cli import main
from ingest.clock import ManualClock
from ingest.config import parse_config
from ingest.pipeline.poll import poll
from ingest.pipeline.report import summary_markdown, summary_rows
from ingest.store.db import open_archive

PER_POLL = 10
DRIFT = {"window": 20, "baseline": 40, "min_sample": 10}
SOURCE = "nachrichten"


def config_for(site: Any, url: str, tmp_path: Path) -> tuple[Any, Path]:
    data = {"database": url, "taxonomy": None, "drift": DRIFT,
            "fetch": {"allow_private_networks": True, "per_host_delay_s": 0, "per_host_concurrency": 8, "retries": 0},
            "sources": [{"name": SOURCE, "feed": site.url("/feed.xml")}]}
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return parse_config(data), path


def sources_check(url: str, config_path: Path) -> Any:
    return CliRunner().invoke(main, ["sources", "--check", "--db", url, "--config", str(config_path)],
                              catch_exceptions=False)


@pytest.fixture
def drift_site(corpus_dir: Path) -> Any:
    site = DriftSite(corpus_dir)
    site.start()
    yield site
    site.stop()


class Scenario:
    """Polls of the drift site, PER_POLL new pages each, two simulated hours apart."""

    def __init__(self, site: Any, url: str, tmp_path: Path, extractor: Any) -> None:
        self.site, self.url = site, url
        self.config, self.config_path = config_for(site, url, tmp_path)
        self.clock = ManualClock(datetime(2025, 3, 1, 6, tzinfo=UTC))
        self.engine = open_archive(url)
        self.extractor = extractor

    def poll(self) -> Any:
        self.site.publish(PER_POLL)
        self.clock.advance(timedelta(hours=2))
        result = poll(self.config, self.engine, clock=self.clock, extractor=self.extractor)
        assert result.source(SOURCE).ok
        return result

    def close(self) -> None:
        self.engine.dispose()


def test_drift_rises_within_the_window_shows_everywhere_and_clears_after_the_fix(
        drift_site: Any, database_url: str, tmp_path: Path, extractor: Any) -> None:
    s = Scenario(drift_site, database_url, tmp_path, extractor)
    polls_per_window = math.ceil(DRIFT["window"] / PER_POLL)
    try:
        # healthy: the baseline forms; nothing drifts, and --check passes
        for _ in range(5):
            assert s.poll().drifting == []
        checked = sources_check(database_url, s.config_path)
        assert checked.exit_code == 0, checked.output
        assert "drifting" not in checked.output

        # the template breaks: the flag rises within one window of pages
        drift_site.broken = True
        broke_at = s.clock.now() + timedelta(hours=2)
        rose = None
        for i in range(1, polls_per_window + 1):
            result = s.poll()
            if result.drifting:
                rose = i
                break
        assert rose is not None, "no drift flagged within the window"
        drift = result.drifting[0]
        assert drift["source"] == SOURCE
        assert datetime.fromisoformat(drift["since"].replace("Z", "+00:00")) >= broke_at
        moved = {m["measure"] for m in drift["moved"]}
        assert "text_chars" in moved, drift  # real text of ~5,000 chars became 221 chars of chrome
        # the poll summary (table artifact and Markdown) says so
        rows = summary_rows(result)
        assert rows[0]["drift"].startswith("drifting since") and rows[-1]["drift"] == "1 drifting"
        assert f"- {SOURCE}: drifting since" in summary_markdown(result)
        # `ingest sources` shows the state and the measure; --check exits 1
        checked = sources_check(database_url, s.config_path)
        assert checked.exit_code == 1
        assert "drifting since" in checked.output and "median text" in checked.output
        assert f"1 drifting ({SOURCE})" in checked.output
        # the web sources page too (the real app, on its read-only connection)
        page = _web_sources(database_url, s.config.drift.thresholds())
        assert page["sources"][0]["drifting"] and page["drifting"] == 1
        # it stays raised while the site stays broken: the broken pages never become the baseline
        for _ in range(2):
            assert s.poll().drifting, "the flag fell while the site was still broken"

        # the fix: the flag clears once a window of good pages came in
        drift_site.broken = False
        cleared = None
        for i in range(1, polls_per_window + 1):
            if not s.poll().drifting:
                cleared = i
                break
        assert cleared is not None, "the flag did not clear within a window after the fix"
        checked = sources_check(database_url, s.config_path)
        assert checked.exit_code == 0, checked.output
        # the verdict stored poll by poll is the walk over the whole history at once (the window's values
        # may differ: the stored walk keeps what each poll saw, such as chrome pages that were duplicates
        # then, which a later re-fetch made sightings of a revised article: the history read sees today's)
        verdict = ("drifting", "since", "moved", "judged", "observations")
        stored, history = _stored(s.engine)[SOURCE], _from_history(s.engine, s.config.drift.thresholds())[SOURCE]
        assert {k: stored[k] for k in verdict[:4]} == {k: history[k] for k in verdict[:4]}
        assert stored["observations"] >= history["observations"]
        # an archive from before the stored state: the upgrade fills it from the history
        _migrate_again(s.engine)
        assert _stored(s.engine) == _from_history(s.engine, Thresholds())
    finally:
        s.close()


def _stored(engine: Any) -> dict[str, Any]:
    from ingest.store.driftreads import stored_verdicts

    with engine.connect() as conn:
        verdicts = stored_verdicts(conn)
    assert set(verdicts) == {SOURCE}
    return {name: {k: v for k, v in d.items() if k != "thresholds"} for name, d in verdicts.items()}


def _from_history(engine: Any, thresholds: Thresholds) -> dict[str, Any]:
    from ingest.store.driftreads import source_observations

    with engine.connect() as conn:
        sid = conn.exec_driver_sql("SELECT id FROM sources WHERE name = ?" if engine.dialect.name == "sqlite"
                                   else "SELECT id FROM sources WHERE name = %s", (SOURCE,)).scalar_one()
        return {SOURCE: scan(source_observations(conn, sid, thresholds.history), thresholds).as_dict()}


def _migrate_again(engine: Any) -> None:
    """Down to the schema before the stored drift state (its table dropped), and up again."""
    from alembic import command

    from ingest.store.db import _alembic_config, head_revision, upgrade

    with engine.begin() as conn:
        cfg = _alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009")
    assert upgrade(engine) == ("0009", head_revision())


def _web_sources(url: str, thresholds: Thresholds) -> dict[str, Any]:
    from starlette.testclient import TestClient

    from ingest.web.app import create_app

    with TestClient(create_app(url, drift=thresholds), base_url="http://127.0.0.1") as client:
        html = client.get("/sources")
        assert html.status_code == 200 and "drifting since" in html.text
        return client.get("/sources.json").json()


@pytest.mark.prefect
def test_the_poll_flow_emits_a_drift_event(drift_site: Any, tmp_path: Path, extractor: Any,
                                           prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.events.clients import AssertingEventsClient
    from prefect.events.worker import EventsWorker

    from ingest.orchestrate.runtime import load_flow

    url = f"sqlite:///{tmp_path / 'flow.db'}"
    s = Scenario(drift_site, url, tmp_path, extractor)
    try:
        for _ in range(5):
            s.poll()
    finally:
        s.close()
    drift_site.broken = True
    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    flow = load_flow("poll", "poll_feeds")
    summary: dict[str, Any] = {}
    for _ in range(2):
        drift_site.publish(PER_POLL)
        summary = flow(config_path=str(s.config_path), database_url=url)
    worker.drain()
    assert summary["drifting"] and summary["drifting"][0]["source"] == SOURCE
    events = [e for client in AssertingEventsClient.all for e in client.events if e.event == "ingest.source.drift"]
    assert events, "no ingest.source.drift event"
    assert events[-1].resource.id == f"ingest.source.{SOURCE}"
    assert events[-1].payload["source"] == SOURCE and events[-1].payload["moved"]


def test_sources_check_exits_1_for_a_failing_source(tmp_path: Path) -> None:
    from sites import unreachable_config

    config_path = unreachable_config(tmp_path / "down.yaml", 1)
    done = CliRunner().invoke(main, ["poll", "--config", str(config_path), "--no-prefect"], catch_exceptions=False)
    assert done.exit_code == 1  # every source failed
    checked = CliRunner().invoke(main, ["sources", "--check", "--config", str(config_path)], catch_exceptions=False)
    assert checked.exit_code == 1
    assert "1 failing (down0)" in checked.output


def test_a_bad_drift_setting_is_one_line_naming_the_key(tmp_path: Path, sqlite_url: str) -> None:
    open_archive(sqlite_url).dispose()
    path = tmp_path / "feeds.yaml"
    for drift, problem in (({"window": 5, "min_sample": 10}, "drift: min_sample must not exceed window"),
                           ({"windw": 5}, "drift: windw: unknown key")):
        path.write_text(yaml.safe_dump({"drift": drift, "sources": []}), encoding="utf-8")
        done = subprocess.run([str(Path(sys.executable).parent / "ingest"), "sources", "--db", sqlite_url,
                               "--config", str(path)], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == f"ingest: error: {path}: {problem}"


# --- the pure measures ------------------------------------------------------------------------------

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SMALL = Thresholds(window=10, baseline=30, min_sample=5, history=500)


def text_obs(i: int, *, chars: int = 3000, title: bool = True, date: bool = True, authors: bool = True,
             language: str = "en", key: str | None = None) -> Observation:
    return Observation(at=T0 + timedelta(hours=i), outcome=TEXT, item=f"article:{i}", chars=chars + i % 7 * 50,
                       title=title, date=date, authors=authors, language=language, text_key=key or f"text-{i}")


def test_a_steady_source_never_drifts() -> None:
    obs = [text_obs(i) for i in range(200)]
    state = scan(obs, SMALL)
    assert state.judged and not state.drifting and state.moved == ()


def test_too_few_observations_give_no_verdict() -> None:
    state = scan([text_obs(i) for i in range(12)], SMALL)
    assert not state.judged and not state.drifting


def test_empty_extractions_raise_the_flag_with_the_measure_and_the_time() -> None:
    obs = [text_obs(i) for i in range(60)]
    obs += [Observation(at=T0 + timedelta(hours=60 + i), outcome=EMPTY, item=f"entry:{i}") for i in range(5)]
    state = scan(obs, SMALL)
    assert state.drifting
    assert [m.measure for m in state.moved][:1] == ["empty_extraction"]
    # raised by the observation that tipped the window over the threshold (the third of five)
    assert T0 + timedelta(hours=60) <= state.since <= T0 + timedelta(hours=64)


def test_a_lasting_breakage_does_not_become_the_baseline_and_clears_after_the_fix() -> None:
    good = [text_obs(i) for i in range(60)]
    broken = [text_obs(60 + i, chars=200, key="chrome") for i in range(200)]  # longer than the baseline
    state = scan(good + broken, SMALL)
    assert state.drifting, "a breakage longer than the baseline became normal"
    assert {m.measure for m in state.moved} >= {"text_chars", "near_duplicates"}
    fixed = [text_obs(260 + i) for i in range(SMALL.window)]
    assert not scan(good + broken + fixed, SMALL).drifting


def test_a_window_that_says_nothing_about_what_moved_is_no_recovery() -> None:
    good = [text_obs(i) for i in range(60)]
    broken = [text_obs(60 + i, chars=200, key="chrome") for i in range(10)]
    # then pages that tell nothing about text length (copies of a revised text: their length is not known)
    mute = [Observation(at=T0 + timedelta(hours=70 + i), outcome=TEXT, item=f"entry:{i}") for i in range(10)]
    state = scan(good + broken + mute, SMALL)
    assert state.drifting and state.moved and state.moved[0].measure == "text_chars"


def test_missing_dates_and_a_language_shift_are_measures_too() -> None:
    obs = [text_obs(i) for i in range(60)] + [text_obs(60 + i, date=False) for i in range(10)]
    assert [m.measure for m in scan(obs, SMALL).moved] == ["missing_date"]
    obs = [text_obs(i) for i in range(60)] + [text_obs(60 + i, language="uk") for i in range(10)]
    assert [m.measure for m in scan(obs, SMALL).moved] == ["languages"]


def test_the_stored_walk_goes_on_as_one_walk_over_the_whole_history() -> None:
    import json

    from ingest.analyse.driftwalk import Walk, advance, walk_from_json, walk_to_json

    obs = ([text_obs(i) for i in range(60)] + [text_obs(60 + i, chars=200, key="chrome") for i in range(40)]
           + [text_obs(100 + i) for i in range(30)])
    for step in (1, 7, 25):
        walk, seen_drift = Walk(), False
        for k in range(0, len(obs), step):
            stored = walk_from_json(json.loads(json.dumps(walk_to_json(walk, SMALL))), SMALL)
            assert stored is not None
            walk, state = advance(stored, obs[k:k + step], SMALL)
            assert state == scan(obs[:k + step], SMALL), (step, k)
            seen_drift |= state.drifting
        assert seen_drift and not state.drifting
    # a walk made with other thresholds is not gone on with: the source is judged from its history again
    assert walk_from_json(walk_to_json(walk, SMALL), Thresholds()) is None


def test_a_drift_older_than_the_history_becomes_the_baseline() -> None:
    from ingest.analyse.driftwalk import Walk, advance

    t = Thresholds(window=10, baseline=30, min_sample=5, history=100)
    good = [text_obs(i) for i in range(60)]
    broken = [text_obs(60 + i, chars=200, key="chrome") for i in range(150)]
    walk, state = advance(Walk(), good + broken[:20], t)
    assert state.drifting
    walk, state = advance(walk, broken[20:], t)
    assert not state.drifting and state.judged
    assert state.baseline["text_chars"] < 400  # the broken template is the baseline now
    assert not scan(good + broken, t).drifting  # as the walk over the latest `history` pages says


def test_revisions_of_one_article_are_not_near_duplicates_but_copies_are() -> None:
    # the same article re-extracted (its revisions) is one item; pages of many items with one text are a template
    window = {"near_duplicates": 0.0}
    assert compare(window, {"near_duplicates": 0.0}, SMALL) == ()
    same_item = [Observation(at=T0 + timedelta(hours=i), outcome=TEXT, item="article:1", chars=3000, text_key="t")
                 for i in range(10)]
    from ingest.analyse.drift import near_duplicate_partners

    assert all(p == [] for p in near_duplicate_partners(same_item, 0.8))
    copies = [Observation(at=o.at, outcome=TEXT, item=f"entry:{i}", chars=3000, text_key="t")
              for i, o in enumerate(same_item)]
    assert all(len(p) == 9 for p in near_duplicate_partners(copies, 0.8))


def test_signatures_find_template_text_without_equal_hashes() -> None:
    import numpy as np

    from ingest.analyse.drift import near_duplicate_partners

    rng = np.random.default_rng(7)
    template = rng.integers(0, 2**32, size=126, dtype=np.uint32)
    obs = []
    for i in range(6):
        sig = template.copy()
        sig[rng.choice(126, size=8, replace=False)] = rng.integers(0, 2**32, size=8, dtype=np.uint32)  # ~94% alike
        obs.append(Observation(at=T0, outcome=TEXT, item=f"article:{i}", signature=sig.tobytes()))
    obs.append(Observation(at=T0, outcome=TEXT, item="article:99",
                           signature=rng.integers(0, 2**32, size=126, dtype=np.uint32).tobytes()))
    partners = near_duplicate_partners(obs, 0.8)
    assert all(len(p) == 5 for p in partners[:6]) and partners[6] == []
