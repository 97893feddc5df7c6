"""Responses: the same data as HTML (a Jinja2 template, autoescaped) or as JSON, by the URL's ``.json``
suffix or the request's ``Accept`` header."""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes | memoryview):
        return None  # raw values (signatures) are not part of any page's data
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def to_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, default=_default, indent=1).encode("utf-8")


def wants_json(request: Request) -> bool:
    if request.url.path.endswith(".json"):
        return True
    accept = request.headers.get("accept", "")
    # a browser asks for text/html first; an API client for application/json
    return "application/json" in accept and "text/html" not in accept


def when(value: Any) -> str:
    """Times as the CLI's tables show them: UTC, ``2026-03-02 08:15``."""
    if not value:
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M")


def percent(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "-"


@cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(files("ingest.web") / "templates")), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.filters["percent"] = percent
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, ensure_ascii=False, indent=1, default=_default)
    env.globals["urlencode"] = urlencode
    return env


def respond(request: Request, template: str, data: dict[str, Any], *, status: int = 200,
            extra: dict[str, Any] | None = None) -> Response:
    """``data`` as JSON, or ``template`` rendered with it (and ``extra``, what only the page needs)."""
    if wants_json(request):
        return Response(to_json(data), status_code=status, media_type="application/json")
    html = environment().get_template(template).render(request=request, **data, **(extra or {}))
    return HTMLResponse(html, status_code=status)


def error(request: Request, status: int, message: str) -> Response:
    return respond(request, "error.html", {"error": message, "status": status}, status=status)
