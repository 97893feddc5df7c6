"""``ingest export --format parquet``: typed columns from the export record, read back with pyarrow,
DuckDB, pandas and polars and compared with the JSON lines export of the same archive (the demo site,
polled by the pipeline into a real SQLite file)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from ingest.cli import main
from ingest.exports.parquet import TIMESTAMP, infer_schema, parse_time, write_parquet

TIME_FIELDS = ("published_at", "fetched_at", "gone_since")


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def exported(demo_archive: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("parquet") / "articles.parquet"
    result = run("export", "--format", "parquet", "--out", str(out), "--db", demo_archive)
    assert result.exit_code == 0, result.output
    jsonl = [json.loads(line) for line in run("export", "--format", "jsonl", "--db", demo_archive).output.splitlines()]
    assert len(jsonl) > 10
    return out, jsonl


def comparable(jsonl: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    """A JSON lines record in Parquet's terms: its time strings (a date-only one too) as UTC datetimes,
    wherever the schema has a timestamp column (fields added to the record later included)."""
    out = dict(jsonl)
    for f in schema:
        if f.type == TIMESTAMP:
            out[f.name] = parse_time(out[f.name]) if out[f.name] is not None else None
    out["events"] = [{**e, "at": parse_time(e["at"])} for e in jsonl["events"]]
    return out


def tag_names(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "tags": sorted({t["tag"] for t in row["tags"]})}


def test_parquet_round_trips_to_the_jsonl_export(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    path, jsonl = exported
    table = pq.read_table(path)
    assert table.column_names == list(jsonl[0])  # the export record's fields, in its order
    schema = table.schema
    assert schema.field("id").type == pa.int64()
    for name in TIME_FIELDS:
        assert schema.field(name).type == TIMESTAMP
    assert schema.field("feed_urls").type == pa.list_(pa.string())
    tag = schema.field("tags").type.value_type
    assert [(f.name, f.type) for f in tag] == [("tag", pa.string()), ("origin", pa.string()),
                                               ("label", pa.string()), ("score", pa.float64())]
    assert schema.field("events").type.value_type.field("at").type == TIMESTAMP
    rows = table.to_pylist()
    assert [tag_names(r) for r in rows] == [comparable(r, schema) for r in jsonl]
    assert all(isinstance(r["published_at"], datetime) for r in rows if r["published_at"])
    # the structs carry what the names alone do not: where each tag came from
    origins = {t["origin"] for r in rows for t in r["tags"]}
    assert origins and origins <= {"feed", "page", "rule", "keyphrase"}
    assert json.loads(schema.metadata[b"ingest"])["fields"] == list(jsonl[0])


def test_duckdb_reads_it_as_is(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    import duckdb

    path, jsonl = exported
    con = duckdb.connect()
    types = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()}
    assert types["published_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["feed_urls"] == "VARCHAR[]"
    assert types["tags"].startswith("STRUCT(tag VARCHAR, origin VARCHAR") and types["tags"].endswith("[]")
    con.execute("SET TimeZone = 'UTC'")
    got = con.execute(f"""
        SELECT id, canonical_url, epoch_us(published_at), len(feed_urls),
               list_sort(list_distinct([t.tag FOR t IN tags])), text
        FROM read_parquet('{path}') ORDER BY id""").fetchall()
    want = [(r["id"], r["canonical_url"], r["published_at"] and round(parse_time(r["published_at"]).timestamp() * 1e6),
             len(r["feed_urls"]), r["tags"], r["text"]) for r in jsonl]
    assert [tuple(g) for g in got] == want
    by_source = dict(con.execute(f"SELECT source, count(*) FROM read_parquet('{path}') GROUP BY source").fetchall())
    assert sum(by_source.values()) == len(jsonl)


def test_pandas_and_polars_read_it_as_is(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    import pandas as pd
    import polars as pl

    path, jsonl = exported
    frame = pd.read_parquet(path)
    assert str(frame["published_at"].dtype) == "datetime64[us, UTC]"
    assert list(frame["id"]) == [r["id"] for r in jsonl]
    df = pl.read_parquet(path)
    assert df.schema["published_at"] == pl.Datetime("us", "UTC")
    assert df["canonical_url"].to_list() == [r["canonical_url"] for r in jsonl]
    assert df.schema["tags"] == pl.List(pl.Struct({"tag": pl.String, "origin": pl.String, "label": pl.String,
                                                   "score": pl.Float64}))


def test_row_groups_and_the_python_api(demo_archive: str, tmp_path: Path) -> None:
    import ingest
    from ingest.exports.parquet import export_parquet
    from ingest.store.query import export_ids
    from ingest.store.search import Filters

    with ingest.Archive(demo_archive) as archive:
        ids = export_ids(archive.engine, None, Filters())
        result = export_parquet(archive.engine, ids, tmp_path / "small-groups.parquet", row_group_rows=10)
        assert result.rows == len(ids) and result.row_groups == -(-len(ids) // 10)
        assert pq.ParquetFile(tmp_path / "small-groups.parquet").metadata.num_row_groups == result.row_groups
        n = archive.export(tmp_path / "europe.parquet", format="parquet", source="demo-europe")
        europe = pq.read_table(tmp_path / "europe.parquet")
        assert n == europe.num_rows == sum(1 for _ in archive.articles(source="demo-europe")) > 0
        n_jsonl = archive.export(tmp_path / "europe.jsonl", source="demo-europe")
        assert n_jsonl == n
        assert europe.column("id").to_pylist() == [json.loads(x)["id"] for x in
                                                   (tmp_path / "europe.jsonl").read_text().splitlines()]
        # one record per version, the same columns
        versions = archive.export(tmp_path / "versions.parquet", format="parquet", all_versions=True)
        assert versions >= len(ids)
        assert pq.read_schema(tmp_path / "versions.parquet").names == europe.column_names
        # nothing matches: a file of the schema and no rows
        assert archive.export(tmp_path / "none.parquet", format="parquet", since="2100-01-01") == 0
        empty = pq.read_table(tmp_path / "none.parquet")
        assert empty.num_rows == 0 and empty.schema.field("published_at").type == TIMESTAMP


def test_a_field_added_to_the_record_flows_in(tmp_path: Path) -> None:
    """The schema is the record's: new fields are typed from their values, with no edit to the writer."""
    records = [{"id": i, "published_at": "2024-01-30" if i % 2 else "2024-01-30T10:15:00+02:00",
                "published_source": "jsonld", "published_precision": "date" if i % 2 else "datetime",
                "modified_at": None, "comments": None if i < 3 else f"comment {i}",
                "organisations": ["Reuters"] if i == 1 else [], "score": i / 2, "meta": {"words": i, "paywall": False}}
               for i in range(6)]
    fields = list(records[0])
    schema = infer_schema(records, fields)
    assert schema.field("published_source").type == pa.string()
    assert schema.field("modified_at").type == TIMESTAMP  # all null, but its name says what it is
    assert schema.field("organisations").type == pa.list_(pa.string())
    assert schema.field("meta").type == pa.struct([("words", pa.int64()), ("paywall", pa.bool_())])
    result = write_parquet(iter(records), tmp_path / "new.parquet", fields, row_group_rows=2)
    assert result.row_groups == 3 and not result.unconverted
    rows = pq.read_table(tmp_path / "new.parquet").to_pylist()
    assert rows[0]["published_at"] == datetime(2024, 1, 30, 8, 15, tzinfo=UTC)
    assert rows[1]["published_at"] == datetime(2024, 1, 30, tzinfo=UTC)  # a date: midnight, precision says so
    assert [r["comments"] for r in rows] == [None, None, None, "comment 3", "comment 4", "comment 5"]
    assert rows[1]["organisations"] == ["Reuters"] and rows[5]["meta"] == {"words": 5, "paywall": False}


