"""YAKE key phrases: a pure function on text, in any of YAKE's languages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.analyse.keyphrases import extract_keyphrases, yake_language
from ingest.config import parse_config
from ingest.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_seed_article_key_phrases(corpus_dir: Path) -> None:
    got = extract_keyphrases((corpus_dir / "seed-article.txt").read_text(encoding="utf-8"), "en", top=5)
    assert len(got) == 5
    assert got[0].phrase == "north korean prisoners" and got[0].tag == "keyword:north korean prisoners"
    assert [k.score for k in got] == sorted(k.score for k in got)  # most relevant (lowest score) first
    assert "north korean" not in [k.phrase for k in got]  # inside a kept phrase: adds nothing


def test_ukrainian_and_russian_use_their_own_stop_words() -> None:
    articles = [json.loads(line) for line in
                (ROOT / "tests" / "data" / "eval" / "tag_articles.jsonl").read_text(encoding="utf-8").splitlines()]
    for a in articles[:4]:
        phrases = [k.phrase for k in extract_keyphrases(a["text"], a["language"], top=3)]
        assert len(phrases) == 3
        assert all(p == p.lower() and p.strip() == p for p in phrases)
    assert yake_language("uk") == "uk" and yake_language("ru-RU") == "ru"


def test_short_empty_and_unknown_language() -> None:
    assert extract_keyphrases("", "en") == []
    assert extract_keyphrases("Too short to say anything.", "en") == []
    assert yake_language("xx") == "noLang" and yake_language(None) == "noLang" and yake_language("cs") == "cz"
    text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 8
    assert 1 <= len(extract_keyphrases(text, "xx", top=3, max_words=2)) <= 3


def test_config_keys() -> None:
    cfg = parse_config({"keyphrases": {"enabled": True, "top": 8, "max_words": 2}})
    assert cfg.keyphrases.enabled and cfg.keyphrases.top == 8
    assert not parse_config({}).keyphrases.enabled  # off by default: YAKE costs more CPU than extraction
    with pytest.raises(ConfigError, match="keyphrases"):
        parse_config({"keyphrases": {"enabled": True, "colour": 1}})
