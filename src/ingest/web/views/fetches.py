"""``/fetches/{id}``: one HTTP request as recorded (status, headers, redirects, sha256, timing, error),
what it led to, and its raw bytes as a download (never rendered: an attachment, ``nosniff``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ingest.web.render import error, respond


def fetch_page(request: Request) -> Response:
    from ingest.store.webqueries import fetch

    fetch_id = int(request.path_params["fetch_id"])
    with request.app.state.archive.engine.connect() as s:
        record = fetch(s, fetch_id)
    if record is None:
        return error(request, 404, f"no fetch {fetch_id} in this archive")
    return respond(request, "fetch.html", record)


def raw_download(request: Request) -> Response:
    from ingest.store.webqueries import raw_body

    fetch_id = int(request.path_params["fetch_id"])
    with request.app.state.archive.engine.connect() as s:
        found = raw_body(s, fetch_id)
    if found is None:
        return error(request, 404, f"fetch {fetch_id} kept no raw bytes")
    body, content_type = found
    # the recorded type goes in a header of its own; the response is bytes to save, whatever they are
    headers = {"Content-Disposition": f'attachment; filename="fetch-{fetch_id}.bin"',
               "X-Ingest-Content-Type": (content_type or "unknown").encode("ascii", "replace").decode("ascii")}
    return Response(body, media_type="application/octet-stream", headers=headers)
