"""``ingest sources add / import / export``: the config's sources the way feed readers handle them.

``add`` discovers feeds from a URL (:mod:`ingest.pipeline.feedfinder`), ``import`` reads an OPML file
(:mod:`ingest.feeds.opml`), both write through :mod:`ingest.config_edit` (comments and order kept,
validated by the loader before the file is replaced); ``export`` writes the sources as OPML.
Registered on the ``sources`` group (:mod:`ingest.cli.commands`) when :mod:`ingest.cli` is imported.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ingest.cli.commands import sources as sources_group
from ingest.cli.group import json_line, json_option, load_config
from ingest.cli.tables import print_table
from ingest.errors import UsageError
from ingest.locations import DEFAULT_CONFIG_PATH

config_file_option = click.option("--config", "config_path", default=DEFAULT_CONFIG_PATH, show_default=True,
                                  metavar="FILE", help="The feeds configuration to edit (created when missing).")
dry_run_option = click.option("--dry-run", is_flag=True, help="Say what would be added; change nothing.")


def _settings(config_path: str) -> Any:
    """The config's settings (the fetch limits, the address guard); defaults when the file is new."""
    if Path(config_path).exists():
        return load_config(config_path)
    from ingest.config import parse_config

    return parse_config({}, path=config_path)


def _report_edit(result: Any, dry_run: bool, what: str) -> None:
    verb = "would add" if dry_run else "added"
    for entry in result.added:
        click.echo(f"{verb} {entry['name']}: {entry['feed']}")
    for s in result.skipped:
        click.echo(f"skipped {s.feed}: {s.reason}")
    if result.written:
        click.echo(f"{what}: {len(result.added)} source{'s' * (len(result.added) != 1)} added to {result.path}"
                   + (" (created)" if result.created else ""))
    elif not result.added:
        click.echo(f"{what}: nothing to add to {result.path}")


def _edit_dict(result: Any) -> dict[str, Any]:
    return {"config": result.path, "written": result.written, "added": result.added,
            "skipped": [{"feed": s.feed, "name": s.name, "reason": s.reason} for s in result.skipped]}


@sources_group.command("add")
@click.argument("url")
@click.option("--name", metavar="NAME", help="The source's name (default: from the feed's title, else its host).")
@click.option("--all", "add_all", is_flag=True, help="Add every feed found, not only the best.")
@config_file_option
@dry_run_option
@json_option
def sources_add(url: str, name: str | None, add_all: bool, config_path: str, dry_run: bool, as_json: bool) -> None:
    """Find the feeds of URL (a feed, or a site's page) and add the best one, or --all, to the config.

    Looks at <link rel="alternate"> (RSS, Atom, JSON Feed), feed-like links, then the common paths
    (/feed, /rss, /rss.xml, /atom.xml, /index.xml, /feeds/…), fetching and parsing each candidate
    through the same guarded fetcher as a poll."""
    from ingest.config_edit import NewSource, add_sources
    from ingest.fetch.client import Fetcher
    from ingest.pipeline.feedfinder import find_feeds

    if name and add_all:
        raise UsageError("--name names one source: leave it out with --all (names come from the feeds' titles)")
    config = _settings(config_path)
    with Fetcher(config.fetch) as fetcher:
        found = find_feeds(url, fetcher, every=add_all)
    if found.error:
        click.echo(f"ingest: error: {url}: {found.error}", err=True)
        sys.exit(1)
    chosen = found.feeds if add_all else found.feeds[:1]
    new = [NewSource(feed=f.url, name=name if i == 0 else None, title=f.title or f.site or None,
                     note=f"{f.title!r}, found from {url}" if f.title else f"found from {url}")
           for i, f in enumerate(chosen)]
    result = add_sources(config_path, new, dry_run=dry_run) if new else None
    if as_json:
        json_line({"url": url, "feeds": [f.as_dict() for f in found.feeds],
                   "rejected": [{"url": r.url, "origin": r.origin, "reason": r.reason} for r in found.rejected],
                   **(_edit_dict(result) if result else {"config": config_path, "written": False, "added": [],
                                                          "skipped": []})})
    else:
        if found.feeds:
            print_table([{"": "*" if f in chosen else "", "feed": f.url, "title": f.title or "", "items": f.items,
                          "newest": f.newest_at.strftime("%Y-%m-%d %H:%M") if f.newest_at else "-",
                          "newest item": f.newest_title or "", "via": f.origin} for f in found.feeds],
                        wide=("feed", "title", "newest item"))
        if result is not None:
            _report_edit(result, dry_run, url)
    if not found.feeds:
        click.echo(f"ingest: error: no feed found at {url}" + "".join(
            f"\n  {r.url} ({r.origin}): {r.reason}" for r in found.rejected), err=True)
        sys.exit(1)


@sources_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@config_file_option
@dry_run_option
@json_option
def sources_import(file: str, config_path: str, dry_run: bool, as_json: bool) -> None:
    """Add the feeds of an OPML subscription list (nested folders too) to the config.

    Titles become source names; feeds already configured (or listed twice) are skipped and said."""
    from ingest.config_edit import NewSource, add_sources
    from ingest.feeds.opml import OpmlError, parse_opml

    try:
        opml = parse_opml(Path(file).read_bytes())
    except OpmlError as exc:
        raise UsageError(f"{file}: {exc}") from None
    new = [NewSource(feed=f.xml_url, title=f.title, language=f.language, enabled=not f.disabled,
                     note=f"OPML folder {' / '.join(f.folders)}" if f.folders else None) for f in opml.feeds]
    result = add_sources(config_path, new, dry_run=dry_run)
    if as_json:
        json_line({"file": file, "feeds": len(opml.feeds), "problems": opml.problems, **_edit_dict(result)})
        return
    for problem in opml.problems:
        click.echo(f"ingest: warning: {file}: {problem}", err=True)
    _report_edit(result, dry_run, file)


@sources_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["opml"]), default="opml", show_default=True)
@click.option("--config", "config_path", default=DEFAULT_CONFIG_PATH, show_default=True, metavar="FILE")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
def sources_export(fmt: str, config_path: str, out: str | None) -> None:
    """Write the config's sources as an OPML subscription list (disabled ones commented out)."""
    from ingest.clock import SYSTEM_CLOCK
    from ingest.feeds.opml import render_opml

    config = load_config(config_path)
    for problem in config.invalid_sources:
        click.echo(f"ingest: warning: {problem} (not exported)", err=True)
    data = render_opml(config.sources, title=f"ingest sources ({config_path})", created=SYSTEM_CLOCK.now())
    if out:
        Path(out).write_bytes(data)
        click.echo(f"exported {len(config.sources)} sources to {out}", err=True)
    else:
        click.echo(data, nl=False)  # bytes: click writes them to the binary stream as they are
