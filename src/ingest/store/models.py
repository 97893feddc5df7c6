"""The archive's tables (SQLModel on SQLAlchemy 2).

Provenance chain, each link a foreign key:
    source -> fetch (the feed request) -> entry (the feed item; doubles as the sighting)
           -> fetch (the page request) -> blob (raw bytes) -> extraction (extractor + version)
           -> article (current text) ; every row carries the run that made it (run -> Prefect flow run).

Uniqueness that makes the pipeline idempotent lives here, as constraints, not as Python checks:
``articles.canonical_url``, ``url_aliases.url``, ``text_hashes.sha256``, ``entries(source_id, entry_key)``,
``sources.name``, ``blobs.sha256``. Concurrent runs race on inserts and the loser reads the winner's row.

Datetimes are stored as naive UTC and returned timezone-aware (see :class:`UTCDateTime`): SQLite has no
time zones and PostgreSQL ``timestamp without time zone`` keeps both dialects identical.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from ingest.store.types import UTCDateTime

__all__ = ["UTCDateTime"]  # (re-exported: it was defined here)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _dt(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json(default: Any = None) -> Any:
    if default is None:
        return Field(default=None, sa_column=Column(JSON, nullable=True))
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


def _text(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(Text, nullable=nullable))


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)  # poll | backfill | reprocess
    status: str = Field(default="running", max_length=16)  # running|completed|failed|interrupted|abandoned
    started_at: datetime = _dt(nullable=False)
    finished_at: datetime | None = _dt()
    ingest_version: str = Field(max_length=64)
    prefect_flow_run_id: str | None = Field(default=None, max_length=64, index=True)
    prefect_flow_name: str | None = Field(default=None, max_length=128)
    prefect_deployment: str | None = Field(default=None, max_length=256)
    parameters: dict[str, Any] | None = _json()
    summary: dict[str, Any] | None = _json()
    error: str | None = _text()
    # the process running it (migration 0004): host, pid and the pid's start time
    owner: str | None = Field(default=None, max_length=128)


class Source(SQLModel, table=True):
    """A configured feed and its fetch state, advanced with the items it produced."""

    __tablename__ = "sources"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    feed_url: str = Field(sa_column=Column(Text, nullable=False))
    language: str | None = Field(default=None, max_length=16)
    created_at: datetime = _dt(nullable=False)
    # conditional GET validators, and the body hash that decides when validators lie
    etag: str | None = _text()
    last_modified: str | None = Field(default=None, max_length=64)
    body_sha256: str | None = Field(default=None, max_length=64)
    feed_title: str | None = _text()
    # health
    last_polled_at: datetime | None = _dt()
    last_success_at: datetime | None = _dt()
    last_new_item_at: datetime | None = _dt()
    last_status: str | None = Field(default=None, max_length=16)  # ok | not_modified | unchanged | error
    error_kind: str | None = Field(default=None, max_length=32)
    error_detail: str | None = _text()
    error_count: int = 0  # consecutive failed polls; a success resets it
    failing_since: datetime | None = _dt()
    next_poll_at: datetime | None = _dt()
    feed_warning: str | None = _text()
    # scheduling (migration 0003): a lease against overlapping polls, and the adaptive interval
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = _dt()
    poll_interval_s: int | None = None
    # conditional GET health (migration 0005): when a feed body last arrived (a 200, not a 304), and
    # since when its validators are known to lie (a 304 or an unchanged ETag for a changed body)
    last_body_at: datetime | None = _dt()
    validators_unreliable_since: datetime | None = _dt()


class Blob(SQLModel, table=True):
    """Raw response bytes, content-addressed (sha256 of the uncompressed bytes), zlib-compressed."""

    __tablename__ = "blobs"
    sha256: str = Field(primary_key=True, max_length=64)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    compression: str = Field(default="zlib", max_length=16)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _dt(nullable=False)


class Fetch(SQLModel, table=True):
    """One HTTP request attempt (every retry is its own row)."""

    __tablename__ = "fetches"
    __table_args__ = (Index("ix_fetches_url", "url"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, foreign_key="runs.id", index=True)
    source_id: int | None = Field(default=None, foreign_key="sources.id", index=True)
    kind: str = Field(max_length=16)  # feed | page | robots
    url: str = Field(sa_column=Column(Text, nullable=False))
    final_url: str | None = _text()
    redirects: list[str] | None = _json()
    attempt: int = 1
    status: int | None = None
    headers: dict[str, str] | None = _json()
    n_bytes: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    sha256: str | None = Field(default=None, max_length=64)
    blob_sha256: str | None = Field(default=None, max_length=64, foreign_key="blobs.sha256")
    started_at: datetime = _dt(nullable=False)
    duration_ms: int = 0
    error_kind: str | None = Field(default=None, max_length=32, index=True)
    error_detail: str | None = _text()
    # the URLs reached through <meta http-equiv="refresh"> (migration 0005), also in ``redirects``
    meta_refresh: list[str] | None = _json()
    # bytes someone else fetched (migration 0009): the WARC record they came from (file or URL, offset
    # of the record's start, WARC-Record-ID), the Wayback capture URL, and when the original server
    # answered (WARC-Date or the capture's timestamp)
    warc_file: str | None = _text()
    warc_offset: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    warc_record_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True, index=True))
    capture_url: str | None = _text()
    captured_at: datetime | None = _dt()


class Article(SQLModel, table=True):
    """One story at one canonical URL; title and text are the current version (indexed for search)."""

    __tablename__ = "articles"
    id: int | None = Field(default=None, primary_key=True)
    canonical_url: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    url: str = Field(sa_column=Column(Text, nullable=False))  # the URL it was first fetched from
    source_id: int = Field(foreign_key="sources.id", index=True)  # the first source that listed it
    title: str | None = _text()
    text: str = Field(sa_column=Column(Text, nullable=False))
    authors: list[str] = _json(list)
    published_at: datetime | None = _dt(index=True)  # UTC; a day-only value at 00:00 (precision "date")
    language: str | None = Field(default=None, max_length=16, index=True)
    sitename: str | None = _text()
    description: str | None = _text()
    # where the metadata came from (migration 0006, ingest.extract.metadata)
    published_source: str | None = Field(default=None, max_length=16)  # jsonld|meta|time-element|htmldate|url|feed
    published_precision: str | None = Field(default=None, max_length=8)  # datetime | date
    published_local: str | None = _text()  # as the page wrote it, with its own offset
    modified_at: datetime | None = _dt()
    title_raw: str | None = _text()  # the page's <title>
    organisations: list[str] | None = _json()  # publishers/newsrooms credited; authors: people, agencies
    comments: str | None = _text()  # readers' comments, apart from the text
    language_declared: str | None = Field(default=None, max_length=35)
    content_sha256: str = Field(max_length=64, index=True)
    text_chars: int = 0
    first_seen_at: datetime = _dt(nullable=False, index=True)
    fetched_at: datetime = _dt(nullable=False)
    updated_at: datetime = _dt(nullable=False)
    # articles <-> extractions is a cycle; use_alter lets PostgreSQL add this key after both tables exist
    current_extraction_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("extractions.id", use_alter=True, name="fk_articles_current_extraction"),
        nullable=True))
    run_id: int | None = Field(default=None, foreign_key="runs.id")


class Extraction(SQLModel, table=True):
    """One run of an extractor over one fetched page: which extractor, which version, which options."""

    __tablename__ = "extractions"
    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="articles.id", index=True)
    fetch_id: int | None = Field(default=None, foreign_key="fetches.id", index=True)  # (0010: drift reads)
    blob_sha256: str | None = Field(default=None, max_length=64, foreign_key="blobs.sha256")
    run_id: int | None = Field(default=None, foreign_key="runs.id")
    extractor: str = Field(max_length=64)
    extractor_version: str = Field(max_length=32)
    options: dict[str, Any] = _json(dict)
    created_at: datetime = _dt(nullable=False)
    url: str = Field(sa_column=Column(Text, nullable=False))  # the URL given to the extractor
    title: str | None = _text()
    text: str | None = _text()  # NULL: the article's current text (store/textcopies.py)
    content_sha256: str = Field(max_length=64)
    meta: dict[str, Any] = _json(dict)  # authors, date, language, sitename, categories, tags, canonical …


class Entry(SQLModel, table=True):
    """A feed item as one source listed it: the sighting of an article, or the record of its failure."""

    __tablename__ = "entries"
    # (0012) what `ingest sources` counts per source, read from indexes alone: its articles, its failed
    # items (a partial index: failures are few), its items of the last days
    __table_args__ = (UniqueConstraint("source_id", "entry_key", name="uq_entries_source_key"),
                      Index("ix_entries_source_article", "source_id", "article_id"),
                      Index("ix_entries_failed", "source_id", "error_kind", sqlite_where=text("status = 'failed'"),
                            postgresql_where=text("status = 'failed'")),
                      Index("ix_entries_first_seen", "first_seen_at", "source_id"))
    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="sources.id", index=True)
    entry_key: str = Field(sa_column=Column(Text, nullable=False))
    feed_url: str = Field(sa_column=Column(Text, nullable=False))
    feed_fetch_id: int | None = Field(default=None, foreign_key="fetches.id")
    guid: str | None = _text()
    link: str | None = _text()  # as listed (absolute), before canonicalisation
    link_error: str | None = _text()
    title: str | None = _text()
    summary: str | None = _text()
    authors: list[str] = _json(list)
    categories: list[str] = _json(list)
    published_at: datetime | None = _dt()
    updated_at: datetime | None = _dt()
    first_seen_at: datetime = _dt(nullable=False)
    last_seen_at: datetime = _dt(nullable=False)
    run_id: int | None = Field(default=None, foreign_key="runs.id")
    # outcome
    status: str = Field(default="pending", max_length=16, index=True)  # pending|archived|duplicate|failed
    article_id: int | None = Field(default=None, foreign_key="articles.id", index=True)
    page_fetch_id: int | None = Field(default=None, foreign_key="fetches.id", index=True)  # (0010: drift reads)
    error_kind: str | None = Field(default=None, max_length=32)
    error_detail: str | None = _text()
    attempts: int = 0
    next_attempt_at: datetime | None = _dt()
    # when the feed last changed the item's title or summary (migration 0005): a real change of the
    # listing, unlike a bumped <updated> date, makes the article due for a re-check
    changed_at: datetime | None = _dt()


class UrlAlias(SQLModel, table=True):
    """Every canonicalised URL known to lead to an article: listed links, fetched URLs, duplicates."""

    __tablename__ = "url_aliases"
    url: str = Field(sa_column=Column(Text, primary_key=True))
    article_id: int = Field(foreign_key="articles.id", index=True)
    kind: str = Field(max_length=16)  # canonical | listed | fetched | duplicate
    created_at: datetime = _dt(nullable=False)


class TextHash(SQLModel, table=True):
    """The normalised-text hash of every archived text; its primary key makes exact dedup race-free."""

    __tablename__ = "text_hashes"
    sha256: str = Field(primary_key=True, max_length=64)
    article_id: int = Field(foreign_key="articles.id", index=True)
    created_at: datetime = _dt(nullable=False)


class ArticleTag(SQLModel, table=True):
    """A tag on an article, with where it came from: the feed item's categories (``feed``), the page's
    own categories and tags (``page``), taxonomy rules (``rule``) or key phrases (``keyphrase``)."""

    __tablename__ = "article_tags"
    __table_args__ = (UniqueConstraint("article_id", "tag", "origin", name="uq_article_tags"),)
    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="articles.id", index=True)
    tag: str = Field(max_length=128, index=True)
    label: str | None = _text()
    origin: str = Field(max_length=16)
    rule_version: str | None = Field(default=None, max_length=64)
    score: float | None = None
    created_at: datetime = _dt(nullable=False)


class BackfillCheckpoint(SQLModel, table=True):
    """One date window of one backfill of one source: a ``done`` window is never redone."""

    __tablename__ = "backfill_checkpoints"
    __table_args__ = (UniqueConstraint("source_id", "via", "window_start", "window_end",
                                       name="uq_backfill_window"),)
    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="sources.id")
    via: str = Field(sa_column=Column(Text, nullable=False))  # sitemap | feed | urls:<file>
    window_start: datetime = _dt(nullable=False)
    window_end: datetime = _dt(nullable=False)
    status: str = Field(default="pending", max_length=16)  # pending | done
    urls: int = 0
    summary: dict[str, Any] | None = _json()
    run_id: int | None = Field(default=None, foreign_key="runs.id")
    updated_at: datetime = _dt(nullable=False)


class HostSlot(SQLModel, table=True):
    """A request slot on one host, leased by whichever process (any worker) is fetching from it."""

    __tablename__ = "host_slots"
    host: str = Field(primary_key=True, max_length=255)
    slot: int = Field(primary_key=True)
    owner: str | None = Field(default=None, max_length=128)
    expires_at: datetime | None = _dt()
    last_start_at: datetime | None = _dt()


# --- issue 3: revisions, near-duplicates and story clusters (migration 0002) ------------------------

class ArticleVersion(SQLModel, table=True):
    """One text of an article as fetched at one time; ``articles.version`` names the latest. A re-fetch
    whose text differs only in whitespace or punctuation is not a new version."""

    __tablename__ = "article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version", name="uq_article_versions"),)
    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="articles.id", index=True)
    version: int
    title: str | None = _text()
    text: str | None = _text()  # NULL: the article's current text (store/textcopies.py)
    content_sha256: str = Field(max_length=64)
    fetched_at: datetime = _dt(nullable=False)
    fetch_id: int | None = Field(default=None, foreign_key="fetches.id")
    extraction_id: int | None = Field(default=None, foreign_key="extractions.id")
    run_id: int | None = Field(default=None, foreign_key="runs.id")


class SourceCount(SQLModel, table=True):
    """A count per source, kept by triggers (store/sourcecounts.py): ``what`` is ``articles``,
    ``status:<status>`` or ``language:<code>``. Read by ``ingest sources`` and ``ingest stats``."""

    __tablename__ = "source_counts"
    source_id: int = Field(sa_column=Column(Integer, ForeignKey("sources.id"), primary_key=True))
    what: str = Field(primary_key=True, max_length=64)
    n: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class ArticleState(SQLModel, table=True):
    """Per-article state added after the articles table: the latest version, the revision-check schedule,
    the MinHash signature and the story cluster. One row per article (kept apart so the shared articles
    table is not altered)."""

    __tablename__ = "article_state"
    article_id: int = Field(sa_column=Column(Integer, ForeignKey("articles.id"), primary_key=True))
    version: int = 1
    version_key: str | None = Field(default=None, max_length=64)  # hash of the letters-and-digits text
    checks: int = 0  # revision re-checks made so far
    checked_at: datetime | None = _dt()  # when a re-check was last queued
    listed_updated_at: datetime | None = _dt()  # the feeds' newest ``updated`` date when last fetched
    next_check_at: datetime | None = _dt(index=True)
    signature: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    cluster_id: int | None = Field(default=None, index=True)
    # the page is gone (404/410 on a re-check) since this time, with this status (migration 0005)
    gone_since: datetime | None = _dt()
    gone_status: int | None = None


class ArticleEvent(SQLModel, table=True):
    """What happened to a published page after it was archived: it disappeared (``gone``, with the HTTP
    status: a 404 that later turns 410 is a second event) or came back (``restored``). The archived
    article is kept either way; researchers study removals."""

    __tablename__ = "article_events"
    __table_args__ = (Index("ix_article_events_article", "article_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="articles.id")
    kind: str = Field(max_length=16)  # gone | restored
    at: datetime = _dt(nullable=False)
    http_status: int | None = None
    url: str = Field(sa_column=Column(Text, nullable=False))  # the URL re-checked
    fetch_id: int | None = Field(default=None, foreign_key="fetches.id")
    run_id: int | None = Field(default=None, foreign_key="runs.id")


class LshBand(SQLModel, table=True):
    """MinHash LSH buckets: candidates for an article are the rows sharing any (band, bucket): an indexed
    lookup whose cost does not grow with the archive."""

    __tablename__ = "lsh_bands"
    __table_args__ = {"sqlite_with_rowid": False}  # the key is all it holds (migration 0014)
    band: int = Field(primary_key=True)
    bucket: int = Field(sa_column=Column(BigInteger, primary_key=True))
    article_id: int = Field(sa_column=Column(Integer, ForeignKey("articles.id"), primary_key=True))


class TitleHash(SQLModel, table=True):
    """Normalised-title hashes per source, for title dedup over a time window."""

    __tablename__ = "title_hashes"
    __table_args__ = (Index("ix_title_hashes_lookup", "source_id", "title_sha256", "seen_at"),)
    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="sources.id")
    title_sha256: str = Field(max_length=64)
    article_id: int = Field(foreign_key="articles.id", index=True)
    seen_at: datetime = _dt(nullable=False)


class StoryCluster(SQLModel, table=True):
    """A story: articles whose texts are near-duplicates of its first article."""

    __tablename__ = "story_clusters"
    id: int | None = Field(default=None, primary_key=True)
    first_article_id: int = Field(sa_column=Column(Integer, ForeignKey("articles.id"), nullable=False,
                                                  unique=True))
    created_at: datetime = _dt(nullable=False)


class ClusterMember(SQLModel, table=True):
    """An article's membership in a story (one story per article; members are never deleted)."""

    __tablename__ = "cluster_members"
    article_id: int = Field(sa_column=Column(Integer, ForeignKey("articles.id"), primary_key=True))
    cluster_id: int = Field(foreign_key="story_clusters.id", index=True)
    similarity: float  # estimated Jaccard similarity to the cluster's first article
    method: str = Field(max_length=16)  # first | minhash | containment | title
    created_at: datetime = _dt(nullable=False)