def test_values_that_do_not_fit_are_kept_or_counted_never_silently_lost(tmp_path: Path) -> None:
    first = [{"id": 1, "note": None, "n": 3, "seen_at": "2024-05-01T00:00:00Z"}]
    later = [{"id": 2, "note": {"a": 1}, "n": "many", "seen_at": "not a date"},
             {"id": 3, "note": "plain", "n": 4.0, "seen_at": None},
             {"id": 4, "note": None, "n": 2.5, "seen_at": "2024-05-02"}]  # never truncated to 2
    result = write_parquet(iter(first + later), tmp_path / "odd.parquet", ["id", "note", "n", "seen_at"],
                           row_group_rows=1)
    rows = pq.read_table(tmp_path / "odd.parquet").to_pylist()
    assert [r["note"] for r in rows] == [None, '{"a": 1}', "plain", None]  # text columns take anything, as JSON
    assert [r["n"] for r in rows] == [3, None, 4, None]
    assert [r["seen_at"] for r in rows] == [datetime(2024, 5, 1, tzinfo=UTC), None, None, datetime(2024, 5, 2, tzinfo=UTC)]
    assert result.unconverted == {"n": 2, "seen_at": 1}
    assert len(result.problems()) == 2 and "seen_at" in result.problems()[1]


def test_an_interrupted_export_leaves_no_file(tmp_path: Path) -> None:
    def records() -> Any:
        for i in range(25):
            yield {"id": i, "text": "x" * 100}
        raise KeyboardInterrupt

    target = tmp_path / "cut.parquet"
    with pytest.raises(KeyboardInterrupt):
        write_parquet(records(), target, ["id", "text"], row_group_rows=10)
    assert list(tmp_path.iterdir()) == []


