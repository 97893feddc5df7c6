from __future__ import annotations

from pathlib import Path

import pytest

from ingest.config import DEFAULT_DATABASE_URL, load_config, resolve_database_url
from ingest.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "feeds.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_shipped_config_is_valid_and_has_rbc() -> None:
    cfg = load_config(REPO / "config" / "feeds.yaml")
    assert cfg.invalid_sources == ()
    names = [s.name for s in cfg.sources]
    assert "rbc-ukraine" in names
    rbc = next(s for s in cfg.sources if s.name == "rbc-ukraine")
    assert rbc.feed == "https://www.rbc.ua/static/rss/all.ukr.rss.xml"
    assert rbc.language == "uk"
    assert cfg.fetch.allow_private_networks is False


def test_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "sources:\n  - name: a\n    feed: https://example.org/rss\n"))
    assert cfg.fetch.timeout_s == 20 and cfg.fetch.max_bytes == 10_000_000
    assert cfg.fetch.per_host_concurrency == 2 and cfg.fetch.per_host_delay_s == 1.0
    assert cfg.fetch.respect_robots is True and cfg.fetch.max_redirects == 5
    assert cfg.fetch.user_agent.startswith("ingest/")
    assert cfg.database is None


@pytest.mark.parametrize(("text", "expected"), [
    ("fetch:\n  timeout: 3\n", "feeds.yaml: fetch.timeout: unknown key"),
    ("databse: x\n", "feeds.yaml: databse: unknown key"),
    ("fetch:\n  timeout_s: -1\n", "feeds.yaml: fetch.timeout_s: Input should be greater than 0"),
    ("sources: {a: 1}\n", "feeds.yaml: sources: must be a list of sources"),
    ("- 1\n- 2\n", "feeds.yaml: the top level must be a mapping"),
    ("sources:\n  - name: a\n    feed: https://x.org/\n  - name: a\n    feed: https://y.org/\n",
     "feeds.yaml: sources[1].name: duplicate source name 'a'"),
])
def test_errors_name_file_key_problem(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert str(err.value).endswith(expected)
    assert "\n" not in str(err.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "sources:\n  - name: a\n   feed: [\n"))
    assert "feeds.yaml: line 3: invalid YAML" in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_config(tmp_path / "nope.yaml")


def test_bad_source_entry_is_set_aside_not_fatal(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
sources:
  - name: good
    feed: https://example.org/rss
  - name: Bad Name
    feed: https://example.org/2
  - name: nofeed
  - name: typo
    feed: https://example.org/3
    langauge: en
  - name: scheme
    feed: ftp://example.org/rss
"""))
    assert [s.name for s in cfg.sources] == ["good"]
    problems = [str(p).split("feeds.yaml: ", 1)[1] for p in cfg.invalid_sources]
    assert problems == [
        "sources[1].name: must be lowercase letters, digits, '.', '_' or '-' (at most 64) (source 'Bad Name')",
        "sources[2].feed: Field required (source 'nofeed')",
        "sources[3].langauge: unknown key (source 'typo')",
        "sources[4].feed: must be an http(s) URL, got 'ftp://example.org/rss' (source 'scheme')",
    ]


def test_select(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
sources:
  - {name: a, feed: "https://a.org/rss"}
  - {name: b, feed: "https://b.org/rss", enabled: false}
"""))
    assert [s.name for s in cfg.select(None)] == ["a"]
    assert [s.name for s in cfg.select(["b"])] == ["b"]
    with pytest.raises(ConfigError, match=r"unknown source 'zz' \(known: a, b\)"):
        cfg.select(["zz"])


def test_database_resolution_order(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "database: sqlite:///from-config.db\n"))
    env = {"INGEST_DATABASE_URL": "sqlite:///from-env.db"}
    assert resolve_database_url("sqlite:///cli.db", cfg, env) == "sqlite:///cli.db"
    assert resolve_database_url(None, cfg, env) == "sqlite:///from-env.db"
    assert resolve_database_url(None, cfg, {}) == "sqlite:///from-config.db"
    assert resolve_database_url(None, None, {}) == DEFAULT_DATABASE_URL == "sqlite:///data/archive.db"
