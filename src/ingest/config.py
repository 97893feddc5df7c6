"""Settings and the ``feeds.yaml`` schema.

This is the only module that reads the environment or configuration files; everything else receives
a :class:`Config` (or one of its parts) as an argument. Unknown keys are errors: operators' typos must
not silently become defaults.

Resolution order for the archive database: ``--db`` > ``INGEST_DATABASE_URL`` > ``database:`` in the
config file > ``sqlite:///data/archive.db``.

A broken *source entry* does not stop the other sources: :func:`load_config` drops it and reports it
in :attr:`Config.invalid_sources` (the CLI prints each as one line and exits 2 after polling the rest).
Anything else wrong with the file is a :class:`~ingest.errors.ConfigError` at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ingest import PROJECT_URL, __version__
from ingest.cron import cron_problem, timezone_problem
from ingest.errors import ConfigError
from ingest.locations import DATABASE_ENV, DEFAULT_CONFIG_PATH, DEFAULT_DATABASE_URL, resolve_database_url

__all__ = ["DATABASE_ENV", "DEFAULT_CONFIG_PATH", "DEFAULT_DATABASE_URL", "Config", "load_config", "parse_config",
           "resolve_database_url"]

DEFAULT_USER_AGENT = f"ingest/{__version__} (+{PROJECT_URL})"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchSettings(_Strict):
    user_agent: str = DEFAULT_USER_AGENT
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 20.0
    max_bytes: Annotated[int, Field(gt=0)] = 10_000_000
    per_host_concurrency: Annotated[int, Field(ge=1, le=64)] = 2
    per_host_delay_s: Annotated[float, Field(ge=0, le=600)] = 1.0
    respect_robots: bool = True
    allow_private_networks: bool = False
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    # Retries on connect errors, timeouts, 429 and 5xx, with exponential backoff and full jitter.
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff_base_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    backoff_max_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    # A Retry-After longer than this is not waited out inside a run: the fetch fails as rate_limited
    # and the source's next poll is pushed back instead.
    retry_after_max_s: Annotated[float, Field(ge=0, le=3600)] = 60.0
    # Total concurrent page fetches of one poll run (across hosts).
    max_connections: Annotated[int, Field(ge=1, le=256)] = 16


class ExtractSettings(_Strict):
    # Texts shorter than this are recorded as empty_extraction, not archived.
    min_text_chars: Annotated[int, Field(ge=0)] = 200
    # Worker processes for trafilatura (it is not thread-safe); null means one per core.
    workers: Annotated[int | None, Field(ge=1, le=64)] = None
    # Recorded with every extraction. Readers' comments are always extracted apart (stored in the
    # article's ``comments``); include_comments: true appends them to the text, as trafilatura.extract does.
    include_comments: bool = False
    include_tables: bool = True
    favor_precision: bool = False
    favor_recall: bool = False

    def trafilatura_options(self) -> dict[str, Any]:
        return {
            "include_comments": self.include_comments,
            "include_tables": self.include_tables,
            "favor_precision": self.favor_precision,
            "favor_recall": self.favor_recall,
        }


def _valid_cron(value: str | None) -> str | None:
    if value is not None and (problem := cron_problem(value)):
        raise ValueError(problem)
    return value


class PollSettings(_Strict):
    """Adaptive polling bounds: a scheduled poll polls a source only when its next poll is due."""

    interval_s: Annotated[int, Field(ge=60, le=7 * 86400)] = 1800  # the first interval of a new source
    min_interval_s: Annotated[int, Field(ge=60, le=7 * 86400)] = 300
    max_interval_s: Annotated[int, Field(ge=60, le=30 * 86400)] = 6 * 3600
    # How long one run may hold a source (against overlapping polls) before another run may take it.
    lease_s: Annotated[int, Field(ge=60, le=86400)] = 3600


class DedupSettings(_Strict):
    """Near-duplicate detection and story clustering (see ingest.analyse.neardup)."""

    # estimated Jaccard similarity of word shingles at or above which two texts are one story
    similarity: Annotated[float, Field(gt=0, le=1)] = 0.5
    shingle_words: Annotated[int, Field(ge=1, le=10)] = 3
    shingle_chars: Annotated[int, Field(ge=1, le=10)] = 3  # for CJK and Thai runs
    # LSH: bands x rows MinHash permutations; changing these needs `ingest reprocess` to rebuild the index
    lsh_bands: Annotated[int, Field(ge=1, le=256)] = 42
    lsh_rows: Annotated[int, Field(ge=1, le=32)] = 3
    # a re-post under a new URL with the same normalised title, by the same source, within this window
    title_window_days: Annotated[float, Field(ge=0, le=365)] = 7.0
    # ... and at least this estimated text similarity (recurring headlines head different texts)
    title_similarity: Annotated[float, Field(ge=0, le=1)] = 0.2
    # share of the shorter text's shingles found in the longer at or above which two texts are one story
    # (truncated copies); for shorter texts of at least containment_min_shingles shingles; 1.0 = exact only
    containment: Annotated[float, Field(gt=0, le=1)] = 0.8
    containment_min_shingles: Annotated[int, Field(ge=1, le=100_000)] = 40
    # shingles of the lead index (candidates for truncated copies); 0 turns it off; a change applies to
    # articles stored from then on
    lead_shingles: Annotated[int, Field(ge=0, le=10_000)] = 40


class BackfillSettings(_Strict):
    """Where backfills read the public archives (ingest.interop): a mirror may stand in for either."""

    ccnews_url: str = "https://data.commoncrawl.org/"  # holds crawl-data/CC-NEWS/YYYY/MM/warc.paths.gz
    wayback_url: str = "https://web.archive.org/"  # holds cdx/search/cdx and web/{timestamp}id_/{url}
    # between request starts on the Wayback host (CDX pages and captures): the Internet Archive throttles
    # (429) clients that go faster than about one request a second
    wayback_delay_s: Annotated[float, Field(ge=0, le=600)] = 1.0
    wayback_page_size: Annotated[int, Field(ge=1, le=100_000)] = 1000  # CDX rows per page (one checkpoint)

    @field_validator("ccnews_url", "wayback_url")
    @classmethod
    def _base_is_http(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value, re.I):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value if value.endswith("/") else value + "/"


class SourceConfig(_Strict):
    name: str
    feed: str
    language: str | None = None
    enabled: bool = True
    # Cron expression of this source's own poll schedule (in the top-level timezone); else the default.
    schedule: str | None = None
    # The site's hosts, for backfills from WARC files and the Wayback Machine (a host also covers its
    # subdomains); without it, the feed's registrable domain.
    hosts: tuple[str, ...] | None = None

    @field_validator("hosts")
    @classmethod
    def _hosts_are_names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        out = tuple(h.strip().lower().rstrip(".") for h in value)
        for h in out:
            if not re.match(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?$", h):
                raise ValueError(f"must be host names such as www.example.com, got {h!r}")
        if not out:
            raise ValueError("must list at least one host (or be left out)")
        return out

    _schedule_is_cron = field_validator("schedule")(_valid_cron)

    @field_validator("name")
    @classmethod
    def _name_is_slug(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError("must be lowercase letters, digits, '.', '_' or '-' (at most 64)")
        return value

    @field_validator("feed")
    @classmethod
    def _feed_is_http(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value, re.I):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", value):
            raise ValueError(f"must be a language code such as 'uk' or 'en-GB', got {value!r}")
        return value


class KeyphraseSettings(_Strict):
    # YAKE key phrases as `keyword:` tags; off by default: ~60 ms of CPU per article, more than extraction
    enabled: bool = False
    top: Annotated[int, Field(ge=1, le=50)] = 5
    max_words: Annotated[int, Field(ge=1, le=5)] = 3


class DriftSettings(_Strict):
    """Extraction drift per source (ingest.analyse.drift, where each threshold is explained)."""

    window: Annotated[int, Field(ge=1, le=100_000)] = 30
    baseline: Annotated[int, Field(ge=1, le=100_000)] = 200
    min_sample: Annotated[int, Field(ge=1, le=100_000)] = 10
    history: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    failure_share: Annotated[float, Field(gt=0, le=1)] = 0.25
    text_chars_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    missing_share: Annotated[float, Field(gt=0, le=1)] = 0.3
    near_duplicate_share: Annotated[float, Field(gt=0, le=1)] = 0.3
    near_duplicate_similarity: Annotated[float, Field(gt=0, le=1)] = 0.8
    language_shift: Annotated[float, Field(gt=0, le=1)] = 0.4

    def thresholds(self) -> Any:
        """As :class:`ingest.analyse.drift.Thresholds` (which checks how the values fit together)."""
        from ingest.analyse.drift import Thresholds

        return Thresholds(**self.model_dump())

    @model_validator(mode="after")
    def _fit_together(self) -> DriftSettings:
        self.thresholds()  # min_sample <= window, history >= window + min_sample: a ValueError otherwise
        return self


class Config(_Strict):
    database: str | None = None
    # The default poll schedule (cron) and the time zone of every schedule (deployments, serve).
    schedule: str = "*/15 * * * *"
    timezone: str = "UTC"
    poll: PollSettings = PollSettings()
    fetch: FetchSettings = FetchSettings()
    extract: ExtractSettings = ExtractSettings()
    sources: tuple[SourceConfig, ...] = ()
    dedup: DedupSettings = DedupSettings()
    # the tagging taxonomy (relative to the working directory); null turns rule tags off
    taxonomy: str | None = "config/tags.yaml"
    keyphrases: KeyphraseSettings = KeyphraseSettings()
    backfill: BackfillSettings = BackfillSettings()
    drift: DriftSettings = DriftSettings()
    # Filled by load_config, never read from the file.
    path: str | None = Field(default=None, exclude=True)
    invalid_sources: tuple[ConfigError, ...] = Field(default=(), exclude=True)

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    _schedule_is_cron = field_validator("schedule")(_valid_cron)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if problem := timezone_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("poll")
    @classmethod
    def _bounds_ordered(cls, value: PollSettings) -> PollSettings:
        if not value.min_interval_s <= value.interval_s <= value.max_interval_s:
            raise ValueError("needs min_interval_s <= interval_s <= max_interval_s")
        return value

    def select(self, names: list[str] | tuple[str, ...] | None) -> tuple[SourceConfig, ...]:
        """The enabled sources, or exactly the named ones (disabled or not); unknown names are errors."""
        if not names:
            return tuple(s for s in self.sources if s.enabled)
        by_name = {s.name: s for s in self.sources}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            known = ", ".join(sorted(by_name)) or "none"
            raise ConfigError(f"unknown source {', '.join(map(repr, unknown))} (known: {known})",
                              file=self.path, key="sources")
        return tuple(by_name[n] for n in names)


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _first_error(err: ValidationError, prefix: str = "") -> tuple[str, str]:
    first = err.errors()[0]
    key = _key_path(tuple(first["loc"]))
    if prefix:
        key = f"{prefix}.{key}" if key else prefix
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    return key, msg.removeprefix("Value error, ")


def parse_config(data: Any, *, path: str | None = None) -> Config:
    """Validate already-loaded YAML data. Bad source entries are set aside, not fatal."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("the top level must be a mapping", file=path)
    data = dict(data)
    raw_sources = data.pop("sources", None) or []
    if not isinstance(raw_sources, list):
        raise ConfigError("must be a list of sources", file=path, key="sources")
    good: list[SourceConfig] = []
    bad: list[ConfigError] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_sources):
        label = f"sources[{i}]"
        try:
            if not isinstance(raw, Mapping):
                raise ConfigError("must be a mapping with name and feed", file=path, key=label)
            src = SourceConfig.model_validate(raw)
        except ValidationError as exc:
            key, msg = _first_error(exc, label)
            name = raw.get("name") if isinstance(raw, Mapping) else None
            bad.append(ConfigError(msg + (f" (source {name!r})" if name else ""), file=path, key=key))
            continue
        except ConfigError as exc:
            bad.append(exc)
            continue
        if src.name in seen:
            raise ConfigError(f"duplicate source name {src.name!r}", file=path, key=f"{label}.name")
        seen.add(src.name)
        good.append(src)
    try:
        return Config.model_validate({**data, "sources": good, "path": path, "invalid_sources": tuple(bad)})
    except ValidationError as exc:
        key, msg = _first_error(exc)
        raise ConfigError(msg, file=path, key=key) from None


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a feeds.yaml file."""
    p = Path(path)
    shown = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=shown) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=shown) from None
    try:
        # libyaml's loader when present: the pure-Python one took 2 s for a config of 1,000 sources
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML: {problem}", file=shown, key=where) from None
    return parse_config(data, path=shown)