# --- issue 10: story merges (migration 0008) ---------------------------------------------------------

class StoryMerge(SQLModel, table=True):
    """A story merged into an older one, when an article linked to both (see ingest.analyse.stories).
    The merged story's members now carry the surviving id; its ``story_clusters`` row stays, so an old
    story id resolves through this table. A story is merged at most once (the primary key), always into
    a lower id (the check), so merges never form a cycle, whatever concurrent runs do."""

    __tablename__ = "story_merges"
    __table_args__ = (CheckConstraint("into_cluster_id < from_cluster_id", name="ck_story_merges_older"),)
    from_cluster_id: int = Field(sa_column=Column(Integer, ForeignKey("story_clusters.id"), primary_key=True,
                                                  autoincrement=False))
    into_cluster_id: int = Field(foreign_key="story_clusters.id", index=True)
    at: datetime = _dt(nullable=False)
    reason: str = Field(max_length=16)  # minhash | containment | title: the link into the merged story
    similarity: float  # that link's score (Jaccard estimate or containment)
    article_id: int | None = Field(default=None, foreign_key="articles.id")  # whose placement merged them
    members: int = 0  # members moved into the surviving story


class SourceDrift(SQLModel, table=True):
    """A source's extraction drift, judged when its pages are stored (ingest.store.driftstate): the
    verdict the read commands show, and the walk the next pages go on from (migration 0010)."""

    __tablename__ = "source_drift"
    source_id: int = Field(sa_column=Column(Integer, ForeignKey("sources.id"), primary_key=True, autoincrement=False))
    drifting: bool = False
    drifting_since: datetime | None = _dt()
    judged: bool = False
    last_fetch_id: int = 0  # the newest page fetch walked: the next update reads the source's later ones
    updated_at: datetime = _dt(nullable=False)
    verdict: dict[str, Any] = _json(dict)  # DriftState.as_dict(): what `ingest sources` and the web show
    rolling: dict[str, Any] = _json(dict)  # ingest.analyse.driftwalk.walk_to_json (last: the big one)
