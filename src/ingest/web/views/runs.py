"""``/runs``: the latest runs with their summaries; ``/runs/{id}``: one run, its per-source table."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ingest.web.render import error, respond


def _rows(summary: dict | None) -> list[dict]:
    if not summary or "sources" not in summary or "totals" not in summary:
        return []
    from ingest.pipeline.report import summary_rows

    try:
        return summary_rows({"failures": {}, **summary})
    except (KeyError, TypeError):  # a summary of another shape (a backfill's): shown as data only
        return []


def runs_page(request: Request) -> Response:
    from ingest.store.query import recent_runs

    try:
        limit = min(500, max(1, int(request.query_params.get("limit") or 50)))
    except ValueError:
        return error(request, 400, "limit must be a whole number")
    with request.app.state.archive.engine.connect() as s:
        runs = recent_runs(s, limit=limit, kind=request.query_params.get("kind") or None,
                           status=request.query_params.get("status") or None)
    return respond(request, "runs.html", {"runs": runs},
                   extra={"prefect_ui": request.app.state.prefect_ui, "summary_rows": _rows})


def run_page(request: Request) -> Response:
    from ingest.store.webqueries import run

    run_id = int(request.path_params["run_id"])
    with request.app.state.archive.engine.connect() as s:
        found = run(s, run_id)
    if found is None:
        return error(request, 404, f"no run {run_id} in this archive")
    return respond(request, "run.html", found,
                   extra={"prefect_ui": request.app.state.prefect_ui, "rows": _rows(found["summary"])})
