"""``ingest web``: the archive in a browser (read-only), served by uvicorn."""

from __future__ import annotations

import click

from ingest.cli.group import config_option, database_url, db_option, main
from ingest.errors import DatabaseError, UsageError


@main.command()
@db_option
@config_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; beyond loopback (0.0.0.0, a LAN address) INGEST_WEB_TOKEN is required.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--token", envvar="INGEST_WEB_TOKEN", metavar="TOKEN", show_envvar=True,
              help="The token every request must present (Bearer header, cookie, or ?token= once).")
@click.option("--prefect-ui", envvar="PREFECT_UI_URL", metavar="URL", show_envvar=True,
              help="The Prefect UI, for links from runs to their flow runs.")
def web(db: str | None, config_path: str | None, host: str, port: int, token: str | None,
        prefect_ui: str | None) -> None:
    """Serve the archive read-only in a browser: search, articles with provenance, sources, runs; JSON too."""
    from ingest.locations import drift_in_file, missing_sqlite_file
    from ingest.web.security import is_loopback

    if not is_loopback(host) and not token:
        raise UsageError(f"--host {host} listens beyond this machine: set INGEST_WEB_TOKEN (or --token) to a "
                         "secret that every request must present; refusing to start without one")
    if token is not None and len(token) < 16:
        raise UsageError("INGEST_WEB_TOKEN must be at least 16 characters")
    url = database_url(db, config_path)
    if (missing := missing_sqlite_file(url)) is not None:
        raise DatabaseError(f"no archive at {missing} (`ingest poll` or `ingest demo` creates one)")
    import uvicorn

    from ingest.web.app import create_app

    app = create_app(url, token=token, prefect_ui=prefect_ui, drift=drift_in_file(config_path))
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"ingest web: http://{shown}:{port}/ (read-only{', token required' if token else ''}); Ctrl-C stops",
               err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False, proxy_headers=False)
