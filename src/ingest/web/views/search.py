"""``/`` and ``/search``: the CLI's query syntax, with facets (source, tag, language, month), results
collapsed by story on request, and pages; the whole search lives in the URL, so it can be shared."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from ingest.errors import UsageError
from ingest.web.render import error, respond

PAGE_SIZE = 20
FACET_LIMIT = 5000  # facets count the best hits up to this many (the page says so when there are more)


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{name}={value!r} is not a date (use YYYY-MM-DD)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _params(request: Request) -> dict[str, Any]:
    q = request.query_params
    try:
        page = max(1, int(q.get("page") or 1))
    except ValueError:
        raise UsageError("page must be a whole number") from None
    return {"q": (q.get("q") or "").strip(), "source": [v for v in q.getlist("source") if v],
            "tag": [v for v in q.getlist("tag") if v], "language": q.get("language") or None,
            "since": q.get("since") or None, "until": q.get("until") or None,
            "collapse": q.get("collapse") in ("1", "on", "true"), "raw": q.get("raw") in ("1", "on", "true"),
            "page": page}


def link(params: dict[str, Any], **change: Any) -> str:
    """The search URL with some parameters changed (None removes one; a page change keeps the rest)."""
    merged = {**params, **change}
    if "page" not in change:
        merged["page"] = 1
    pairs: list[tuple[str, str]] = []
    for key in ("q", "source", "tag", "language", "since", "until", "collapse", "raw", "page"):
        value = merged.get(key)
        if value in (None, "", False, []) or (key == "page" and value == 1):
            continue
        for v in value if isinstance(value, list) else [value]:
            pairs.append((key, "1" if v is True else str(v)))
    return "/search" + (f"?{urlencode(pairs)}" if pairs else "")


def search_page(request: Request) -> Response:
    archive = request.app.state.archive
    try:
        p = _params(request)
        since, until = _date(p["since"], "since"), _date(p["until"], "until")
        hits = archive.search(p["q"] or None, source=p["source"] or None, tag=p["tag"] or None, since=since,
                              until=until, language=p["language"], limit=PAGE_SIZE + 1,
                              offset=(p["page"] - 1) * PAGE_SIZE, collapse=p["collapse"], raw=p["raw"])
        facet_ids = _facet_ids(archive, p, since, until)
    except UsageError as exc:
        return error(request, 400, str(exc))
    from ingest.store.webqueries import facets

    with archive.engine.connect() as s:
        counted = facets(s, facet_ids)
    listed = {k: [{"value": v, "count": n} for v, n in items] for k, items in counted.items()}
    for month in listed["month"]:  # a bar of the histogram is the search within its month
        year, mon = (int(x) for x in month["value"].split("-"))
        month["since"] = f"{month['value']}-01"
        month["until"] = f"{year + mon // 12:04d}-{mon % 12 + 1:02d}-01"
    data = {"query": p, "hits": [asdict(h) for h in hits[:PAGE_SIZE]], "page": p["page"],
            "has_next": len(hits) > PAGE_SIZE, "facets": listed,
            "facet_sample": len(facet_ids), "facet_limit": FACET_LIMIT}
    return respond(request, "search.html", data, extra={"link": lambda **c: link(p, **c),
                                                        "max_month": max((n for _, n in counted["month"]), default=0)})


def _facet_ids(archive: Any, p: dict[str, Any], since: datetime | None, until: datetime | None) -> list[int]:
    from ingest.store.search import Filters, search

    filters = Filters(sources=tuple(p["source"]), tags=tuple(p["tag"]), since=since, until=until,
                      language=p["language"])
    return [h.article_id for h in search(archive.engine, p["q"] or None, filters, limit=FACET_LIMIT, raw=p["raw"])]
