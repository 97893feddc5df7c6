"""The comparison behind test_sqlite_reads.py and test_pg_reads.py: the read commands' direct paths
(``sqlite3``, psycopg) against SQLAlchemy's, on the same archive."""

from __future__ import annotations

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
