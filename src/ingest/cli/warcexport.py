"""``ingest export --format warc``: the selected articles' page fetches and provenance as WARC/1.1."""

from __future__ import annotations

import os
from typing import Any

import click


def export_warc(engine: Any, ids: list[int], out: str) -> None:
    """Written beside ``out`` and renamed when complete, so a failed export leaves no half file."""
    from ingest.interop.warc_out import write_warc
    from ingest.store.warcexport import articles_for_warc

    tmp = f"{out}.partial"
    try:
        with open(tmp, "wb") as fh:
            counts = write_warc(fh, articles_for_warc(engine, ids), gzip=not out.endswith(".warc"),
                                info={"description": f"ingest export of {len(ids)} articles"})
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    click.echo(f"exported {counts.articles} articles to {out}: {counts.responses} responses, {counts.revisits} "
               f"revisits, {counts.redirects} redirect hops, {counts.records} records", err=True)
