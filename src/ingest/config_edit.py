"""Adding sources to a feeds.yaml the way a person would: comments, order, quoting and layout kept.

``ingest sources add`` and ``ingest sources import`` write through here. The file is edited with a
round-trip YAML parser (ruamel.yaml: PyYAML, which the loader uses, drops every comment on a dump), the
new entries are appended to ``sources:``, and the result is validated by :func:`ingest.config.load_config`
itself before it replaces the file: a file the loader would refuse is never written, and the new
entries must come out as valid sources. Written beside the original and renamed into place.

The decisions are pure (:func:`source_name`, :func:`feed_key`, :func:`plan_sources`); only
:func:`add_sources` reads and writes.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest.errors import ConfigError

NAME_MAX = 64


@dataclass(frozen=True, slots=True)
class NewSource:
    feed: str
    name: str | None = None  # else from the title, else from the host
    title: str | None = None  # the feed's (or the OPML outline's) title
    language: str | None = None
    enabled: bool = True
    note: str | None = None  # a comment written beside the entry (where it was found)


@dataclass(frozen=True, slots=True)
class Skipped:
    feed: str
    name: str | None
    reason: str


@dataclass
class Plan:
    add: list[dict[str, Any]] = field(default_factory=list)  # the entries, as written
    notes: list[str | None] = field(default_factory=list)  # one per entry in ``add``
    skipped: list[Skipped] = field(default_factory=list)


# --- pure decisions -------------------------------------------------------------------------------

def slug(text: str | None) -> str:
    """``Demo World News`` -> ``demo-world-news``; accents dropped (``Zürich`` -> ``zurich``); what has no
    ASCII form (Cyrillic, CJK) is dropped, so such titles give "" (the caller falls back to the host)."""
    if not text:
        return ""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    out = re.sub(r"[^a-z0-9._-]+", "-", ascii_text)
    out = re.sub(r"-{2,}", "-", out).strip("-._")
    return out[:NAME_MAX].rstrip("-._")


def host_name(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return slug(host.removeprefix("www."))


def source_name(title: str | None, url: str, taken: Iterable[str]) -> str:
    """A valid, unused source name: the title's slug, else the feed's host, then ``-2``, ``-3``… when taken."""
    used = set(taken)
    base = slug(title) or host_name(url) or "source"
    if base not in used:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[:NAME_MAX - len(suffix)].rstrip("-._") + suffix
        if candidate not in used:
            return candidate
        n += 1


def feed_key(url: str) -> str:
    """Two spellings of one feed compare equal: scheme, host case, ``www.``, default port and a trailing
    slash do not matter; the path and query do."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = "" if parts.port in (None, 80, 443) else f":{parts.port}"
    path = parts.path.rstrip("/") or "/"
    return f"{host}{port}{path}" + (f"?{parts.query}" if parts.query else "")


def language_code(value: str) -> str:
    """``EN`` -> ``en``, ``en_us`` -> ``en-US`` (OPML files and feeds write them every way)."""
    primary, _, region = value.strip().replace("_", "-").partition("-")
    return primary.lower() + (f"-{region.upper() if len(region) == 2 else region}" if region else "")


