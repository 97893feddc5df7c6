"""The user's search syntax, analysed like the articles (ingest.analyse.searchtext) and written out as an
FTS5 expression (SQLite) or a tsquery (PostgreSQL) that look up the same tokens.

Syntax, the same on both engines: words are ANDed, ``"a phrase"``, ``kyiv OR kiev``, ``-exclude``,
``prefix*``. Each word becomes a *term*: its exact form OR its stem in each stemmed language of its
script; a phrase is the exact phrase OR the phrase of stems in one language; a CJK word is the phrase of
its character bigrams. Every token is quoted: user text is data, never query syntax.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from ingest.analyse.searchtext import BY_SCRIPT, bigrams, language_key, script, segments, stem_token, words
from ingest.errors import UsageError

_TOKEN = re.compile(r'-?"[^"]*"?|\S+')


@dataclass(frozen=True, slots=True)
class Phrase:
    tokens: tuple[str, ...]
    prefix: bool = False  # the last token is a prefix


@dataclass(frozen=True, slots=True)
class Term:
    alternatives: tuple[Phrase, ...]  # any of them
    # what a snippet highlights (ingest.analyse.snippets): exact words, prefixes, stem tokens, CJK runs
    exact: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    stems: tuple[str, ...] = ()
    cjk: tuple[str, ...] = ()


@dataclass(slots=True)
class Group:
    terms: list[Term]  # ORed
    excluded: list[Term] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Plan:
    groups: tuple[Group, ...]  # ANDed

    def positive(self) -> list[Term]:
        return [t for g in self.groups for t in g.terms]


def term(body: str, *, prefix: bool = False, languages: Collection[str] | None = None) -> Term | None:
    """The term a word, a quoted phrase or a CJK run stands for; None when it has no word characters.
    ``languages``: the stemmed languages to expand to (those of the archive); None: all of them."""
    segs = [seg for _, _, w in words(body) for seg in segments(w)]
    if not segs:
        return None
    exact: list[str] = []
    for i, seg in enumerate(segs):
        if seg.kind == "word":
            exact.append(seg.text)
        else:  # inside a phrase, a run ends in its last character alone, as the index has it
            exact.extend(bigrams(seg.text, final=i < len(segs) - 1))
    # one CJK character: it starts a bigram or ends a run, so it is a prefix
    alternatives = [Phrase(tuple(exact), prefix or (len(segs) == 1 and segs[0].kind != "word"
                                                    and len(segs[0].text) == 1))]
    if not prefix and all(seg.kind != "cjk" for seg in segs):
        expand = sorted({lang for seg in segs for lang in BY_SCRIPT.get(script(seg.text) or "", ())
                         if languages is None or lang in languages})
        for lang in expand:
            phrase = Phrase(tuple(stem_token(lang, seg.text) for seg in segs))
            if phrase not in alternatives:
                alternatives.append(phrase)
    plain = [seg.text for seg in segs if seg.kind == "word"]
    runs = [seg.text for seg in segs if seg.kind != "word"]
    return Term(tuple(alternatives), exact=() if prefix else tuple(plain),
                prefixes=tuple(plain[-1:]) if prefix else tuple(r for r in runs if len(r) == 1),
                stems=tuple(tok for p in alternatives[1:] for tok in p.tokens), cjk=tuple(runs))


def parse(user: str, languages: Collection[str] | None = None) -> Plan:
    """The plan of a query in the default syntax; ``languages`` as for :func:`term`."""
    groups: list[Group] = []
    pending_or = False
    for tok in _TOKEN.findall(user):
        if tok == "OR" and groups:
            pending_or = True
            continue
        negate = tok.startswith("-") and len(tok) > 1
        tok = tok[1:] if negate else tok
        prefix = tok.endswith("*") and not tok.startswith('"')
        t = term(tok.strip('"').rstrip("*").replace('"', ""), prefix=prefix, languages=languages)
        if t is None:  # punctuation alone
            continue
        if negate:
            if groups:  # a leading exclusion has nothing to exclude from
                groups[-1].excluded.append(t)
            continue
        if pending_or and groups:
            groups[-1].terms.append(t)
        else:
            groups.append(Group([t]))
        pending_or = False
    if not groups:
        raise UsageError(f"search query {user!r} has no words to search for")
    return Plan(tuple(groups))


def _any(items: list[str], op: str) -> str:
    return items[0] if len(items) == 1 else "(" + f" {op} ".join(items) + ")"


def _fts5_phrase(p: Phrase) -> str:
    return '"' + " ".join(p.tokens) + '"' + ("*" if p.prefix else "")


def _fts5_term(t: Term) -> str:
    return _any([_fts5_phrase(p) for p in t.alternatives], "OR")


def to_fts5(plan: Plan) -> str:
    parts = []
    for g in plan.groups:
        expr = _any([_fts5_term(t) for t in g.terms], "OR")
        for t in g.excluded:
            expr = f"{expr} NOT {_fts5_term(t)}"
        parts.append(expr if len(plan.groups) == 1 or not g.excluded else f"({expr})")
    return " AND ".join(parts)


def _lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _ts_phrase(p: Phrase) -> str:
    lexemes = [_lexeme(tok) for tok in p.tokens]
    if p.prefix:
        lexemes[-1] += ":*"
    return lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")"


def _ts_term(t: Term) -> str:
    return _any([_ts_phrase(p) for p in t.alternatives], "|")


def to_tsquery(plan: Plan) -> str:
    parts = []
    for g in plan.groups:
        expr = _any([_ts_term(t) for t in g.terms], "|")
        for t in g.excluded:
            expr = f"{expr} & !{_ts_term(t)}"
        parts.append(f"({expr})" if g.excluded else expr)
    return " & ".join(parts)


def fts5_query(user: str, languages: Collection[str] | None = None) -> str:
    """The FTS5 expression of a query in the default syntax."""
    return to_fts5(parse(user, languages))


def tsquery(user: str, languages: Collection[str] | None = None) -> str:
    """The tsquery text of a query in the default syntax (cast with ``CAST(:q AS tsquery)``: its lexemes
    are the analyser's tokens, not parsed again)."""
    return to_tsquery(parse(user, languages))


# The distinct article languages, one index seek each (a "skip scan" of ix_articles_language): a
# query word is expanded only to the stemmed languages the archive holds. Same SQL on both engines.
ARCHIVE_LANGUAGES = (
    "WITH RECURSIVE l(x) AS (SELECT MIN(language) FROM articles UNION ALL "
    "SELECT (SELECT MIN(language) FROM articles WHERE language > l.x) FROM l WHERE l.x IS NOT NULL) "
    "SELECT x FROM l WHERE x IS NOT NULL")


def archive_languages(values: Collection[str | None]) -> frozenset[str]:
    """The stemmed languages (language_key) among an archive's language values."""
    return frozenset(k for k in (language_key(v) for v in values) if k is not None)
