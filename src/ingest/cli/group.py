"""The ``ingest`` command group, its shared options and helpers, and the console entry point.

Exit codes: 0 the run completed (per-item failures are recorded and summarised, not fatal); 1 the run
failed; 2 a usage or configuration error, reported as one line on stderr. The commands register
themselves on :data:`main` from their own modules (:mod:`ingest.cli.commands`, ``archive``, ``ops``),
which import only this module's public names.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

if TYPE_CHECKING:
    from ingest.config import Config

# Prefect phones home unless told not to; set before anything imports it.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from ingest.errors import ConfigError, DatabaseError, IngestError, Interrupted, UsageError  # noqa: E402
from ingest.locations import DEFAULT_CONFIG_PATH, missing_sqlite_file, read_database_url  # noqa: E402


def fail(message: str, code: int) -> None:
    click.echo(f"ingest: error: {message}", err=True)
    sys.exit(code)


def json_line(obj: Any, out: TextIO | None = None) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, default=str), file=out)


class UTCDate(click.ParamType):
    """ISO 8601 date or date-time; naive values are UTC."""

    name = "date"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM])", param, ctx)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def load_config(path: str | Path) -> Config:
    """The whole configuration, validated (pydantic is imported here, by the commands that need it)."""
    from ingest.config import load_config as load

    return load(path)


def config_for_db(config_path: str | None) -> Config | None:
    """Commands that need the whole configuration (retag, reprocess) read it when there is one; its
    absence is fine unless it was named."""
    path = config_path or DEFAULT_CONFIG_PATH
    if config_path is None and not Path(path).is_file():
        return None
    return load_config(path)


def database_url(db: str | None, config_path: str | None) -> str:
    """The archive a command reads: ``--db``, ``$INGEST_DATABASE_URL`` or the config's ``database:``."""
    return read_database_url(db, config_path)


def open_engine(db: str | None, config_path: str | None) -> Any:
    """The archive for a command that reads or maintains it: it must exist (only ``poll``, ``demo``
    and ``db upgrade`` create one) and be at this ingest's schema."""
    from ingest.store.db import open_archive

    url = database_url(db, config_path)
    missing = missing_sqlite_file(url)
    if missing is not None:
        raise DatabaseError(f"no archive at {missing} (`ingest poll` or `ingest demo` creates one; "
                            "`ingest db upgrade` an empty one)")
    return open_archive(url, create_if_empty=False)


def open_reader(db: str | None, config_path: str | None) -> Any:
    """The archive for a command that only reads it (``search``, ``show``, ``export``, ``sources``,
    ``stats``, ``runs``): ``connect()`` gives a connection for ``store/query.py``. An archive at this
    ingest's schema is read without SQLAlchemy (its import is most of such a command's start), on
    ``sqlite3`` or psycopg, read-only (``store/directreads.py``); anything else, including every schema
    problem, takes :func:`open_engine` and its messages."""
    from ingest.store.directreads import open_direct

    direct = open_direct(database_url(db, config_path))
    return direct if direct is not None else open_engine(db, config_path)


db_option = click.option("--db", "db", metavar="URL", help="Archive database URL (any SQLAlchemy URL), or a SQLite file's path.")
config_option = click.option("--config", "config_path", metavar="FILE",
                             help=f"Feeds configuration (default {DEFAULT_CONFIG_PATH}).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
csv_option = click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header row.")


def filter_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed([
        click.option("--source", "sources", multiple=True, metavar="NAME", help="Only articles from this source."),
        click.option("--tag", "tags", multiple=True, metavar="TAG", help="Only articles with this tag."),
        click.option("--since", type=UTCDate(), help="Published (or first seen) on or after this date."),
        click.option("--until", type=UTCDate(), help="Published (or first seen) before this date."),
        click.option("--language", metavar="CODE", help="Only articles in this language (e.g. en, uk)."),
    ]):
        f = opt(f)
    return f


class LazyGroup(click.Group):
    """A group whose commands are imported when first named: ``ingest search`` imports only the module
    that defines ``search`` (the others cost ~20 ms of a 0.13 s start). :attr:`lazy` maps each command
    name to the modules that register it and its subcommands (``ingest.cli`` fills it in); ``--help``
    lists every name, so it imports them all."""

    lazy: dict[str, tuple[str, ...]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module in self.lazy.get(cmd_name, ()):
            importlib.import_module(module)  # registers the command on this group (a no-op when loaded)
        return super().get_command(ctx, cmd_name)

    def load_all(self) -> dict[str, click.Command]:
        """Every command, loaded (for tests and documentation checks)."""
        for modules in self.lazy.values():
            for module in modules:
                importlib.import_module(module)
        return self.commands


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ingest", prog_name="ingest")  # read on --version only
def main() -> None:
    """Scheduled news ingestion and archiving with full provenance."""


def _stop_on_sigterm() -> Any:
    """SIGTERM (systemd, Kubernetes, `kill`) stops the command the way Ctrl-C does: as an exception in
    the main thread, so runs end ``interrupted`` with their committed work kept, and exit handlers stop
    what the command started (extractor processes, Prefect's local API server). The default action
    would end the process on the spot and orphan them. Returns the handler it replaced."""
    def handler(signum: int, frame: object) -> None:
        from ingest.shutdown import request_stop

        request_stop()  # runs on other threads (a Prefect flow's, sources') stop too
        raise Interrupted(f"stopped by signal {signal.Signals(signum).name}")

    return signal.signal(signal.SIGTERM, handler)


def entry() -> None:
    """Console entry point: one-line errors and the documented exit codes."""
    previous = _stop_on_sigterm()
    try:
        _main()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main() -> None:
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        fail("aborted", 1)
    except click.UsageError as exc:  # bad option values included (BadParameter): one line, like ours
        fail(exc.format_message(), 2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (ConfigError, UsageError, DatabaseError) as exc:
        fail(str(exc), 2)
    except IngestError as exc:
        fail(str(exc), 1)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Interrupted as exc:
        fail(f"interrupted ({exc})", 128 + signal.SIGTERM)
    except Exception as exc:  # a bug or an unexpected environment: one line, the trace on request
        if os.environ.get("INGEST_DEBUG"):
            raise
        fail(f"internal error: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
              " (set INGEST_DEBUG=1 for the traceback)", 1)


