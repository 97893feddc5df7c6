"""``/sources``: per source its state, last and next poll, error kind and detail, failing since, items
per day (a small chart), failed items with their kinds, and extraction health (drift)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ingest.analyse.drift import MEASURES
from ingest.web.render import respond

CHART_DAYS = 14


def sources_page(request: Request) -> Response:
    from ingest.store.driftreads import with_drift
    from ingest.store.query import sources_status
    from ingest.store.webqueries import failed_items, items_per_day

    state = request.app.state
    now = state.clock.now()
    with state.archive.engine.connect() as s:
        rows = with_drift(s, sources_status(s, now=now), state.drift)
        per_day = items_per_day(s, now=now, days=CHART_DAYS)
        failed = failed_items(s)
    rows.sort(key=lambda r: (not r["failing"], not r["drifting"], r["source"]))
    for row in rows:
        drift = row.get("drift") or {}
        # every measure present (None: too few pages to say), so the page's table has all its cells
        for side in ("window", "baseline"):
            values = drift.get(side) or {}
            drift[side] = {m: values.get(m) for m in MEASURES} | {"observations": values.get("observations", 0)}
        row["drift"] = drift
        row["items_by_day"] = per_day.get(row["source"], [0] * CHART_DAYS)
        row["failed"] = failed.get(row["source"], [])
    data = {"sources": rows, "chart_days": CHART_DAYS,
            "failing": sum(r["failing"] for r in rows), "drifting": sum(r["drifting"] for r in rows)}
    return respond(request, "sources.html", data)
