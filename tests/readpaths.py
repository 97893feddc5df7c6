"""The comparison behind test_sqlite_reads.py and test_pg_reads.py: the read commands' direct paths
(``sqlite3``, psycopg) against SQLAlchemy's, on the same archive."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any


def compare_paths(engine: Any, direct: Any) -> dict[str, Any]:
    """Every read of store/query.py and search, through SQLAlchemy's ``engine`` and the direct path:
    equal, types included; the direct path's results."""
    from ingest.store import query
    from ingest.store.search import Filters, search
    from ingest.store.stories import search_collapsed

    now = datetime(2030, 1, 1, tzinfo=UTC)
    results = []
    for archive in (engine, direct):
        with archive.connect() as s:
            ids = query.export_ids(archive, None, Filters())
            assert ids, "the demo archive has articles"
            out: dict[str, Any] = {
                "records": query.article_records(s, ids),
                "provenance": [query.provenance(s, i) for i in ids[:5]],
                "sources": query.sources_status(s, now=now),
                "stats": query.stats(s),
                "runs": query.recent_runs(s),
                "resolve": [query.resolve_article(s, str(ids[0])),
                            query.resolve_article(s, query.article_records(s, ids[:1])[0]["canonical_url"])],
                "failed": query.failed_entries(s, "http://127.0.0.1:1/nothing"),
                "cluster": [query.cluster_of(s, i) for i in ids[:5]],
            }
        out["search"] = search(archive, "Korea OR Nato", Filters())
        out["search_sql"] = search(archive, "Korea OR Nato", Filters(), use_index=False)
        out["search_filtered"] = search(archive, "the", Filters(since=datetime(2020, 1, 1, tzinfo=UTC),
                                                                 language="en"), limit=5)
        out["search_sources"] = search(archive, "the", Filters(sources=("demo-world", "nowhere")), limit=5)
        out["newest"] = search(archive, None, Filters(until=datetime(2026, 1, 1, tzinfo=UTC)), limit=7)
        out["collapsed"] = search_collapsed(archive, "the", Filters(), limit=5)
        out["export_query"] = query.export_ids(archive, "Korea", Filters())
        results.append(out)
    sqlalchemy_side, direct_side = results
    for key in sqlalchemy_side:
        assert direct_side[key] == sqlalchemy_side[key], key
    assert direct_side["search"] and direct_side["search_sources"], "the searches found something"
    record = direct_side["records"][0]
    assert isinstance(record["authors"], list)  # JSON decoded, not text
    assert direct_side["runs"] == [] or isinstance(direct_side["runs"][0]["started_at"], str)
    return direct_side


def poll_demo(url: str, site: Any) -> None:
    """The demo site polled into the archive at ``url`` by the pipeline itself, without Prefect or a
    run row."""
    import yaml

    from ingest.config import parse_config
    from ingest.demo.site import demo_config_yaml
    from ingest.pipeline.stages import PollContext, poll_source
    from ingest.store.db import open_archive

    config = parse_config(yaml.safe_load(demo_config_yaml(site.base_url, url)))
    engine = open_archive(url)
    with PollContext(config, engine, run_id=None) as ctx:
        for source in config.select(None):
            poll_source(ctx, source)
    engine.dispose()


def assert_no_sqlalchemy(argv: list[str], url: str) -> None:
    """``ingest <argv> --db url`` in a fresh process succeeds, prints, and never imports SQLAlchemy."""
    code = ("import sys\n"
            "sys.argv = ['ingest', *sys.argv[1:]]\n"
            "from ingest.cli import entry\n"
            "try:\n    entry()\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
            "import json\n"
            "print(json.dumps({'code': code, 'sqlalchemy': 'sqlalchemy' in sys.modules}), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code, *argv, "--db", url], capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), proc.stderr
    assert proc.stdout.strip(), "the command printed its result"
    assert report["sqlalchemy"] is False, f"ingest {' '.join(argv)} imported SQLAlchemy"
