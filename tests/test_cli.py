"""The ``ingest`` command: exact JSON output, exit codes, one-line errors. The archive is filled from
the demo site by the pipeline itself (without Prefect, to keep this module fast); ``ingest poll`` is
exercised once through Prefect's harness."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from clientry import run_entry

from ingest.cli import main
from ingest.config import parse_config
from ingest.demo.site import demo_config_yaml, demo_manifest
from ingest.errors import DatabaseError
from ingest.store.db import open_archive
from ingest.store.query import EXPORT_FIELDS

SEED_PATH = "/news/ukraine-s-stance-on-north-korean-prisoners.html"
SEED_TITLE = "Ukraine’s Stance on North Korean Prisoners of War and Military Cooperation with South Korea"


@pytest.fixture(scope="module")
def archive(demo_archive: str) -> str:
    return demo_archive


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)




def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_search_json_lists_the_seed_first(archive: str, demo_site_running: Any) -> None:
    result = run("search", "North Korean soldiers", "--db", archive, "--json")
    assert result.exit_code == 0
    hits = lines(result.output)
    first = hits[0]
    assert {k: v for k, v in first.items() if k not in ("id", "score", "snippet")} == {
        "published_at": "2025-02-20T08:15:00Z", "source": "demo-world", "language": "en", "title": SEED_TITLE,
        "url": demo_site_running.url(SEED_PATH)}
    assert list(first) == ["id", "published_at", "source", "language", "title", "url", "score", "snippet"]
    assert "[North] [Korean] [soldiers]" in first["snippet"] or "[soldiers]" in first["snippet"]


def test_search_filters_and_table(archive: str, demo_site_running: Any) -> None:
    # demo-europe listed the story too, as a partner's syndicated copy: a source filter follows sightings
    [hit] = lines(run("search", "North Korean soldiers", "--db", archive, "--json", "--source", "demo-europe").output)
    assert hit["title"] == SEED_TITLE and hit["source"] == "demo-world"
    assert lines(run("search", "North Korean soldiers", "--db", archive, "--json", "--tag", "economy").output) == []
    assert lines(run("search", "North Korean soldiers", "--db", archive, "--json", "--until", "2025-01-01").output) == []
    assert len(lines(run("search", "--db", archive, "--json", "--language", "ja").output)) == 3
    table = run("search", "North Korean soldiers", "--db", archive).output.splitlines()
    assert table[0].split() == ["id", "published", "source", "lang", "title", "url"]
    assert table[2].split()[1:4] == ["2025-02-20", "demo-world", "en"]
    assert SEED_TITLE in table[2] and demo_site_running.url(SEED_PATH) in table[2]  # piped: nothing cut
    assert run("search", "zzzzqqq", "--db", archive).output == "no matching articles\n"


def test_show_json_has_the_whole_provenance_chain(archive: str, demo_site_running: Any) -> None:
    # by any URL variant: tracking parameters are the same article
    result = run("show", demo_site_running.url(SEED_PATH) + "?utm_source=x&fbclid=1", "--db", archive, "--json")
    assert result.exit_code == 0
    [data] = lines(result.output)
    assert data["title"] == SEED_TITLE and data["canonical_url"] == demo_site_running.url(SEED_PATH)
    assert data["text"].splitlines()[-1] == "Original Source: newsukraine.rbc.ua"
    # listed twice: by demo-world at its own URL, by demo-europe as a partner's copy (a duplicate)
    sighting, copy_sighting = data["sightings"]
    assert sighting["source"] == "demo-world" and sighting["feed_url"].endswith("/feeds/world.rss")
    assert sighting["status"] == "archived"
    copy = next(a for a in demo_manifest() if a.expected == "duplicate")
    assert (copy_sighting["source"], copy_sighting["status"], copy_sighting["link"]) == (
        "demo-europe", "duplicate", demo_site_running.url(copy.path))
    assert sighting["feed_fetch"]["kind"] == "feed" and sighting["feed_fetch"]["status"] == 200
    assert sighting["page_fetch"]["kind"] == "page" and sighting["page_fetch"]["raw_bytes_kept"] is True
    [extraction] = data["extractions"]
    assert (extraction["extractor"], extraction["extractor_version"], extraction["current"]) == ("trafilatura", "2.3.1", True)
    assert extraction["options"] == {"include_comments": False, "include_tables": True, "favor_precision": False,
                                     "favor_recall": False}
    aliases = {a["url"]: a["kind"] for a in data["aliases"]}
    assert aliases[demo_site_running.url(copy.path)] == "duplicate"


def test_show_text_for_people(archive: str, demo_site_running: Any) -> None:
    out = run("show", demo_site_running.url(SEED_PATH), "--db", archive).output
    assert out.startswith("Article ")
    for needle in ("Provenance", "sighting 1: source demo-world listed it in", "feed       fetch #",
                   "page       fetch #", "extraction #", "trafilatura 2.3.1", "Original Source: newsukraine.rbc.ua"):
        assert needle in out


def test_show_a_failed_url(archive: str, demo_site_running: Any) -> None:
    missing = next(a for a in demo_manifest() if a.expected == "http_4xx")
    [data] = lines(run("show", demo_site_running.url(missing.path), "--db", archive, "--json").output)
    assert data["article"] is None
    [e] = data["entries"]
    assert (e["status"], e["error_kind"], e["page_fetch"]["status"]) == ("failed", "http_4xx", 404)


def test_export_jsonl_and_csv(archive: str, tmp_path: Path, demo_site_running: Any) -> None:
    records = lines(run("export", "--format", "jsonl", "--db", archive).output)
    expected = sum(a.expected == "archived" for a in demo_manifest())
    assert len(records) == expected
    assert all(list(r) == list(EXPORT_FIELDS) for r in records)
    seed = next(r for r in records if r["title"] == SEED_TITLE)
    # the byline names a newsroom, no person: it is kept as the organisation, not taken for an author
    assert {k: seed[k] for k in ("url", "source", "authors", "organisations", "published_at", "language",
                                 "extractor")} == {
        "url": demo_site_running.url(SEED_PATH), "source": "demo-world",
        "authors": ["RBC-Ukraine newsroom"], "organisations": ["RBC-Ukraine newsroom"], "published_at": "2025-02-20T08:15:00Z", "language": "en",
        "extractor": "trafilatura"}
    assert seed["feed_urls"] == [demo_site_running.url("/feeds/europe.atom"), demo_site_running.url("/feeds/world.rss")]
    assert "war-in-ukraine" in seed["tags"]
    out = tmp_path / "a.csv"
    result = run("export", "--format", "csv", "--out", str(out), "--db", archive, "--query", "North Korean soldiers")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[0]["title"] == SEED_TITLE and json.loads(rows[0]["organisations"]) == ["RBC-Ukraine newsroom"]
    assert list(rows[0]) == list(EXPORT_FIELDS)


def test_sources_and_stats_json(archive: str) -> None:
    rows = lines(run("sources", "--db", archive, "--json").output)
    assert [(r["source"], r["state"], r["last_status"], r["error_kind"], r["error_count"]) for r in rows] == [
        ("demo-europe", "healthy", "ok", None, 0), ("demo-world", "healthy", "ok", None, 0)]
    assert sum(r["failed_items"] for r in rows) == 2
    [stats] = lines(run("stats", "--db", archive, "--json").output)
    assert stats["failures_by_kind"] == {"bot_wall": 1, "http_4xx": 1}
    assert stats["entries_by_status"]["duplicate"] == 1


@pytest.mark.parametrize(("args", "message"), [
    (["search", "x", "--since", "2025-13-01"], "is not a date"),
    (["search", '"unterminated', "--raw"], "bad search query"),
    (["search", "x", "--since", "2025-02-01", "--until", "2025-01-01"], "--since must be before --until"),
    (["show", "999999"], "no article or feed entry matches '999999'"),
    (["poll", "--config", "/nonexistent/feeds.yaml"], "/nonexistent/feeds.yaml: file not found"),
])
def test_usage_errors_exit_2_with_one_line(archive: str, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = run_entry(monkeypatch, capsys, *args, *(["--db", archive] if args[0] != "poll" else []))
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_config_error_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "feeds.yaml"
    bad.write_text("fetch:\n  timeout: 3\n", encoding="utf-8")
    code, _, err = run_entry(monkeypatch, capsys, "poll", "--config", str(bad))
    assert (code, err) == (2, f"ingest: error: {bad}: fetch.timeout: unknown key\n")


def test_database_problems_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_entry(monkeypatch, capsys, "stats", "--db", "postgresql://nobody@127.0.0.1:1/none")
    assert code == 2 and err.startswith("ingest: error: cannot open database postgresql+psycopg://nobody@127.0.0.1:1/none")
    # a path to no file is an error, and creates nothing (a typo must not become a new empty archive)
    code, _, err = run_entry(monkeypatch, capsys, "stats", "--db", f"sqlite:///{tmp_path / 'missing.db'}")
    assert code == 2 and "no archive at" in err and not (tmp_path / "missing.db").exists()
    (tmp_path / "empty.db").touch()
    code, _, err = run_entry(monkeypatch, capsys, "stats", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert code == 2 and "is empty: run `ingest db upgrade`" in err


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    from ingest.store.db import head_revision

    url, head = f"sqlite:///{tmp_path / 'new.db'}", head_revision()
    assert run("db", "upgrade", "--db", url).output.startswith(f"database at revision {head} (was None)")
    assert run("db", "upgrade", "--db", url).output == f"database at revision {head} (already current)\n"
    assert run("db", "current", "--db", url).output == f"database: {head}; expected: {head}\n"


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name, command in main.load_all().items():
        assert f"ingest {name}" in readme, name
        for sub in getattr(command, "commands", {}):
            assert f"ingest {name} {sub}" in readme or f"ingest db {sub}" in readme, sub


@pytest.mark.prefect
def test_poll_command_runs_the_flow(prefect_harness: None, demo_site_running: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'poll.db'}"
    config = tmp_path / "feeds.yaml"
    config.write_text(demo_config_yaml(demo_site_running.base_url, url) +
                      "  - name: Bad Entry\n    feed: nope\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["poll", "--config", str(config), "--source", "demo-world", "--json"])
    # the broken source entry is reported and the rest polled; exit 2 says the config needs fixing
    assert result.exit_code == 2, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert [s["source"] for s in summary["sources"]] == ["demo-world"]
    assert summary["totals"]["new"] == sum(a.expected == "archived" and "rss" in a.feeds for a in demo_manifest())
    assert summary["config_errors"] and "sources[2].name" in summary["config_errors"][0]


def test_search_words_need_no_quotes(archive: str) -> None:
    quoted = lines(run("search", "North Korean OR nonexistentword", "--db", archive, "--json").output)
    unquoted = lines(run("search", "North", "Korean", "OR", "nonexistentword", "--db", archive, "--json").output)
    assert quoted and unquoted == quoted
    # one argument with spaces stays a phrase
    phrase = lines(run("search", "Korean North", "nonexistentword", "OR", "soldiers", "--db", archive, "--json").output)
    assert lines(run("search", '"Korean North" nonexistentword OR soldiers', "--db", archive, "--json").output) == phrase


@pytest.mark.parametrize("command", [["search", "Ukraine"], ["sources"], ["stats"]])
def test_listing_commands_print_csv_too(archive: str, command: list[str]) -> None:
    result = run(*command, "--db", archive, "--csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows
    if command[0] == "stats":
        assert {r["key"] for r in rows} >= {"articles", "sources", "entries"}
        return
    as_json = lines(run(*command, "--db", archive, "--json").output)
    assert list(rows[0]) == list(as_json[0]) and len(rows) == len(as_json)
    assert run(*command, "--db", archive, "--csv", "--json").exit_code == 2


def test_first_poll_counts_known_not_unchanged(tmp_path: Path, demo_site_running: Any) -> None:
    from ingest.pipeline.poll import poll

    url = f"sqlite:///{tmp_path / 'first.db'}"
    config = parse_config(yaml.safe_load(demo_config_yaml(demo_site_running.base_url, url)))
    result = poll(config, open_archive(url))
    assert result.totals["unchanged"] == 0
    assert result.totals["known"] == 1  # the one article both demo feeds list
    stats = lines(run("stats", "--db", url, "--json").output)[0]
    per_source = {r["source"]: r["articles"] for r in lines(run("sources", "--db", url, "--json").output)}
    # `sources` counts the articles each source's entries lead to (new, duplicates of others', known),
    # `stats` the archive's: they agree
    assert stats["articles"] == result.totals["new"]
    assert {s.source: s.new + s.duplicate + s.known for s in result.sources} == per_source
    runs = list(csv.DictReader(io.StringIO(run("runs", "--db", url, "--csv").output)))
    assert [(r["kind"], r["status"]) for r in runs] == [("poll", "completed")]


def test_a_poll_in_which_every_source_failed_says_why_and_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from sites import unreachable_config

    config = unreachable_config(tmp_path / "feeds.yaml", 3, name="s")
    code, out, err = run_entry(monkeypatch, capsys, "poll", "--config", str(config), "--no-prefect")
    assert code == 1
    assert err.strip().splitlines()[-1] == ("ingest: error: all 3 sources failed with refused: is the network "
                                            "reachable (or a proxy needed)?")
    assert "s0" in out and "TOTAL" in out


def test_the_lazy_command_map_names_every_command_and_its_module() -> None:
    # a command missing from the map would vanish from `ingest --help` until another command loaded it
    registered = main.load_all()
    assert sorted(registered) == sorted(main.lazy)
    for name, command in registered.items():
        assert command.callback is not None and command.callback.__module__ in main.lazy[name], name
        for sub in getattr(command, "commands", {}).values():
            assert sub.callback is not None and sub.callback.__module__ in main.lazy[name], (name, sub.name)


def test_a_sqlite_files_path_is_its_archive(archive: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--db data/archive.db``, as sqlite-utils and Datasette take it: the same archive as its URL, on
    the read path and the API; a path that names no file is not created by a read."""
    import ingest

    path = archive.removeprefix("sqlite:///")
    by_url = run("stats", "--json", "--db", archive)
    assert run("stats", "--json", "--db", path).output == by_url.output and by_url.exit_code == 0
    monkeypatch.setenv("INGEST_DATABASE_URL", path)
    assert run("stats", "--json").output == by_url.output
    monkeypatch.delenv("INGEST_DATABASE_URL")
    with ingest.Archive(path) as a:
        assert a.stats()["articles"] == json.loads(by_url.output)["articles"]
    missing = tmp_path / "missing.db"
    with pytest.raises(DatabaseError, match="no archive at"):
        run("stats", "--db", str(missing))
    assert not missing.exists()