def _checked(entry: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """The entry validated as the loader validates a source: (entry, None, note) when fine (a bad
    language is dropped, and said), (None, reason, None) when the entry cannot be a source."""
    from pydantic import ValidationError

    from ingest.config import SourceConfig

    note = None
    for _ in range(2):
        try:
            SourceConfig.model_validate(entry)
            return entry, None, note
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            reason = f"{where}: {first['msg'].removeprefix('Value error, ')}"
            if where == "language" and "language" in entry:
                entry = {k: v for k, v in entry.items() if k != "language"}
                note = f"language {first['input']!r} dropped ({reason})"
                continue
            return None, reason, None
    return None, "invalid", None


def plan_sources(existing: Sequence[dict[str, Any]], new: Sequence[NewSource]) -> Plan:
    """What to append to ``existing`` (the file's ``sources:`` entries): feeds already there, or twice in
    ``new``, are skipped and said; names are made valid and unique; explicit names must be free."""
    plan = Plan()
    names = {str(e.get("name")) for e in existing if isinstance(e, dict) and e.get("name")}
    feeds = {feed_key(str(e["feed"])): str(e.get("name")) for e in existing
             if isinstance(e, dict) and isinstance(e.get("feed"), str)}
    for src in new:
        key = feed_key(src.feed)
        if key in feeds:
            plan.skipped.append(Skipped(src.feed, src.name or src.title, f"already configured as {feeds[key]!r}"))
            continue
        if src.name is not None and src.name in names:
            plan.skipped.append(Skipped(src.feed, src.name, f"the name {src.name!r} is taken"))
            continue
        name = src.name if src.name is not None else source_name(src.title, src.feed, names)
        entry: dict[str, Any] = {"name": name, "feed": src.feed}
        if src.language and src.language.strip():
            entry["language"] = language_code(src.language)
        if not src.enabled:
            entry["enabled"] = False
        checked, reason, problem = _checked(entry)
        if checked is None:
            plan.skipped.append(Skipped(src.feed, name, reason or "invalid"))
            continue
        names.add(name)
        feeds[key] = name
        plan.add.append(checked)
        plan.notes.append("; ".join(p for p in (src.note, problem) if p) or None)
    return plan


# --- the file -------------------------------------------------------------------------------------

def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML()  # round trip: comments, order, quotes and anchors are kept
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long line (a URL, a comment)
    # ruamel writes a null as nothing (``taxonomy:``); the file said ``null``, and keeps saying it
    y.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return y


def _move_trailing_comment(old_last: Any, new_last: Any) -> None:
    """ruamel keeps the comment lines after a list's last entry (often the heading of the next key:
    ``# the taxonomy``) on that entry's last value; appended entries would land below them. The lines
    after the entry's own end of line move to the new last entry, so they stay above the next key."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    if not isinstance(old_last, CommentedMap) or not old_last or not new_last:
        return
    slot = old_last.ca.items.get(list(old_last)[-1])
    if not slot or len(slot) < 3 or slot[2] is None:
        return
    head, sep, rest = slot[2].value.partition("\n")
    if not rest:
        return
    slot[2].value = head + sep
    new_last.ca.items[list(new_last)[-1]] = [None, None, CommentToken("\n" + rest, CommentMark(0), None), None]


def _sequence_indent(text: str) -> tuple[int, int]:
    """(sequence, offset) as ruamel counts them, from the file's own ``sources:`` list: ``  - name:``
    under ``sources:`` is (4, 2), ``- name:`` is (2, 0). Only the dash's column is read."""
    match = re.search(r"^sources:[^\n]*\n(?:[ \t]*(?:#[^\n]*)?\n)*([ ]*)- ", text, re.M)
    offset = len(match.group(1)) if match else 2
    return offset + 2, offset


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


@dataclass
class EditResult:
    path: str
    added: list[dict[str, Any]]
    skipped: list[Skipped]
    notes: list[str | None]
    created: bool = False
    written: bool = False


def add_sources(path: str | os.PathLike[str], new: Sequence[NewSource], *, dry_run: bool = False) -> EditResult:
    """Append ``new`` to the ``sources:`` of the feeds.yaml at ``path`` (created when missing), keeping
    everything else as it was; validated by the config loader before the file is replaced."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import YAMLError

    from ingest.config import load_config

    target = Path(path)
    shown = str(path)
    created = not target.exists()
    try:
        text = "" if created else target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=shown) from None
    y = _yaml()
    sequence, offset = _sequence_indent(text)
    y.indent(mapping=2, sequence=sequence, offset=offset)
    try:
        data = y.load(text) if text.strip() else None
    except YAMLError as exc:
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", file=shown) from None
    prefix = ""
    if data is None:  # empty, or only comments: they stay on top of what is written
        prefix = text if not text or text.endswith("\n") else text + "\n"
        data = CommentedMap()
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping", file=shown)
    sources = data.get("sources")
    if sources is None:
        sources = data["sources"] = CommentedSeq()
    if not isinstance(sources, list):
        raise ConfigError("must be a list of sources", file=shown, key="sources")
    plan = plan_sources([dict(e) if isinstance(e, dict) else {} for e in sources], new)
    result = EditResult(path=shown, added=plan.add, skipped=plan.skipped, notes=plan.notes, created=created)
    if not plan.add or dry_run:
        return result
    if not sources:
        sources.fa.set_block_style()  # `sources: []` grows into a block list, one entry a line
    old_last = sources[-1] if sources else None
    for entry, note in zip(plan.add, plan.notes, strict=True):
        item = CommentedMap(entry)
        if note:
            item.yaml_add_eol_comment(_one_line(note), "name")
        sources.append(item)
    _move_trailing_comment(old_last, sources[-1])
    out = io.StringIO(prefix)
    out.seek(len(prefix))
    y.dump(data, out)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text(out.getvalue(), encoding="utf-8")
    try:
        try:
            config = load_config(partial)  # exactly what `ingest poll` will read
        except ConfigError as exc:
            raise ConfigError(f"not written, the result would not load: {exc.problem}", file=shown,
                              key=exc.key) from None
        valid = {s.name for s in config.sources}
        broken = [e["name"] for e in plan.add if e["name"] not in valid]
        if broken:
            raise ConfigError(f"not written, invalid new entries: {', '.join(broken)}", file=shown, key="sources")
        os.replace(partial, target)
        result.written = True
    finally:
        partial.unlink(missing_ok=True)
    return result


def configured_sources(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The ``sources:`` entries of a feeds.yaml as the loader validates them (invalid ones left out)."""
    from ingest.config import load_config

    config = load_config(path)
    return [{"name": s.name, "feed": s.feed, "language": s.language, "enabled": s.enabled} for s in config.sources]
