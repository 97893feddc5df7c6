"""The Python API (``ingest.Archive``, ``ingest.poll``): every example of the README's "Python API"
section runs here as written, against a demo archive made the way ``make run`` makes it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import ingest
from ingest.demo.site import demo_config_yaml
from ingest.errors import DatabaseError, UsageError

README = Path(__file__).resolve().parents[1] / "README.md"
SEED_TITLE = "Ukraine’s Stance on North Korean Prisoners of War and Military Cooperation with South Korea"


def readme_examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, demo_site_running: Any) -> Path:
    """``data/demo.db`` and ``data/demo.yaml`` in a fresh directory, polled from the demo site."""
    root = tmp_path_factory.mktemp("api")
    (root / "data").mkdir()
    database = f"sqlite:///{root / 'data/demo.db'}"
    config = yaml.safe_load(demo_config_yaml(demo_site_running.base_url, "sqlite:///data/demo.db"))
    config["extract"] = {**config.get("extract", {}), "workers": 1}
    (root / "data/demo.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = ingest.poll(root / "data/demo.yaml", database=database)
    assert result.totals["new"] > 20 and not result.all_failed
    return root


def test_the_readme_has_examples() -> None:
    examples = readme_examples()
    assert len(examples) == 2 and "ingest.Archive(" in examples[0] and "ingest.poll(" in examples[1]


def test_every_readme_example_runs(demo_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(demo_dir)
    namespace: dict[str, Any] = {}
    for example in readme_examples():
        exec(compile(example, str(README), "exec"), namespace)  # noqa: S102  (our own README)
    assert namespace["hit"].title == SEED_TITLE
    assert namespace["n"] > 0
    result = namespace["result"]
    assert result.totals["new"] == 0  # the second poll of the same site: nothing new (idempotent)
    assert SEED_TITLE in capsys.readouterr().out


def test_archive_queries(demo_dir: Path) -> None:
    with ingest.Archive(demo_dir / "data/demo.db") as archive:
        [hit] = archive.search("North Korean soldiers", limit=1)
        article = archive.article(hit.id)
        assert (article.id, article.title, article.canonical_url) == (hit.id, hit.title, hit.url)
        assert archive.article(article.canonical_url).id == article.id
        assert archive.article(article.canonical_url + "?utm_source=x").id == article.id  # a URL variant
        assert article.sightings and all(s.feed_url for s in article.sightings)
        kinds = {f.kind for f in article.fetches}
        assert {"feed", "page"} <= kinds and all(f.sha256 for f in article.fetches if f.status == 200)
        assert [v.version for v in article.versions] == [1]
        assert article.as_dict()["id"] == article.id
        streamed = list(archive.articles())
        assert [a.id for a in streamed] == sorted(a.id for a in streamed)
        assert len(streamed) == archive.stats()["articles"]
        europe = list(archive.articles(source="demo-europe"))
        # a source's articles are those its feed listed (a syndicated copy may be another source's first)
        assert europe and all("demo-europe" in {s.source for s in a.sightings} for a in europe)
        assert all(a.language == "en" for a in archive.search(language="en", limit=50))
        with pytest.raises(KeyError):
            archive.article(10**9)
        with pytest.raises(UsageError, match="not a date"):
            archive.search(since="last tuesday")


def test_collapse_gives_one_hit_per_story(demo_dir: Path) -> None:
    with ingest.Archive(demo_dir / "data/demo.db") as archive:
        every = archive.search("Ukraine", limit=100)
        collapsed = archive.search("Ukraine", collapse=True, limit=100)
        assert every and all(h.story_id is not None for h in every)  # every article is in a story
        assert len({h.story_id for h in collapsed}) == len(collapsed) <= len(every)
        assert {h.story_id for h in collapsed} == {h.story_id for h in every}
        for h in every:  # alone in its story here: the demo has no near-duplicates
            assert archive.article(h.id).story == []


def test_a_missing_sqlite_file_is_an_error_not_a_new_archive(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no archive at"):
        ingest.Archive(tmp_path / "nothing.db")
    assert not (tmp_path / "nothing.db").exists()


def test_poll_result_is_typed_and_reads_as_its_json_summary(demo_dir: Path) -> None:
    result = ingest.poll(demo_dir / "data/demo.yaml", database=demo_dir / "data/demo.db")
    assert isinstance(result, ingest.PollResult)
    assert {s.source for s in result.sources} == {"demo-europe", "demo-world"}
    assert result["totals"] == result.totals and dict(result) == result.as_dict()
    assert result.source("demo-world").feed_status in ("ok", "not_modified", "unchanged")


def test_the_stories_return_typed_results(demo_dir: Path) -> None:
    from ingest.config import load_config
    from ingest.pipeline.backfill import backfill
    from ingest.pipeline.reprocess import reprocess
    from ingest.pipeline.results import ReprocessResult
    from ingest.store.db import open_archive

    config = load_config(demo_dir / "data/demo.yaml")
    engine = open_archive(f"sqlite:///{demo_dir / 'data/demo.db'}")
    try:
        result = reprocess(engine, config, sources=["demo-world"])
        assert isinstance(result, ReprocessResult) and result.articles > 0
        assert result.unchanged == result.articles and result.revised == result.failed == 0  # same bytes, same text
        assert result["articles"] == result.articles and dict(result) == result.as_dict()
        again = backfill(config, engine, "demo-world", since="2000-01-01", via="archive")
        assert isinstance(again, ReprocessResult) and again.articles == result.articles and again.run_id
    finally:
        engine.dispose()


def test_poll_fans_out_on_an_injected_executor(demo_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from ingest.config import load_config
    from ingest.pipeline.poll import poll
    from ingest.store.db import open_archive

    config = load_config(demo_dir / "data/demo.yaml")
    engine = open_archive(f"sqlite:///{demo_dir / 'data/demo.db'}")
    names: set[str] = set()

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def,override]
            if len(args) > 1:  # poll_sources(ctx, [(source, fetches_feed), ...]): one batch of sources
                names.update(src.name for src, _ in args[1])
            return super().submit(fn, *args, **kwargs)

    with Recording(max_workers=2) as executor:
        result = poll(config, engine, executor=executor)
        assert executor.submit(lambda: 1).result() == 1  # still the caller's, still open
    engine.dispose()
    assert names == {"demo-europe", "demo-world"} and {s.source for s in result.sources} == names
