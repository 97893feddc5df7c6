"""Human-readable rendering of ``ingest show``: the provenance chain, top to bottom."""

from __future__ import annotations

from typing import Any

import click


def _fetch_line(f: dict[str, Any] | None) -> str:
    if f is None:
        return "(none recorded)"
    refreshed = set(f.get("meta_refresh") or ())
    hops = (" via " + " -> ".join(f"{u} (meta refresh)" if u in refreshed else u for u in f["redirects"])
            if f.get("redirects") else "")
    outcome = f"HTTP {f['status']}" if f.get("status") is not None else "no response"
    if f.get("error_kind"):
        outcome += f", {f['error_kind']}" + (f" ({f['error_detail']})" if f.get("error_detail") else "")
    sha = f", sha256 {f['sha256'][:16]}…" if f.get("sha256") else ""
    kept = ", raw bytes kept" if f.get("raw_bytes_kept") else ""
    return (f"fetch #{f['id']} {f['started_at']} GET {f['url']}{hops} -> {outcome}, "
            f"{f['bytes']} bytes{sha}, {f['duration_ms']} ms, attempt {f['attempt']}{kept}")


def _run_line(r: dict[str, Any] | None) -> str:
    if r is None:
        return "(no run)"
    prefect = ""
    if r.get("prefect_flow_run_id"):
        prefect = f", Prefect flow run {r['prefect_flow_run_id']} ({r.get('prefect_flow_name') or 'flow'}"
        prefect += f", deployment {r['prefect_deployment']})" if r.get("prefect_deployment") else ", no deployment)"
    return f"run #{r['id']} {r['kind']} {r['status']} started {r['started_at']}, ingest {r['ingest_version']}{prefect}"


def print_provenance(d: dict[str, Any], *, with_text: bool = True) -> None:
    echo = click.echo
    echo(f"Article {d['id']}: {d['title'] or '(untitled)'}")
    for label, key in (("canonical", "canonical_url"), ("first URL", "url"), ("source", "source"),
                       ("published", "published_at"), ("language", "language"), ("site", "sitename"),
                       ("first seen", "first_seen_at"), ("fetched", "fetched_at"),
                       ("text sha256", "content_sha256")):
        echo(f"  {label:12} {d.get(key) or '-'}")
    echo(f"  {'authors':12} {', '.join(d['authors']) or '-'}")
    if d.get("gone_since"):
        echo(f"  {'page':12} GONE since {d['gone_since']} (HTTP {d['gone_status']}); the archived text is below")
    tags = ", ".join(f"{t['tag']} ({t['origin']})" for t in d["tags_detail"]) or "-"
    echo(f"  {'tags':12} {tags}")
    echo("\nProvenance")
    for n, e in enumerate(d["sightings"], 1):
        echo(f"  sighting {n}: source {e['source']} listed it in {e['feed_url']}")
        echo(f"    feed       {_fetch_line(e['feed_fetch'])}")
        echo(f"    entry      #{e['id']} guid {e['guid'] or '-'}, link {e['link']}, \"{e['feed_title'] or ''}\", "
             f"seen {e['first_seen_at']} .. {e['last_seen_at']}, status {e['status']}")
        echo(f"    page       {_fetch_line(e['page_fetch'])}")
        echo(f"    run        {_run_line(e['run'])}")
    for x in d["extractions"]:
        current = " (current)" if x["current"] else ""
        echo(f"  extraction #{x['id']}{current}: {x['extractor']} {x['extractor_version']} "
             f"options {x['options']} at {x['created_at']}, text sha256 {x['content_sha256'][:16]}…")
        echo(f"    from       {_fetch_line(x['fetch'])}")
        echo(f"    run        {_run_line(x['run'])}")
    if d["aliases"]:
        echo("  URLs leading here: " + "; ".join(f"{a['url']} ({a['kind']})" for a in d["aliases"]))
    if with_text:
        echo("\n" + d["text"])


def print_failed_entries(url: str, entries: list[dict[str, Any]]) -> None:
    click.echo(f"No article archived for {url}; feed entries that listed it:")
    for e in entries:
        click.echo(f"  entry #{e['id']} of source {e['source']} ({e['feed_url']}): status {e['status']}, "
                   f"error {e['error_kind'] or '-'}" + (f" ({e['error_detail']})" if e['error_detail'] else "")
                   + f", attempts {e['attempts']}, next attempt {e['next_attempt_at'] or 'none'}")
        click.echo(f"    feed       {_fetch_line(e['feed_fetch'])}")
        click.echo(f"    page       {_fetch_line(e['page_fetch'])}")
        click.echo(f"    run        {_run_line(e['run'])}")
