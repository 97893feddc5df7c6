"""``/articles/{id}``: the text with its metadata (each field's source beside it when the archive
records one), tags and their origins, the provenance chain, sightings, the story, versions (and a
side-by-side diff between any two), page events, and downloads of the raw bytes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ingest.web.diffs import version_diff
from ingest.web.render import error, respond

# What the page shows in sections of their own; every other field of the record is metadata, listed
# as the archive has it (new fields show up without a change here).
STRUCTURE = frozenset({"id", "text", "sightings", "extractions", "tags", "tags_detail", "aliases", "events",
                       "feed_urls", "url", "canonical_url", "content_sha256", "version", "gone_since", "gone_status",
                       "extractor", "extractor_version", "history", "story"})


def metadata(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metadata field of a record, with ``<field>_source`` beside its field when present."""
    out = []
    for key, value in record.items():
        if key in STRUCTURE or (key.endswith("_source") and key.removesuffix("_source") in record):
            continue
        out.append({"field": key, "value": value, "source": record.get(f"{key}_source")})
    return out


def _article_id(request: Request) -> int:
    return int(request.path_params["article_id"])


def resolve(request: Request) -> Response:
    """``/article?url=…``: an article by any URL that led to it."""
    from ingest.store.query import resolve_article

    url = request.query_params.get("url") or ""
    with request.app.state.archive.engine.connect() as s:
        found = resolve_article(s, url) if url else None
    if found is None:
        return error(request, 404, f"no article for {url!r} in this archive")
    return RedirectResponse(f"/articles/{found}", status_code=303)


def article_page(request: Request) -> Response:
    from ingest.store.query import cluster_of, provenance
    from ingest.store.webqueries import article_exists, versions

    article_id = _article_id(request)
    archive = request.app.state.archive
    with archive.engine.connect() as s:
        if not article_exists(s, article_id):
            return error(request, 404, f"no article {article_id} in this archive")
        record = provenance(s, article_id)
        story = cluster_of(s, article_id)
        history = versions(s, article_id)
    current = next((x for x in record["extractions"] if x["current"]), None)
    raw_fetch = current["fetch"]["id"] if current and current.get("fetch") and current["fetch"]["raw_bytes_kept"] \
        else None
    data = {**record, "story": story, "history": [{k: v for k, v in h.items() if k != "text"} for h in history],
            "metadata": metadata(record), "raw_fetch_id": raw_fetch,
            "warc_url": f"/articles/{article_id}/warc" if request.app.state.warc else None}
    return respond(request, "article.html", data, extra={
        "prefect_ui": request.app.state.prefect_ui, "extracted_meta": _extracted_meta(current)})


def _extracted_meta(current: dict[str, Any] | None) -> list[dict[str, Any]]:
    meta = (current or {}).get("meta") or {}
    return [{"field": k, "value": v, "source": meta.get(f"{k}_source")} for k, v in meta.items()
            if not (k.endswith("_source") and k.removesuffix("_source") in meta)]


def diff_page(request: Request) -> Response:
    from ingest.store.webqueries import versions

    article_id = _article_id(request)
    with request.app.state.archive.engine.connect() as s:
        history = versions(s, article_id)
    if not history:
        return error(request, 404, f"no article {article_id} in this archive")
    by_version = {v["version"]: v for v in history}
    try:
        b = int(request.query_params.get("b") or history[-1]["version"])
        a = int(request.query_params.get("a") or (history[-2]["version"] if len(history) > 1 else b))
    except ValueError:
        return error(request, 400, "a and b must be version numbers")
    if a not in by_version or b not in by_version:
        return error(request, 404, f"article {article_id} has versions {sorted(by_version)}")
    data = {"article_id": article_id, "versions": [v["version"] for v in history],
            **version_diff(by_version[a], by_version[b])}
    return respond(request, "diff.html", data)


def warc_download(request: Request) -> Response:
    """The article's WARC, when the interop exporter is installed (``ingest.interop.warc_out``)."""
    export = request.app.state.warc
    if export is None:
        return error(request, 404, "this ingest has no WARC exporter")
    return export(request, _article_id(request))