def test_parquet_needs_an_out_file(demo_archive: str) -> None:
    result = CliRunner().invoke(main, ["export", "--format", "parquet", "--db", demo_archive])
    assert result.exit_code != 0 and "--out" in str(result.exception or result.output)


@pytest.mark.postgres
def test_postgresql_archive_exports_the_same_parquet(postgres_url: str, demo_site_running: Any, tmp_path: Path,
                                                     demo_archive: str) -> None:
    """The same demo polled into PostgreSQL: its Parquet file matches its JSON lines, and holds the same
    articles, texts and tags as the SQLite archive's."""
    import yaml

    import ingest
    from ingest.config import parse_config
    from ingest.demo.site import demo_config_yaml
    from ingest.pipeline.stages import PollContext, poll_source
    from ingest.store.db import open_archive

    config = parse_config(yaml.safe_load(demo_config_yaml(demo_site_running.base_url, postgres_url)))
    engine = open_archive(postgres_url)
    with PollContext(config, engine, run_id=None) as ctx:
        for source in config.select(None):
            poll_source(ctx, source)
    engine.dispose()
    with ingest.Archive(postgres_url) as pg, ingest.Archive(demo_archive) as lite:
        pg.export(tmp_path / "pg.parquet", format="parquet")
        pg.export(tmp_path / "pg.jsonl")
        lite.export(tmp_path / "lite.parquet", format="parquet")
    table = pq.read_table(tmp_path / "pg.parquet")
    jsonl = [json.loads(line) for line in (tmp_path / "pg.jsonl").read_text().splitlines()]
    assert [tag_names(r) for r in table.to_pylist()] == [comparable(r, table.schema) for r in jsonl]
    lite_table = pq.read_table(tmp_path / "lite.parquet")
    assert table.schema.remove_metadata() == lite_table.schema.remove_metadata()

    def content(t: pa.Table) -> dict[str, Any]:
        return {r["canonical_url"]: (r["text"], r["published_at"], [(x["tag"], x["origin"]) for x in r["tags"]])
                for r in t.to_pylist()}

    assert content(table) == content(lite_table)


def test_the_parallel_export_makes_the_same_table(demo_archive: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """From MIN_PARALLEL articles on, worker processes make the row groups after the first: the file
    reads back as the one-process file does, schema and values."""
    from ingest.exports import parquet
    from ingest.store.db import open_engine
    from ingest.store.query import export_ids
    from ingest.store.search import Filters

    engine = open_engine(demo_archive)
    ids = export_ids(engine, None, Filters())
    serial = parquet.export_parquet(engine, ids, tmp_path / "serial.parquet")
    monkeypatch.setattr(parquet, "MIN_PARALLEL", 1)
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 5)  # the first row group, here
    monkeypatch.setattr(parquet, "PARQUET_ROWS", 7)  # then the workers' tables
    made = parquet.export_parquet(engine, ids, tmp_path / "parallel.parquet")
    engine.dispose()
    assert (made.rows, serial.rows) == (len(ids), len(ids)) and len(ids) > 20
    assert made.row_groups == 1 + -(-(len(ids) - 5) // 7) and serial.row_groups == 1
    one, two = pq.read_table(tmp_path / "serial.parquet"), pq.read_table(tmp_path / "parallel.parquet")
    assert two.schema.equals(one.schema, check_metadata=True)
    assert two.to_pylist() == one.to_pylist()
