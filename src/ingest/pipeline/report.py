"""Rendering a run summary: rows for Prefect's table artifact and the CLI, and Markdown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.pipeline.results import COUNTED as COUNT_COLUMNS


def _kinds(failures: dict[str, int]) -> str:
    return ", ".join(f"{kind}×{n}" for kind, n in sorted(failures.items()) if n) or "-"


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per source and in total; a ``drift`` column when a polled source's extraction drifts."""
    drifting = {d["source"]: d["describe"] for d in summary.get("drifting") or ()}
    rows = []
    for src in summary["sources"]:
        feed = src["feed_status"] + (f" ({src['error_kind']})" if src.get("error_kind") else "")
        rows.append({"source": src["source"], "feed": feed, **{c: src.get(c, 0) for c in COUNT_COLUMNS},
                     "error kinds": _kinds(src.get("failures", {}))}
                    | ({"drift": drifting.get(src["source"], "-")} if drifting else {}))
    totals = summary["totals"]
    skipped = f", {totals['sources_skipped']} skipped" if totals.get("sources_skipped") else ""
    rows.append({"source": "TOTAL", "feed": f"{totals.get('sources_failed', 0)} failed{skipped}",
                 **{c: totals.get(c, 0) for c in COUNT_COLUMNS}, "error kinds": _kinds(summary["failures"])}
                | ({"drift": f"{len(drifting)} drifting"} if drifting else {}))
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(nothing)"
    cols = list(rows[0])
    cells = [[str(r.get(c, "")) if r.get(c) is not None else "" for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    numeric = [all(row[i].isdigit() or row[i] == "" for row in cells) for i in range(len(cols))]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(row) for row in cells)])


def summary_markdown(summary: dict[str, Any]) -> str:
    rows = summary_rows(summary)
    cols = list(rows[0])
    out = [f"# ingest poll run {summary.get('run_id')}", "",
           "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    if summary.get("drifting"):
        out += ["", "Extraction drift:", *(f"- {d['source']}: {d['describe']}" for d in summary["drifting"])]
    if summary.get("config_errors"):
        out += ["", "Skipped configuration entries:", *(f"- {e}" for e in summary["config_errors"])]
    return "\n".join(out)
