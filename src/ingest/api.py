"""The Python API: an archive you can query, and the stories you can run, from a notebook or a script.

    import ingest
    archive = ingest.Archive("sqlite:///data/demo.db")        # any SQLAlchemy URL, or a path
    hits = archive.search("North Korean soldiers", limit=20)
    article = archive.article(hits[0].id)                     # or a URL, or any URL variant of it
    for a in archive.articles(source="rbc-ukraine", since="2025-01-01"): ...
    result = ingest.poll("config/feeds.yaml", database="sqlite:///data/archive.db")

The CLI's read commands (``search``, ``show``, ``export``, ``stats``, ``sources``, ``runs``) are this
API printed. Opening an archive checks its schema version with one cheap read and never migrates it
(``ingest db upgrade`` does); SQLAlchemy, and nothing heavier, is imported when it is first used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.pipeline.results import PollResult
    from ingest.store.search import Filters

STREAM_CHUNK = 200  # articles read per query by Archive.articles: memory stays flat at any archive size


def _when(value: str | datetime | None, name: str) -> datetime | None:
    """A date argument: a datetime (naive = UTC) or an ISO 8601 string such as ``2025-01-01``."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{name}={value!r} is not a date (use YYYY-MM-DD or an ISO 8601 date-time)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def database_url(database: str | Path) -> str:
    """A SQLAlchemy URL as is; a file path becomes a SQLite URL."""
    text = str(database)
    return text if "://" in text else f"sqlite:///{text}"


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result, best first."""

    id: int
    title: str | None
    url: str
    source: str | None
    published_at: datetime | None
    score: float | None
    snippet: str | None
    language: str | None = None
    story_id: int | None = None  # the near-duplicate cluster (with collapse=True: one hit per story)


@dataclass(frozen=True, slots=True)
class Sighting:
    """A feed entry that listed the article."""

    source: str | None
    feed_url: str
    guid: str | None
    link: str | None
    feed_title: str | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    status: str


@dataclass(frozen=True, slots=True)
class FetchRecord:
    """One HTTP request behind the article (feed, page, re-check), as the archive recorded it."""

    kind: str
    url: str
    final_url: str | None
    status: int | None
    fetched_at: datetime | None
    sha256: str | None
    error_kind: str | None
    duration_ms: int | None
    raw_bytes_kept: bool


@dataclass(frozen=True, slots=True)
class Version:
    """One revision of the article's text, oldest first."""

    version: int
    title: str | None
    text: str
    content_sha256: str
    fetched_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoryMember:
    """Another article of the same story (a syndicated copy or a near duplicate)."""

    id: int
    title: str | None
    url: str
    similarity: float | None
    method: str | None


@dataclass
class Article:
    """An archived article. Its provenance (sightings, fetches, versions, story) is read on first use."""

    id: int
    url: str
    canonical_url: str
    source: str | None
    title: str | None
    text: str
    authors: str | None
    published_at: datetime | None
    language: str | None
    tags: list[str]
    sitename: str | None
    first_seen_at: datetime | None
    fetched_at: datetime | None
    content_sha256: str
    extractor: str | None
    extractor_version: str | None
    version: int
    gone_since: datetime | None
    gone_status: int | None
    feed_urls: list[str] = field(default_factory=list)
    _archive: Archive | None = field(default=None, repr=False, compare=False)

    @classmethod
    def _from_record(cls, r: dict[str, Any], archive: Archive) -> Article:
        return cls(id=r["id"], url=r["url"], canonical_url=r["canonical_url"], source=r["source"],
                   title=r["title"], text=r["text"], authors=r["authors"], published_at=_dt(r["published_at"]),
                   language=r["language"], tags=list(r["tags"]), sitename=r["sitename"],
                   first_seen_at=_dt(r["first_seen_at"]), fetched_at=_dt(r["fetched_at"]),
                   content_sha256=r["content_sha256"], extractor=r["extractor"],
                   extractor_version=r["extractor_version"], version=r["version"],
                   gone_since=_dt(r["gone_since"]), gone_status=r["gone_status"], feed_urls=list(r["feed_urls"]),
                   _archive=archive)

    @cached_property
    def _provenance(self) -> dict[str, Any]:
        assert self._archive is not None
        return self._archive._provenance(self.id)

    @cached_property
    def sightings(self) -> list[Sighting]:
        return [Sighting(source=e["source"], feed_url=e["feed_url"], guid=e["guid"], link=e["link"],
                         feed_title=e["feed_title"], first_seen_at=_dt(e["first_seen_at"]),
                         last_seen_at=_dt(e["last_seen_at"]), status=e["status"])
                for e in self._provenance["sightings"]]

    @cached_property
    def fetches(self) -> list[FetchRecord]:
        """Every request behind the article: the feed fetches that listed it, its page fetches, oldest first."""
        seen: dict[int, dict[str, Any]] = {}
        for e in self._provenance["sightings"]:
            for f in (e["feed_fetch"], e["page_fetch"]):
                if f:
                    seen[f["id"]] = f
        for x in self._provenance["extractions"]:
            if x["fetch"]:
                seen[x["fetch"]["id"]] = x["fetch"]
        return [FetchRecord(kind=f["kind"], url=f["url"], final_url=f["final_url"], status=f["status"],
                            fetched_at=_dt(f["started_at"]), sha256=f["sha256"], error_kind=f["error_kind"],
                            duration_ms=f["duration_ms"], raw_bytes_kept=f["raw_bytes_kept"])
                for _, f in sorted(seen.items())]

    @cached_property
    def versions(self) -> list[Version]:
        assert self._archive is not None
        return self._archive._versions(self.id)

    @cached_property
    def story(self) -> list[StoryMember]:
        """The other members of the article's story (empty when it stands alone)."""
        assert self._archive is not None
        return self._archive._story(self.id)

    def as_dict(self) -> dict[str, Any]:
        """The export record (what ``ingest export`` writes for this article)."""
        assert self._archive is not None
        return self._archive._records([self.id])[0]


