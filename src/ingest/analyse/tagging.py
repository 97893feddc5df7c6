"""Rule tags from a taxonomy (``config/tags.yaml``): pure functions on text.

A taxonomy lists tags; each has terms (literal phrases) and patterns (regular expressions) per
language, optional exclusions, the fields it looks at (title, text), a minimum number of mentions and
a group. All terms of all tags are compiled ONCE into one regular expression (longest alternatives
first, one named group per tag) and an article is scanned once per field, so tagging costs one regex
pass over the text whatever the taxonomy's size.

Matching is case-insensitive, by word boundaries that hold in any script (``(?<!\\w)`` / ``(?!\\w)``
on Unicode word characters; CJK and Thai terms, whose scripts have no spaces, match anywhere). In a
term, ``*`` at the end of a word stands for any word ending, which is how inflected forms are written
("Північн* Коре*" matches "Північна Корея" and "Північної Кореї"); whitespace matches any whitespace
run and also a hyphen. A term in capitals of at most five letters ("US", "DPRK") is case-sensitive.

Salience: a tag applies when its mentions (a title mention counts ``title_weight`` times) reach
``min_mentions`` and, within its group, at least ``min_share`` of the group's most-mentioned tag: a
story about Ukraine and North Korea that mentions Russia in passing is not tagged ``russia``.

The rule version is the SHA-256 of the taxonomy file's bytes (first 16 hex digits), stored with every
rule tag so ``ingest retag`` can tell stale tags.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.errors import ConfigError

DEFAULT_TAGS_PATH = "config/tags.yaml"
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# scripts written without spaces between words: no word boundary can be required around their terms
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupSpec(_Strict):
    # a tag needs at least this share of the mentions of its group's most-mentioned tag
    min_share: Annotated[float, Field(ge=0, le=1)] = 0.0
    # prominence: when > 0, a tag not mentioned in the title or the first lead_chars characters of the
    # text needs at least min_mentions_outside_lead mentions (principal actors are named up front)
    lead_chars: Annotated[int, Field(ge=0)] = 0
    min_mentions_outside_lead: Annotated[int, Field(ge=1)] = 1


def _check_patterns(value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    for lang, items in value.items():
        for item in items:
            try:
                re.compile(item)
            except re.error as exc:
                raise ValueError(f"invalid pattern {item!r} ({lang}): {exc}") from None
    return value


class TagSpec(_Strict):
    label: str | None = None
    group: str | None = None
    terms: dict[str, tuple[str, ...]] = {}
    patterns: dict[str, tuple[str, ...]] = {}
    exclude: dict[str, tuple[str, ...]] = {}
    fields: tuple[Literal["title", "text"], ...] | None = None
    min_mentions: Annotated[int, Field(ge=1)] | None = None

    @field_validator("patterns", "exclude")
    @classmethod
    def _compiles(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return _check_patterns(value)


class ContextSpec(_Strict):
    """A kind of story in which some groups' tags mean nothing: in a sports report "Ukraine" and
    "South Korea" are teams, not states. Its terms are counted like a tag's (never emitted); at
    ``min_mentions`` or more, the tags of the ``suppresses`` groups are dropped."""

    terms: dict[str, tuple[str, ...]] = {}
    patterns: dict[str, tuple[str, ...]] = {}
    min_mentions: Annotated[int, Field(ge=1)] = 3
    suppresses: tuple[str, ...] = ()

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return _check_patterns(value)


class TagDefaults(_Strict):
    fields: tuple[Literal["title", "text"], ...] = ("title", "text")
    min_mentions: Annotated[int, Field(ge=1)] = 1
    title_weight: Annotated[int, Field(ge=1)] = 1
    # phrases (regexes, per language) that no tag counts, e.g. a national sports team or a short
    # quoted name: "збірна України" is a football team, «Пекин» a restaurant, neither the state
    exclude: dict[str, tuple[str, ...]] = {}

    @field_validator("exclude")
    @classmethod
    def _compiles(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return _check_patterns(value)


class TaxonomySpec(_Strict):
    defaults: TagDefaults = TagDefaults()
    groups: dict[str, GroupSpec] = {}
    contexts: dict[str, ContextSpec] = {}
    tags: dict[str, TagSpec]

    @field_validator("tags")
    @classmethod
    def _slugs(cls, value: dict[str, TagSpec]) -> dict[str, TagSpec]:
        for name, spec in value.items():
            if not _SLUG_RE.match(name):
                raise ValueError(f"tag {name!r}: must be lowercase letters, digits and '-'")
            if not spec.terms and not spec.patterns:
                raise ValueError(f"tag {name!r}: needs terms or patterns")
        return value


@dataclass(frozen=True, slots=True)
class RuleTag:
    tag: str
    label: str
    score: int  # weighted mention count


@dataclass(frozen=True)
class Taxonomy:
    """A compiled taxonomy; group ``g<i>_<n>`` marks a term of tag i, ``x<i>_<n>`` an exclusion."""

    spec: TaxonomySpec
    version: str
    regex: re.Pattern[str]  # over the lower-cased text
    names: tuple[str, ...]
    cased: re.Pattern[str]  # case-sensitive terms, over the text as is

    def tag(self, title: str | None, text: str | None) -> list[RuleTag]:
        return tag_article(self, title, text)


def _case_sensitive(term: str) -> bool:
    return len(term) <= 5 and term.isupper() and term.isalpha()


def term_regex(term: str) -> str:
    """A literal term as a regex fragment for lower-cased text (case-sensitive terms keep their case):
    ``*`` word endings, flexible spaces, a closing boundary per script (the opening one is shared)."""
    parts = []
    for w in term.split():
        stem = w.endswith("*")
        word = w.rstrip("*")
        parts.append(re.escape(word if _case_sensitive(term) else word.lower()) + (r"\w*" if stem else ""))
    core = r"[\s\-]+".join(parts)
    end = "" if _UNSPACED.search(term[-1:]) or term.endswith("*") else r"(?!\w)"
    return core + end


def compile_taxonomy(spec: TaxonomySpec, version: str) -> Taxonomy:
    """Two regexes: terms over the lower-cased text, case-sensitive terms over the original. Each
    alternative starts with its literal text and ends with an empty named group (``g<tag>_<n>``, or
    ``x…`` for an exclusion) that says what matched: starting with a literal lets the regex engine skip
    non-matching alternatives at a glance, which keeps one pass over a text at well under a millisecond."""
    lower: list[tuple[int, str, str]] = []  # (sort key, group name, fragment)
    unspaced: list[tuple[int, str, str]] = []
    cased: list[tuple[int, str, str]] = []
    names = tuple(spec.tags)

    def add_terms(group: str, terms: dict[str, tuple[str, ...]], patterns: dict[str, tuple[str, ...]]) -> None:
        for items in terms.values():
            for item in items:
                target = cased if _case_sensitive(item) else unspaced if _UNSPACED.match(item) else lower
                target.append((-len(item) * 2, group, term_regex(item)))
        for items in patterns.values():
            for item in items:
                lower.append((-len(item) * 2, group, f"(?:{item})"))

    for j, ctx in enumerate(spec.contexts.values()):  # context terms: group "c<j>"
        add_terms(f"c{j}", ctx.terms, ctx.patterns)
    for items in spec.defaults.exclude.values():  # exclusions of every tag (group "xa")
        for item in items:
            lower.append((-len(item) * 2 - 1, "xa", f"(?i:{item})"))
            cased.append((-len(item) * 2 - 1, "xa", f"(?i:{item})"))
    for i, (_, tag) in enumerate(spec.tags.items()):
        for items in tag.exclude.values():
            for item in items:  # exclusions before terms at equal length; apply to both regexes
                lower.append((-len(item) * 2 - 1, f"x{i}", f"(?i:{item})"))
                cased.append((-len(item) * 2 - 1, f"x{i}", f"(?i:{item})"))
        add_terms(f"g{i}", tag.terms, tag.patterns)
    n = 0

    def alternation(alts: list[tuple[int, str, str]], *, factor: bool = False) -> str:
        nonlocal n
        out = []
        for _, g, frag in sorted(alts, key=lambda a: a[0]):  # longest first: the longest term wins
            out.append(f"{frag}(?P<{g}_{n}>)")
            n += 1
        return _by_first_char(out) if factor else "|".join(out)

    body = r"(?<!\w)(?:" + (alternation(lower, factor=True) or "(?!)") + ")"
    if unspaced:
        body += "|(?:" + alternation(unspaced) + ")"
    cased_body = r"(?<!\w)(?:" + (alternation(cased) or "(?!)") + ")"
    return Taxonomy(spec, version, re.compile(body), names, re.compile(cased_body))


_OPEN = ("(?i:", "(?:")


def _split_first(alt: str) -> tuple[str, str] | None:
    """(first character, the alternative without it) when the alternative starts with one literal
    character (possibly inside an opening group), else None."""
    prefix = ""
    for opening in _OPEN:
        if alt.startswith(opening):
            if _group_has_choice(alt[len(opening):]):
                return None  # "(?:to|from)…": no single first character
            prefix, alt = opening, alt[len(opening):]
            break
    if alt[:1] == "\\" and len(alt) > 1 and not alt[1].isalnum():
        first, rest = alt[1], alt[2:]  # an escaped punctuation character
    elif alt[:1] and (alt[0].isalnum() or alt[0] == "_" or ord(alt[0]) > 127) and alt[1:2] not in ("*", "+", "?", "{"):
        first, rest = alt[0], alt[1:]
    else:
        return None
    if prefix == "(?i:" or first.lower() != first:
        first = first.lower()  # the subject is lower-cased: only the lower-case character can match
    return first, prefix + rest


def _group_has_choice(body: str) -> bool:
    """Whether the group whose content starts ``body`` has a ``|`` of its own (not in a nested group
    or a character class)."""
    depth, i, in_class = 0, 0, False
    while i < len(body):
        c = body[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return False
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def _by_first_char(alts: list[str]) -> str:
    """One alternation as a first-character trie: ``a(?:bc|bd)|x(?:y)|…``. The regex engine tries the
    alternatives of one branch one after the other; with hundreds of terms in one flat alternation
    every word start cost hundreds of checks, while grouped by their first character it costs one per
    distinct first character. Alternatives that do not start with a literal character stay flat, in
    front (they are few: some patterns and exclusions), so their order relative to each other and to
    the terms they may overlap is kept; within a group the original order (longest first) is kept."""
    flat: list[str] = []
    groups: dict[str, list[str]] = {}
    for alt in alts:
        split = _split_first(alt)
        if split is None:
            flat.append(alt)
        else:
            groups.setdefault(split[0], []).append(split[1])
    out = flat + [re.escape(c) + "(?:" + "|".join(rest) + ")" for c, rest in groups.items()]
    return "|".join(out)


def _count(tax: Taxonomy, text: str, field: str, weight: int, counts: dict[int, int],
           first: dict[int, int], contexts: dict[int, int]) -> None:
    fields = tax.spec.defaults.fields
    for regex, subject in ((tax.regex, text.lower()), (tax.cased, text)):
        for m in regex.finditer(subject):
            group = m.lastgroup
            if group is not None and group[0] == "c":
                j = int(group[1:group.index("_")])
                contexts[j] = contexts.get(j, 0) + weight
                continue
            if group is None or group[0] != "g":
                continue  # an exclusion consumed this span
            i = int(group[1:group.index("_")])
            spec = tax.spec.tags[tax.names[i]]
            if field in (spec.fields or fields):
                counts[i] = counts.get(i, 0) + weight
                # position of the first mention: 0 for the title, else the offset in the text
                first[i] = min(first.get(i, 10**9), 0 if field == "title" else m.start())


def tag_article(tax: Taxonomy, title: str | None, text: str | None) -> list[RuleTag]:
    """The taxonomy's tags for one article, most-mentioned first."""
    counts: dict[int, int] = {}
    first: dict[int, int] = {}
    contexts: dict[int, int] = {}
    d = tax.spec.defaults
    if title:
        _count(tax, title, "title", d.title_weight, counts, first, contexts)
    if text:
        _count(tax, text, "text", 1, counts, first, contexts)
    suppressed = {g for j, ctx in enumerate(tax.spec.contexts.values()) if contexts.get(j, 0) >= ctx.min_mentions
                  for g in ctx.suppresses}
    kept = {i: n for i, n in counts.items()
            if n >= (tax.spec.tags[tax.names[i]].min_mentions or d.min_mentions) and _prominent(tax, i, n, first[i])
            and tax.spec.tags[tax.names[i]].group not in suppressed}
    top: dict[str | None, int] = {}
    for i, n in kept.items():
        g = tax.spec.tags[tax.names[i]].group
        top[g] = max(top.get(g, 0), n)
    out = []
    for i, n in kept.items():
        spec = tax.spec.tags[tax.names[i]]
        share = tax.spec.groups[spec.group].min_share if spec.group in tax.spec.groups else 0.0
        if n >= share * top[spec.group]:
            out.append(RuleTag(tax.names[i], spec.label or tax.names[i], n))
    return sorted(out, key=lambda t: (-t.score, t.tag))


