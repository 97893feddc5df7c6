"""The ``ingest web`` application: ``create_app("sqlite:///data/archive.db")`` is an ASGI app (Starlette)
over the archive on a read-only connection.

    uvicorn.run(create_app(url), host="127.0.0.1", port=8000)     # what `ingest web` does

Every page answers GET (and HEAD) only, as HTML or, at the same URL with ``.json`` or ``Accept:
application/json``, as JSON. Security (headers, token, Host check): :mod:`ingest.web.security`.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ingest.analyse.drift import Thresholds
from ingest.clock import SYSTEM_CLOCK, Clock
from ingest.web.render import error
from ingest.web.security import Gate, SecurityHeaders
from ingest.web.views import article, fetches, runs, search, sources


def _both(path: str, endpoint: Any, name: str) -> list[Route]:
    """The page and its JSON twin (``path.json``)."""
    return [Route(path, endpoint, name=name, methods=["GET", "HEAD"]),
            Route(f"{path}.json", endpoint, name=f"{name}-json", methods=["GET", "HEAD"])]


def routes() -> list[Any]:
    return [
        Route("/", search.search_page, name="home", methods=["GET", "HEAD"]),
        *_both("/search", search.search_page, "search"),
        Route("/article", article.resolve, name="resolve", methods=["GET", "HEAD"]),
        *_both("/articles/{article_id:int}", article.article_page, "article"),
        *_both("/articles/{article_id:int}/diff", article.diff_page, "diff"),
        Route("/articles/{article_id:int}/warc", article.warc_download, name="warc", methods=["GET", "HEAD"]),
        *_both("/fetches/{fetch_id:int}", fetches.fetch_page, "fetch"),
        Route("/fetches/{fetch_id:int}/raw", fetches.raw_download, name="raw", methods=["GET", "HEAD"]),
        *_both("/sources", sources.sources_page, "sources"),
        *_both("/runs", runs.runs_page, "runs"),
        *_both("/runs/{run_id:int}", runs.run_page, "run"),
        Mount("/static", app=StaticFiles(directory=str(files("ingest.web") / "static")), name="static"),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: "no such page", 405: "this server only reads: GET and HEAD"}.get(status, "error")
    return error(request, status, message)


async def _server_error(request: Request, exc: Exception) -> Response:
    # the detail goes to the server's log (uvicorn), never to the page
    return error(request, 500, "internal error (see the server's log)")


def warc_exporter() -> Any:
    """The interop issue's WARC export of one article, when this ingest has it (else None)."""
    if importlib.util.find_spec("ingest.interop.warc_out") is None:
        return None
    from ingest.web.views.warc import exporter

    return exporter()


def create_app(database: str, *, token: str | None = None, prefect_ui: str | None = None,
               drift: Thresholds | None = None, clock: Clock = SYSTEM_CLOCK) -> Any:
    """The web app over the archive at ``database``, opened read-only now (a bad archive fails here).
    ``token``: required of every request (see :mod:`ingest.web.security`); without one, only requests
    addressed to a loopback name are answered. ``prefect_ui``: the Prefect UI's base URL, for links to
    flow runs. ``drift``: the extraction-drift thresholds (the config's ``drift:``)."""
    from ingest.api import Archive

    archive = Archive.read_only(database)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        archive.close()

    app = Starlette(routes=routes(), exception_handlers={HTTPException: _http_error, 500: _server_error},
                    lifespan=lifespan)
    app.state.archive = archive
    app.state.prefect_ui = prefect_ui.rstrip("/") if prefect_ui else None
    app.state.drift = drift or Thresholds()
    app.state.clock = clock
    app.state.warc = warc_exporter()
    return SecurityHeaders(Gate(app, token))
