"""Where the configuration and the archive are: the few settings every command needs, read without
the full configuration schema (pydantic costs ~0.1 s to import; a read command must start at once).

Resolution order for the archive database: ``--db`` > ``INGEST_DATABASE_URL`` > ``database:`` in the
config file > ``sqlite:///data/archive.db``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ingest.errors import ConfigError
from ingest.store.dburls import file_url

DEFAULT_DATABASE_URL = "sqlite:///data/archive.db"
DEFAULT_CONFIG_PATH = "config/feeds.yaml"
DATABASE_ENV = "INGEST_DATABASE_URL"


def resolve_database_url(cli_value: str | None, config: Any, environ: Mapping[str, str] | None = None) -> str:
    """``--db`` > ``INGEST_DATABASE_URL`` > ``database:`` > the default SQLite file. ``config`` is a
    :class:`~ingest.config.Config` or None."""
    env = os.environ if environ is None else environ
    return file_url(cli_value or env.get(DATABASE_ENV) or (config.database if config else None) or DEFAULT_DATABASE_URL)


def database_in_file(path: str | os.PathLike[str]) -> str | None:
    """The ``database:`` of a feeds.yaml, read without validating the rest (``ingest poll`` does that)."""
    import yaml

    try:
        data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", file=str(path)) from None
    value = data.get("database") if isinstance(data, dict) else None
    if value is not None and not isinstance(value, str):
        raise ConfigError("must be a database URL string", file=str(path), key="database")
    return value


def drift_in_file(config_path: str | None) -> Any:
    """The ``drift:`` thresholds of a feeds.yaml (as :class:`ingest.analyse.drift.Thresholds`), read
    without the full schema, for the read commands; the defaults when there is no file and none was
    named. A bad value is a :class:`ConfigError` naming the key."""
    from ingest.analyse.drift import Thresholds

    path = config_path or DEFAULT_CONFIG_PATH
    if config_path is None and not Path(path).is_file():
        return Thresholds()
    import yaml

    try:
        data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read: {getattr(exc, 'problem', None) or exc}", file=str(path)) from None
    try:
        return Thresholds.from_mapping(data.get("drift") if isinstance(data, dict) else None)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), file=str(path), key="drift") from None


def read_database_url(cli_value: str | None, config_path: str | None) -> str:
    """The archive a read command opens: the config file is read only when neither ``--db`` nor
    ``INGEST_DATABASE_URL`` says, and its absence is fine unless it was named."""
    if cli_value or os.environ.get(DATABASE_ENV):
        return resolve_database_url(cli_value, None)
    path = config_path or DEFAULT_CONFIG_PATH
    if config_path is None and not Path(path).is_file():
        return DEFAULT_DATABASE_URL
    return file_url(database_in_file(path) or DEFAULT_DATABASE_URL)


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL when it does not exist (a read must not create an empty one)."""
    if not url.startswith("sqlite:///"):
        return None
    db = url.removeprefix("sqlite:///").split("?", 1)[0]
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    path = Path(db).expanduser()
    return None if path.exists() else path
