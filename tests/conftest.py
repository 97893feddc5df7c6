"""Shared fixtures: real SQLite files, the real PostgreSQL when there is one, the shared corpus, the
bundled demo site on 127.0.0.1, and one Prefect test harness per session (it costs ~16 s to start)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Before anything imports Prefect: no telemetry, and a Prefect home of our own.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="ingest-prefect-home-"))
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
# PostgreSQL archives' search indexes (store/searchengine.py) in a directory of the run, not ~/.cache
os.environ.setdefault("INGEST_SEARCH_DIR", tempfile.mkdtemp(prefix="ingest-search-"))

REPO = Path(__file__).resolve().parents[1]
POSTGRES_ENV = "INGEST_TEST_POSTGRES_URL"


def corpus_path() -> Path | None:
    env = os.environ.get("INGEST_CORPUS_DIR")
    path = Path(env) if env else REPO.parent / "shared" / "corpus"
    return path if (path / "news-pages").is_dir() else None


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    path = corpus_path()
    if path is None:
        pytest.skip("shared corpus not found: set INGEST_CORPUS_DIR or put shared/corpus beside the repo")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'archive.db'}"


def _postgres_schema() -> Iterator[str]:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test); "
                    ".ci/run sets it when 127.0.0.1:5432 answers")
    import psycopg

    schema = f"ingest_test_{uuid.uuid4().hex[:12]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} does not answer: {exc}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the real PostgreSQL for one test, dropped afterwards."""
    yield from _postgres_schema()


@pytest.fixture(scope="module")
def postgres_module_url() -> Iterator[str]:
    """A fresh schema in the real PostgreSQL for the tests of one module that only read it."""
    yield from _postgres_schema()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both archive back-ends, for tests of the store."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'archive.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def demo_site_running() -> Iterator[object]:
    from ingest.demo.site import demo_site

    site = demo_site(port=0)
    site.start()
    yield site
    site.stop()


@pytest.fixture(scope="session")
def extractor() -> Iterator[object]:
    """One extractor pool (two worker processes) for the tests that poll many times: starting one per
    poll costs seconds."""
    from ingest.config import ExtractSettings
    from ingest.extract.pages import ExtractorPool

    with ExtractorPool(ExtractSettings(workers=2)) as pool:
        yield pool


@pytest.fixture(scope="module")
def demo_archive(tmp_path_factory: pytest.TempPathFactory, demo_site_running: Any) -> str:
    """A SQLite archive filled from the demo site by the pipeline itself, without Prefect or a run row
    (one per test module)."""
    from readpaths import poll_demo

    url = f"sqlite:///{tmp_path_factory.mktemp('demo-archive') / 'archive.db'}"
    poll_demo(url, demo_site_running)
    return url
