"""Article history and story rendering for ``ingest show --history`` (pure text building + echo)."""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Sequence
from typing import Any

import click


def _lines(text: str | None) -> list[str]:
    out: list[str] = []
    for para in (text or "").splitlines():
        out += textwrap.wrap(para, 100) or [""]
    return out


def version_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Unified diff of title and text between two versions (text wrapped so edits stay readable)."""
    a, b = f"version {old['version']}", f"version {new['version']}"
    parts = []
    if (old.get("title") or "") != (new.get("title") or ""):
        parts += difflib.unified_diff([old.get("title") or ""], [new.get("title") or ""],
                                      f"{a} title", f"{b} title", lineterm="")
    parts += difflib.unified_diff(_lines(old["text"]), _lines(new["text"]), f"{a} text", f"{b} text",
                                  lineterm="", n=1)
    return "\n".join(parts)


def history_records(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Versions oldest first, each with the diff from the one before (None for version 1)."""
    out = []
    for i, v in enumerate(versions):
        rec = {k: v[k] for k in ("version", "title", "content_sha256", "fetched_at", "fetch_id", "extraction_id")}
        rec["diff"] = version_diff(versions[i - 1], v) if i else None
        out.append(rec)
    return out


def print_history(records: list[dict[str, Any]], events: Sequence[dict[str, Any]] = ()) -> None:
    """Versions and page events (gone, restored), in time order."""
    click.echo(f"\nHistory ({len(records)} version{'s' if len(records) != 1 else ''}"
               + (f", {len(events)} page event{'s' if len(events) != 1 else ''})" if events else ")"))
    def when(value: Any) -> str:  # versions carry datetimes, events ISO strings (Z): one order for both
        return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else str(value or "")

    timeline = sorted([(when(r["fetched_at"]), 0, r) for r in records] + [(when(e["at"]), 1, e) for e in events],
                      key=lambda x: (x[0], x[1]))
    for _, is_event, r in timeline:
        if is_event:
            what = (f"gone since {r['at']}, HTTP {r['http_status']}" if r["kind"] == "gone"
                    else f"restored {r['at']} (HTTP {r['http_status']})")
            click.echo(f"  page {what}: {r['url']} (fetch #{r['fetch_id'] or '-'})")
            continue
        click.echo(f"  version {r['version']} fetched {r['fetched_at']} (fetch #{r['fetch_id'] or '-'}, "
                   f"extraction #{r['extraction_id'] or '-'}), text sha256 {r['content_sha256'][:16]}…: "
                   f"{r['title'] or '(untitled)'}")
        if r["diff"]:
            click.echo(textwrap.indent(r["diff"], "    "))


def print_cluster(cluster: dict[str, Any] | None, article_id: int) -> None:
    if cluster is None:
        click.echo("\nStory: (not clustered)")
        return
    members = cluster["members"]
    click.echo(f"\nStory #{cluster['id']}: {len(members)} article{'s' if len(members) != 1 else ''}, "
               f"first #{cluster['first_article_id']}")
    for g in cluster.get("merged", ()):
        click.echo(f"  merged story #{g['from']} into #{g['into']} ({g['reason']} {g['similarity']:.2f}, "
                   f"by #{g['by_article_id']})")
    for m in members:
        here = " (this article)" if m["article_id"] == article_id else ""
        click.echo(f"  #{m['article_id']} {m['method']} similarity {m['similarity']:.2f}{here}: "
                   f"{m['title'] or '(untitled)'} {m['url']}")
