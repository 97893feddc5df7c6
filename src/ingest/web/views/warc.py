"""``/articles/{id}/warc``: the article's page fetches and provenance as one WARC file, written by the
interop issue's exporter (``ingest.interop.warc_out.write_warc``, fed by ``store.warcexport``)."""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ingest.web.render import error


def exporter() -> Callable[[Request, int], Response] | None:
    """The download handler, or None when this ingest has no WARC exporter."""
    if importlib.util.find_spec("ingest.interop.warc_out") is None or \
            importlib.util.find_spec("ingest.store.warcexport") is None:
        return None

    def download(request: Request, article_id: int) -> Response:
        from ingest.interop.warc_out import write_warc
        from ingest.store.warcexport import articles_for_warc
        from ingest.store.webqueries import article_exists

        engine: Any = request.app.state.archive.engine
        with engine.connect() as s:
            if not article_exists(s, article_id):
                return error(request, 404, f"no article {article_id} in this archive")
        buffer = io.BytesIO()  # one article's fetches: small enough to hold
        write_warc(buffer, articles_for_warc(engine, [article_id]), gzip=True,
                   info={"description": f"ingest article {article_id}"})
        return Response(buffer.getvalue(), media_type="application/warc",
                        headers={"Content-Disposition": f'attachment; filename="article-{article_id}.warc.gz"'})

    return download