class Archive:
    """An ingest archive: ``Archive("sqlite:///data/archive.db")``, ``Archive("data/archive.db")`` or a
    PostgreSQL URL. Read-only use never changes the database; the schema must be the one this ingest
    writes (``ingest db upgrade`` migrates an older one). Use it as a context manager, or ``close()``."""

    def __init__(self, database: str | Path, *, create: bool = False) -> None:
        from ingest.locations import missing_sqlite_file
        from ingest.store.db import open_archive, open_engine

        self.url = database_url(database)
        if not create and (missing := missing_sqlite_file(self.url)) is not None:
            from ingest.errors import DatabaseError

            raise DatabaseError(f"no archive at {missing} (run a poll, or `ingest demo`, to create one; "
                                "or Archive(..., create=True))")
        self.engine: Engine = open_archive(self.url) if create else open_engine(self.url)
        if not create:
            from ingest.store.db import check_schema

            check_schema(self.engine, create_if_empty=False)

    @classmethod
    def read_only(cls, database: str | Path) -> Archive:
        """The archive on a read-only connection (``ingest web``): the database refuses any write made
        through it (SQLite ``mode=ro``, PostgreSQL read-only transactions). Never creates or migrates."""
        from ingest.store.readonly import open_readonly

        archive = cls.__new__(cls)
        archive.url = database_url(database)
        archive.engine = open_readonly(archive.url)
        return archive

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        from ingest.store.db import redacted

        return f"Archive({redacted(self.url)!r})"

    # --- queries ---------------------------------------------------------------------------------

    @staticmethod
    def _filters(source: str | Sequence[str] | None, tag: str | Sequence[str] | None,
                 since: str | datetime | None, until: str | datetime | None, language: str | None) -> Filters:
        from ingest.store.search import Filters

        return Filters(sources=_names(source), tags=_names(tag), since=_when(since, "since"),
                       until=_when(until, "until"), language=language)

    def search(self, query: str | None = None, *, source: str | Sequence[str] | None = None,
               tag: str | Sequence[str] | None = None, since: str | datetime | None = None,
               until: str | datetime | None = None, language: str | None = None, limit: int = 20,
               offset: int = 0, collapse: bool = False, raw: bool = False, order: str = "relevance") -> list[Hit]:
        """Full-text search, best first (newest first without a query). Words are ANDed; ``"phrases"``,
        ``OR`` and ``-word`` work as in a web search box. ``collapse``: one hit per story;
        ``order="newest"``: newest first."""
        from ingest.store.search import search as run_search
        from ingest.store.stories import clusters_of

        filters = self._filters(source, tag, since, until, language)
        if collapse:
            from ingest.store.stories import search_collapsed as run_search  # noqa: F811
        hits = run_search(self.engine, query, filters, limit=limit, offset=offset, raw=raw, order=order)
        ids = [h.article_id for h in hits]
        records = {r["id"]: r for r in self._records(ids)}
        stories = clusters_of(self.engine, ids)
        out = []
        for h in hits:
            r = records.get(h.article_id)
            if r is None:
                continue
            out.append(Hit(id=h.article_id, title=r["title"], url=r["canonical_url"], source=r["source"],
                           published_at=_dt(r["published_at"] or r["first_seen_at"]), score=h.score,
                           snippet=h.snippet, language=r["language"], story_id=stories.get(h.article_id)))
        return out

    def article(self, id_or_url: int | str) -> Article:
        """An article by id, canonical URL, or any URL that led to it. ``KeyError`` when there is none."""
        from ingest.store.db import read_connection
        from ingest.store.query import resolve_article

        with read_connection(self.engine) as s:
            article_id = resolve_article(s, str(id_or_url))
        if article_id is None:
            raise KeyError(f"no article {id_or_url!r} in this archive")
        return Article._from_record(self._records([article_id])[0], self)

    def articles(self, *, query: str | None = None, source: str | Sequence[str] | None = None,
                 tag: str | Sequence[str] | None = None, since: str | datetime | None = None,
                 until: str | datetime | None = None, language: str | None = None) -> Iterator[Article]:
        """Every matching article, oldest first, streamed in chunks (constant memory)."""
        from ingest.store.query import export_ids

        ids = export_ids(self.engine, query, self._filters(source, tag, since, until, language))
        for i in range(0, len(ids), STREAM_CHUNK):
            for record in self._records(ids[i:i + STREAM_CHUNK]):
                yield Article._from_record(record, self)

    def export(self, path: str | Path, *, format: str = "jsonl", query: str | None = None,
               source: str | Sequence[str] | None = None, tag: str | Sequence[str] | None = None,
               since: str | datetime | None = None, until: str | datetime | None = None,
               language: str | None = None, all_versions: bool = False) -> int:
        """Write the matching articles to ``path``, oldest first, as ``ingest export`` does: ``jsonl``,
        ``csv`` or ``parquet`` (typed columns, UTC timestamps, tags as structs, in row groups). Returns
        the number of records written."""
        from ingest.store.query import export_ids

        if format not in ("jsonl", "csv", "parquet"):
            raise UsageError(f"format={format!r}: use 'jsonl', 'csv' or 'parquet'")
        ids = export_ids(self.engine, query, self._filters(source, tag, since, until, language))
        if format == "parquet":
            from ingest.exports.parquet import export_parquet

            return export_parquet(self.engine, ids, path, all_versions=all_versions).rows
        from ingest.exports.records import export_records, write_csv, write_jsonl

        write = write_csv if format == "csv" else write_jsonl
        with open(path, "w", encoding="utf-8", newline="") as stream:
            return write(export_records(self.engine, ids, all_versions=all_versions), stream)

    def sources(self) -> list[dict[str, Any]]:
        """Per source: state (failing first is the CLI's order), last poll, error kind and detail, counts."""
        from ingest.store.db import read_connection
        from ingest.store.query import sources_status

        with read_connection(self.engine) as s:
            return sources_status(s)

    def stats(self) -> dict[str, Any]:
        from ingest.store.db import read_connection
        from ingest.store.query import stats

        with read_connection(self.engine) as s:
            return stats(s)

    def runs(self, *, limit: int = 20, kind: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        from ingest.store.db import read_connection
        from ingest.store.query import recent_runs

        with read_connection(self.engine) as s:
            return recent_runs(s, limit=limit, kind=kind, status=status)

    # --- what Article reads lazily ---------------------------------------------------------------

    def _records(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        from ingest.store.db import read_connection
        from ingest.store.query import article_records

        with read_connection(self.engine) as s:
            return article_records(s, list(ids))

    def _provenance(self, article_id: int) -> dict[str, Any]:
        from ingest.store.db import read_connection
        from ingest.store.query import provenance

        with read_connection(self.engine) as s:
            return provenance(s, article_id)

    def _versions(self, article_id: int) -> list[Version]:
        from ingest.store.db import read_session
        from ingest.store.revisions import versions

        with read_session(self.engine) as s:
            rows = versions(s, article_id)
        return [Version(version=v["version"], title=v["title"], text=v["text"], content_sha256=v["content_sha256"],
                        fetched_at=v["fetched_at"]) for v in rows]

    def _story(self, article_id: int) -> list[StoryMember]:
        from ingest.store.db import read_connection
        from ingest.store.query import cluster_of

        with read_connection(self.engine) as s:
            cluster = cluster_of(s, article_id)
        if cluster is None:
            return []
        return [StoryMember(id=m["article_id"], title=m["title"], url=m["url"], similarity=m["similarity"],
                            method=m["method"]) for m in cluster["members"] if m["article_id"] != article_id]


def poll(config: str | Path = "config/feeds.yaml", *, database: str | Path | None = None,
         sources: Sequence[str] | None = None, due_only: bool = False) -> PollResult:
    """Poll the configured feeds once, in this process (no Prefect server): fetch, extract, deduplicate
    and archive every new article. ``database`` overrides the config's ``database:``."""
    from ingest.config import load_config, resolve_database_url
    from ingest.orchestrate.runtime import shared_extractor
    from ingest.pipeline.poll import poll as run_poll
    from ingest.store.db import open_archive

    cfg = load_config(str(config))
    engine = open_archive(resolve_database_url(None if database is None else database_url(database), cfg))
    try:
        return run_poll(cfg, engine, sources=sources, due_only=due_only, extractor=shared_extractor(cfg.extract))
    finally:
        engine.dispose()