def _prominent(tax: Taxonomy, i: int, mentions: int, first_at: int) -> bool:
    group = tax.spec.groups.get(tax.spec.tags[tax.names[i]].group or "")
    if group is None or group.lead_chars == 0 or first_at < group.lead_chars:
        return True
    return mentions >= group.min_mentions_outside_lead


def parse_taxonomy(data: Any, *, path: str | None = None, version: str = "") -> Taxonomy:
    if not isinstance(data, Mapping):
        raise ConfigError("the top level must be a mapping with 'tags'", file=path)
    try:
        spec = TaxonomySpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
        raise ConfigError(msg, file=path, key=key) from None
    for name, tag in spec.tags.items():
        if tag.group is not None and tag.group not in spec.groups:
            raise ConfigError(f"unknown group {tag.group!r}", file=path, key=f"tags.{name}.group")
    for name, ctx in spec.contexts.items():
        for g in ctx.suppresses:
            if g not in spec.groups:
                raise ConfigError(f"unknown group {g!r}", file=path, key=f"contexts.{name}.suppresses")
    return compile_taxonomy(spec, version)


def load_taxonomy(path: str | Path = DEFAULT_TAGS_PATH) -> Taxonomy:
    """Read, validate and compile a taxonomy file; its version is a hash of its bytes."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: 0.7 s less
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid YAML: {str(exc).splitlines()[0]}", file=str(path)) from None
    return parse_taxonomy(data, path=str(path), version=hashlib.sha256(raw).hexdigest()[:16])
