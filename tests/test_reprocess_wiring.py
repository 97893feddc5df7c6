"""Re-extraction from stored bytes, as users reach it: ``ingest backfill --via archive`` and the
``reprocess`` Prefect flow (the ``reprocess`` deployment's entry point). No network is used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from ingest.cli import main
from ingest.config import parse_config
from ingest.demo.site import demo_config_yaml
from ingest.orchestrate.runtime import load_flow
from ingest.pipeline.stages import PollContext, poll_source
from ingest.store.db import open_archive, read_session
from ingest.store.models import Article, Extraction, Run


@pytest.fixture
def polled(tmp_path: Path, demo_site_running: Any) -> tuple[str, Path]:
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    config_path = tmp_path / "feeds.yaml"
    config_path.write_text(demo_config_yaml(demo_site_running.base_url, url), encoding="utf-8")
    config = parse_config(yaml.safe_load(config_path.read_text(encoding="utf-8")))
    engine = open_archive(url)
    with PollContext(config, engine, run_id=None) as ctx:
        for source in config.select(None):
            poll_source(ctx, source)
    engine.dispose()
    return url, config_path


def _counts(url: str) -> tuple[int, int]:
    with read_session(open_archive(url)) as s:
        return (s.execute(select(func.count()).select_from(Article)).scalar_one(),
                s.execute(select(func.count()).select_from(Extraction)).scalar_one())


def test_backfill_via_archive_reextracts_without_the_network(polled: tuple[str, Path]) -> None:
    url, config_path = polled
    articles, extractions = _counts(url)
    result = CliRunner().invoke(main, ["backfill", "--source", "demo-world", "--since", "2000-01-01",
                                       "--until", "2100-01-01", "--via", "archive", "--config", str(config_path),
                                       "--db", url, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    with read_session(open_archive(url)) as s:
        run = s.execute(select(Run).where(Run.kind == "backfill")).scalar_one()
    assert summary["articles"] > 0 and summary["failed"] == 0
    assert summary["unchanged"] == summary["articles"]  # same extractor, same bytes: same texts
    assert _counts(url) == (articles, extractions + summary["articles"])  # a new extraction each, no new article
    assert run.status == "completed" and run.summary["articles"] == summary["articles"]


@pytest.mark.prefect
def test_reprocess_flow(prefect_harness: None, polled: tuple[str, Path]) -> None:
    url, config_path = polled
    articles, extractions = _counts(url)
    summary = load_flow("reprocess", "reprocess")(config_path=str(config_path), database_url=url)
    assert [r["source"] for r in summary["sources"]] == ["demo-world", "demo-europe"]
    total = sum(r["articles"] for r in summary["sources"])
    assert total == articles and all(r["failed"] == 0 for r in summary["sources"])
    assert _counts(url) == (articles, extractions + articles)
    with read_session(open_archive(url)) as s:
        run = s.execute(select(Run).where(Run.kind == "reprocess")).scalar_one()
    assert run.status == "completed" and run.prefect_flow_name == "reprocess" and run.prefect_flow_run_id
