"""Bad configuration, bad database URLs, schema mismatches and hostile search input through the console
entry point: one clear line on stderr and exit 2, never a traceback; search text never reaches SQL as
SQL (test_cli.py has the first cases of each kind; these are the rest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from clientry import run_entry
from faultsite import FaultSite, rss, serve
from sqlalchemy import func, select, text

from ingest.config import parse_config
from ingest.pipeline.stages import PollContext, poll_source
from ingest.store.db import _alembic_config, head_revision, open_archive, open_engine, upgrade
from ingest.store.models import Article

HOSTILE_QUERIES = ['"', "a OR", "NEAR(", "*", "x'); DROP TABLE articles; --", "AND AND", "-", "()", "^",
                   "title:x", "a NOT", "'", "\\", "%", "a & | !", ":*", "a <-> ", "articles_fts MATCH 'x'",
                   "1; DELETE FROM articles", "\x00", "😀" * 200]




def one_line_error(code: int, err: str) -> bool:
    return code == 2 and err.startswith("ingest: error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(("yaml_text", "message"), [
    # libyaml's wording (configs are parsed with it when PyYAML has it) or PyYAML's own
    ("fetch: [unclosed\n", ("line 2: invalid YAML: did not find expected ',' or ']'",
                            "line 2: invalid YAML: expected ',' or ']', but got '<stream end>'")),
    ("sourcez: []\n", "sourcez: unknown key"),
    ("- just\n- a list\n", "the top level must be a mapping"),
    ("fetch:\n  timeout_s: -1\n", "fetch.timeout_s: Input should be greater than 0"),
    ("sources: {name: x}\n", "sources: must be a list of sources"),
    ("schedule: '61 * * * *'\n", "schedule: bad minute field '61' in '61 * * * *'"),
])
def test_bad_config_files(yaml_text: str, message: str | tuple[str, ...], tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    code, _, err = run_entry(monkeypatch, capsys, "poll", "--config", str(path))
    messages = (message,) if isinstance(message, str) else message
    assert code == 2 and err in {f"ingest: error: {path}: {m}\n" for m in messages}, err


@pytest.mark.parametrize(("db", "message"), [
    ("sqlite:////proc/no-such-dir/a.db",
     "cannot open database sqlite:////proc/no-such-dir/a.db: cannot create its directory: No such file or directory"),
    ("notaurl", "not a database URL: 'notaurl' (e.g. sqlite:///data/archive.db)"),
    ("mysql://x@127.0.0.1:1/db", "cannot use database mysql://x@127.0.0.1:1/db: No module named 'MySQLdb'"),
])
def test_unusable_database_urls(db: str, message: str, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["stats"], ["db", "upgrade"], ["search", "x"]):
        code, _, err = run_entry(monkeypatch, capsys, *command, "--db", db)
        expected = message
        if db.startswith("sqlite:") and command != ["db", "upgrade"]:  # reads never create an archive
            expected = (f"no archive at {db.removeprefix('sqlite:///')} (`ingest poll` or `ingest demo` creates "
                        "one; `ingest db upgrade` an empty one)")
        assert (code, err) == (2, f"ingest: error: {expected}\n"), command


def test_unreachable_database_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("INGEST_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.chdir(Path("/"))  # no config/feeds.yaml here
    code, _, err = run_entry(monkeypatch, capsys, "sources")
    assert one_line_error(code, err)
    assert err.startswith("ingest: error: cannot open database postgresql+psycopg://nobody@127.0.0.1:1/none")


@pytest.mark.parametrize("value", ["yesterday", "2025-02-30", "2025-1-1x", "-1"])
def test_bad_dates(value: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    open_archive(sqlite_url).dispose()
    code, _, err = run_entry(monkeypatch, capsys, "search", "x", "--since", value, "--db", sqlite_url)
    assert one_line_error(code, err) and "is not a date" in err


def _stamp(url: str, revision: str) -> None:
    engine = open_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_a_database_from_a_newer_ingest_is_refused_not_migrated(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    open_archive(sqlite_url).dispose()
    _stamp(sqlite_url, "9999")
    expected = (f"ingest: error: database schema is at revision 9999, which this ingest does not know (it expects "
                f"{head_revision()}): the database was migrated by a newer ingest; upgrade ingest\n")
    for command in (["stats"], ["search", "x"], ["db", "upgrade"]):
        code, _, err = run_entry(monkeypatch, capsys, *command, "--db", sqlite_url)
        assert (code, err) == (2, expected), command
    code, out, _ = run_entry(monkeypatch, capsys, "db", "current", "--db", sqlite_url)
    assert (code, out) == (0, f"database: 9999; expected: {head_revision()}\n")


def test_a_database_at_an_older_revision_says_to_upgrade(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    head = head_revision()
    previous = ScriptDirectory.from_config(_alembic_config(None)).get_revision(head).down_revision  # type: ignore[arg-type]
    if previous is None:
        pytest.skip("only one migration so far: no older revision to be at")
    assert isinstance(previous, str)
    upgrade(open_engine(sqlite_url), previous)
    code, _, err = run_entry(monkeypatch, capsys, "stats", "--db", sqlite_url)
    assert (code, err) == (2, f"ingest: error: database schema is at revision {previous}, this ingest expects "
                              f"{head}: back up the database, then run `ingest db upgrade`\n")
    code, out, _ = run_entry(monkeypatch, capsys, "db", "upgrade", "--db", sqlite_url)
    assert (code, out) == (0, f"database at revision {head} (was {previous})\n")


@pytest.fixture
def small_archive(database_url: str) -> str:
    with FaultSite() as site:
        site.routes["/feed.xml"] = serve(rss([(f"g{i}", site.url(f"/article?n=s{i}")) for i in range(3)]))
        config = parse_config({"fetch": {"allow_private_networks": True, "respect_robots": False,
                                         "per_host_delay_s": 0}, "extract": {"workers": 1},
                               "sources": [{"name": "small", "feed": site.url("/feed.xml")}]})
        engine = open_archive(database_url)
        with PollContext(config, engine, run_id=None) as ctx:
            assert poll_source(ctx, config.sources[0]).counts["new"] == 3
        engine.dispose()
    return database_url


def test_hostile_search_input_is_data_not_sql(small_archive: str, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    outcomes: dict[tuple[str, bool], Any] = {}
    for query in HOSTILE_QUERIES:
        for raw in (False, True):
            code, _, err = run_entry(monkeypatch, capsys, "search", query, *(["--raw"] if raw else []),
                                     "--db", small_archive, "--json")
            assert code == 0 or one_line_error(code, err), (query, raw, err)
            outcomes[(query, raw)] = code
    # the archive is intact and still searchable
    engine = open_archive(small_archive)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Article)).scalar_one() == 3
    engine.dispose()
    code, out, _ = run_entry(monkeypatch, capsys, "search", "Article", "--db", small_archive, "--json")
    assert code == 0 and out.count("\n") == 3
    # the default syntax quotes every term: words with SQL or FTS punctuation around them are just words
    assert outcomes[("x'); DROP TABLE articles; --", False)] == 0
    assert outcomes[("1; DELETE FROM articles", False)] == 0
