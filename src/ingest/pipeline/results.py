"""Typed results of the stories, as the Python API returns them (the CLI prints them, runs rows keep
their :meth:`as_dict` form). They also read as that mapping (``result["totals"]``), the JSON summary
``ingest poll --json`` prints, so the two never drift apart."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# new: archived now; updated: a new version; duplicate: the same text as an archived article (another
# URL); known: listed here for the first time, its URL already archived (listed by another feed);
# unchanged: listed or re-checked again, nothing new; gone: the page went 404/410; failed: with a kind
COUNTED = ("new", "updated", "duplicate", "known", "unchanged", "gone", "failed")


# The likely cause of a poll in which every source failed the same way, by error kind.
_LIKELY_CAUSE = {
    "dns": "is the network reachable?", "connection": "is the network reachable?",
    "refused": "is the network reachable (or a proxy needed)?",
    "timeout": "is the network reachable, or very slow?", "tls": "is a proxy intercepting TLS?",
    "forbidden_address": "do the feeds point at private addresses (fetch.allow_private_networks)?",
    "internal": "see `ingest sources` for the detail",
}


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What one poll did for one source."""

    source: str
    feed_status: str  # ok | not_modified | unchanged | failed | skipped | not_due (page work only)
    error_kind: str | None = None
    error_detail: str | None = None
    feed_warning: str | None = None
    entries_in_feed: int = 0
    new_entries: int = 0
    dropped: int = 0
    new: int = 0
    updated: int = 0
    duplicate: int = 0
    known: int = 0
    unchanged: int = 0
    gone: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # error kind -> items

    @property
    def ok(self) -> bool:
        return self.feed_status != "failed"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SourceResult:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass(frozen=True, slots=True, eq=False)  # eq: Mapping's, so it equals its JSON summary
class PollResult(Mapping[str, Any]):
    """One poll run: its id in ``ingest runs``, per-source results, totals and failures by kind."""

    run_id: int | None
    sources: list[SourceResult]
    totals: dict[str, int]
    failures: dict[str, int]
    config_errors: list[str]
    # polled sources whose extraction drifts: {source, since, moved, describe} (ingest.analyse.drift)
    drifting: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> PollResult:
        return cls(run_id=summary["run_id"], sources=[SourceResult.from_dict(s) for s in summary["sources"]],
                   totals=dict(summary["totals"]), failures=dict(summary["failures"]),
                   config_errors=list(summary.get("config_errors", [])),
                   drifting=list(summary.get("drifting", [])))

    @property
    def all_failed(self) -> bool:
        """Every polled source failed (skipped and not-due ones aside): likely the network or the archive."""
        polled = [s for s in self.sources if s.feed_status not in ("skipped", "not_due")]
        return bool(polled) and all(not s.ok for s in polled)

    def all_failed_line(self) -> str:
        """One line for a run in which every polled source failed, with the likely cause."""
        failed = [s for s in self.sources if not s.ok]
        kinds = sorted({s.error_kind or "unknown" for s in failed})
        noun = "source" if len(failed) == 1 else "sources"
        if len(kinds) == 1:
            cause = _LIKELY_CAUSE.get(kinds[0], "see `ingest sources` for each error")
            return f"all {len(failed)} {noun} failed with {kinds[0]}: {cause}"
        return f"all {len(failed)} {noun} failed ({', '.join(kinds)}): see `ingest sources` for each error"

    def source(self, name: str) -> SourceResult:
        for s in self.sources:
            if s.source == name:
                return s
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id,
                "sources": [{k: getattr(s, k) for k in SourceResult.__dataclass_fields__} for s in self.sources],
                "totals": dict(self.totals), "failures": dict(self.failures),
                "config_errors": list(self.config_errors), "drifting": list(self.drifting)}

    # Mapping: the JSON summary's keys
    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("run_id", "sources", "totals", "failures", "config_errors", "drifting"))

    def __len__(self) -> int:
        return 6


class _Summary(Mapping[str, Any]):
    """A typed result that also reads as its JSON summary (its fields, by name)."""

    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:  # type: ignore[attr-defined]
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dataclass_fields__)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.__dataclass_fields__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True, eq=False)
class ReprocessResult(_Summary):
    """A re-extraction of archived articles from their stored raw bytes."""

    run_id: int | None
    articles: int  # selected
    revised: int  # the text changed: a new version
    unchanged: int
    failed: int  # the extractor failed: the article keeps its text
    no_raw_bytes: int  # nothing stored to re-extract
    failures: dict[str, int] = field(default_factory=dict)  # error kind -> articles


@dataclass(frozen=True, slots=True, eq=False)
class BackfillResult(_Summary):
    """A backfill of one source over a range: windows run, URLs found, what became of them."""

    run_id: int | None
    source: str
    via: str
    since: str
    until: str
    windows: int
    windows_run: int
    urls: int
    totals: dict[str, int]
    by_window: list[dict[str, Any]]
    problems: list[str]
    nothing_found: str | None  # why a backfill found nothing, in one line
