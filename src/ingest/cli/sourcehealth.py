"""What ``ingest sources`` adds to the sources' rows: extraction drift, and the ``--check`` verdict."""

from __future__ import annotations

import sys
from typing import Any

import click


def add_drift(s: Any, rows: list[dict[str, Any]], config_path: str | None) -> list[dict[str, Any]]:
    """The rows with their drift (thresholds from the config's ``drift:``, read without the full schema)."""
    from ingest.locations import drift_in_file
    from ingest.store.driftreads import with_drift

    return with_drift(s, rows, drift_in_file(config_path))


def drift_cell(row: dict[str, Any]) -> str:
    drift = row.get("drift") or {}
    if not drift.get("drifting"):
        return "-" if drift.get("judged") else "(too few pages)"
    return drift["describe"].removeprefix("drifting ")


def check(rows: list[dict[str, Any]]) -> None:
    """``--check``: exit 1 when any source is failing or drifting, saying which on stderr."""
    failing = [r["source"] for r in rows if r["failing"]]
    drifting = [r["source"] for r in rows if r.get("drifting")]
    if not failing and not drifting:
        click.echo(f"check: {len(rows)} sources healthy", err=True)
        return
    parts = ([f"{len(failing)} failing ({', '.join(failing)})"] if failing else []) + \
        ([f"{len(drifting)} drifting ({', '.join(drifting)})"] if drifting else [])
    click.echo("check: " + "; ".join(parts), err=True)
    sys.exit(1)
