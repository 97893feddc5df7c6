"""Rule tagging: the taxonomy schema, matching in any script, salience, and the shipped taxonomy."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.analyse.tagging import load_taxonomy, parse_taxonomy, term_regex
from ingest.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
TAXONOMY = load_taxonomy(ROOT / "config" / "tags.yaml")


def tags(title: str, text: str = "") -> list[str]:
    return [t.tag for t in TAXONOMY.tag(title, text)]


def test_seed_article_gets_exactly_its_tags(corpus_dir: Path) -> None:
    title, _, text = (corpus_dir / "seed-article.txt").read_text(encoding="utf-8").partition("\n")
    got = TAXONOMY.tag(title, text)
    assert sorted(t.tag for t in got) == ["diplomacy", "military-cooperation", "north-korea",
                                          "prisoners-of-war", "south-korea", "ukraine"]
    assert {t.tag: t.score for t in got} == {"ukraine": 20, "north-korea": 14, "south-korea": 11,
                                            "military-cooperation": 5, "prisoners-of-war": 5, "diplomacy": 4}


@pytest.mark.parametrize("phrase", ["Північна Корея", "Північної Кореї", "Північній Кореї", "Северная Корея",
                                    "Северной Кореи", "КНДР", "North Korean", "Pyongyang"])
def test_inflected_forms_in_any_script(phrase: str) -> None:
    assert tags(phrase) == ["north-korea"]  # a title mention counts twice: min_mentions 2 is met


def test_word_boundaries_and_short_capitals() -> None:
    assert tags("US troops arrive", "") == ["united-states"]
    assert tags("let us go", "") == []  # "US" is case-sensitive
    assert tags("Russiagate", "") == []  # no match inside a word
    assert tags("Росія і Україна", "") == ["russia", "ukraine"]


def test_exclusions_do_not_count() -> None:
    assert tags("", "Russian-speaking residents. Russian-language media.") == []
    assert tags("", "Russian troops and Russian-speaking residents, Moscow said.") == ["russia"]


def test_salience_drops_actors_named_in_passing() -> None:
    text = "Ukraine " * 12 + "Russia Russia"
    assert tags("", text) == ["ukraine"]  # 2 < 0.25 * 12
    assert tags("", "Ukraine " * 4 + "Russia Russia") == ["ukraine", "russia"]


def test_cjk_terms_match_without_word_boundaries() -> None:
    tax = parse_taxonomy({"tags": {"north-korea": {"terms": {"ja": ["北朝鮮"]}}}})
    assert [t.tag for t in tax.tag("北朝鮮の兵士", "")] == ["north-korea"]
    assert term_regex("北朝鮮") == "北朝鮮"


def test_fields_and_min_mentions() -> None:
    tax = parse_taxonomy({"defaults": {"title_weight": 1},
                          "tags": {"a": {"terms": {"en": ["alpha"]}, "fields": ["title"]},
                                   "b": {"terms": {"en": ["beta"]}, "min_mentions": 2}}})
    assert [t.tag for t in tax.tag("x", "alpha beta")] == []
    assert [(t.tag, t.score) for t in tax.tag("alpha", "beta beta")] == [("b", 2), ("a", 1)]


@pytest.mark.parametrize(("data", "message"), [
    ({"tags": {"x": {"terms": {"en": ["a"]}, "colour": 1}}}, "tags.x.colour: unknown key"),
    ({"tags": {"X y": {"terms": {"en": ["a"]}}}}, "must be lowercase"),
    ({"tags": {"x": {}}}, "needs terms or patterns"),
    ({"tags": {"x": {"patterns": {"en": ["(unclosed"]}}}}, "invalid pattern"),
    ({"tags": {"x": {"terms": {"en": ["a"]}, "group": "nope"}}}, "unknown group 'nope'"),
    ({"tags": {"x": {"terms": {"en": ["a"]}}}, "tagz": {}}, "tagz: unknown key"),
    ({"contexts": {"c": {"terms": {"en": ["b"]}, "suppresses": ["nope"]}}, "tags": {"x": {"terms": {"en": ["a"]}}}},
     "contexts.c.suppresses: unknown group 'nope'"),
    ({"defaults": {"exclude": {"en": ["(bad"]}}, "tags": {"x": {"terms": {"en": ["a"]}}}}, "invalid pattern"),
])
def test_schema_errors(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_taxonomy(data, path="tags.yaml")


def test_rule_version_is_the_file_hash(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text("tags:\n  x:\n    terms: {en: [alpha]}\n", encoding="utf-8")
    v1 = load_taxonomy(p).version
    p.write_text("tags:\n  x:\n    terms: {en: [alpha, beta]}\n", encoding="utf-8")
    assert load_taxonomy(p).version != v1 and len(v1) == 16
    with pytest.raises(ConfigError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.yaml")


def test_prominence_rule() -> None:
    tax = parse_taxonomy({"groups": {"g": {"lead_chars": 20, "min_mentions_outside_lead": 3}},
                          "tags": {"x": {"terms": {"en": ["alpha"]}, "group": "g"}}})
    late = "filler words here and there " + "alpha " * 2
    assert [t.tag for t in tax.tag("", late)] == []  # first named after the lead, too few mentions
    assert [t.tag for t in tax.tag("", late + "alpha")] == ["x"]
    assert [t.tag for t in tax.tag("", "alpha " + late)] == ["x"]  # named in the lead
    assert [t.tag for t in tax.tag("Alpha", late)] == ["x"]  # named in the title


def test_a_context_suppresses_its_groups() -> None:
    tax = parse_taxonomy({
        "groups": {"actors": {}, "topics": {}},
        "contexts": {"sport": {"terms": {"en": ["match*", "goal*"]}, "min_mentions": 3, "suppresses": ["actors"]}},
        "tags": {"ukraine": {"terms": {"en": ["Ukraine"]}, "group": "actors"},
                 "sanctions": {"terms": {"en": ["sanctions"]}, "group": "topics"}}})
    sport = "Ukraine won the match with two goals; Ukraine's second goal came late. Sanctions were not discussed."
    assert [t.tag for t in tax.tag("", sport)] == ["sanctions"]  # 3 sport mentions: no actors
    politics = "Ukraine asked for sanctions. Ukraine said the match of interests was clear."
    assert [t.tag for t in tax.tag("", politics)] == ["ukraine", "sanctions"]  # one sport word is not a report


def test_shipped_taxonomy_knows_teams_venues_and_travel() -> None:
    # national teams in a sports report are not states
    assert tags("Збірна України обіграла Південну Корею в товариському матчі",
                "Матч завершився з рахунком 2:1. Воротар збірної Південної Кореї помилився, а нападник "
                "українців забив гол. Головний тренер збірної України похвалив команду.") == []
    assert tags("Сборная России сыграла вничью с командой Китая", "") == []
    # a restaurant in guillemets is not the city
    assert tags("", "В Томске после ремонта открылся ресторан «Пекин», а кафе «Токио» закрылось.") == []
    # a place someone travels to is not the state acting; the state acting is
    assert tags("", "The president flew to the US for treatment. He returned from the United States.") == []
    assert tags("", "The US imposed new sanctions; Washington said more would follow.") == ["united-states",
                                                                                          "sanctions"]
    # a company of that origin, or a sea named after the country
    assert tags("", "A Chinese-owned quarry and a Chinese company in the South China Sea port.") == []


def test_first_character_grouping_changes_no_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first-character trie is only a speed-up: the shipped taxonomy compiled flat gives the same
    tags and scores on every labelled article."""
    import json

    import yaml

    import ingest.analyse.tagging as tagging

    data = yaml.safe_load((ROOT / "config" / "tags.yaml").read_text(encoding="utf-8"))
    texts = [(a["title"], a["text"]) for f in ("tag_articles.jsonl", "tag_articles_heldout.jsonl")
             for a in map(json.loads, (ROOT / "tests" / "data" / "eval" / f).read_text(encoding="utf-8").splitlines())]
    texts += [("Chinese-owned firm near the South China Sea", "Flights to the US; «Пекин» і збірна України. " * 3),
              ("US, Manila launch war games", "The US and China held talks in Beijing; Washington Post said.")]
    grouped = parse_taxonomy(data)
    monkeypatch.setattr(tagging, "_by_first_char", lambda alts: "|".join(alts))
    flat = parse_taxonomy(data)
    assert grouped.regex.pattern != flat.regex.pattern
    for title, text in texts:
        assert grouped.tag(title, text) == flat.tag(title, text), title


@pytest.mark.parametrize(("alt", "split"), [
    ("abc(?P<g0_1>)", ("a", "bc(?P<g0_1>)")),
    ("(?i:Chinese[- ]owned)(?P<x1_2>)", ("c", "(?i:hinese[- ]owned)(?P<x1_2>)")),
    ("(?:to|from) the us(?P<x2_3>)", None),  # a choice first: no single first character
    ("(?:a(?:b|c))d(?P<g0_4>)", ("a", "(?:(?:b|c))d(?P<g0_4>)")),
    (r"\w+x(?P<g0_5>)", None),
    (r"\-x(?P<g0_6>)", ("-", "x(?P<g0_6>)")),
    ("a*b(?P<g0_7>)", None),
    ("«[^«»]{1,25}»(?P<xa_8>)", ("«", "[^«»]{1,25}»(?P<xa_8>)")),
])
def test_first_character_split(alt: str, split: tuple[str, str] | None) -> None:
    from ingest.analyse.tagging import _split_first

    assert _split_first(alt) == split
