"""Archive-maintenance commands of ``ingest``: ``retag`` and ``reprocess`` (no network).

Registered on the main group (:mod:`ingest.cli.group`) when :mod:`ingest.cli` is imported.
"""

from __future__ import annotations

from datetime import datetime

import click

from ingest.cli.group import (
    UTCDate,
    config_for_db,
    config_option,
    db_option,
    json_line,
    json_option,
    load_config,
    main,
    open_engine,
)
from ingest.errors import UsageError
from ingest.locations import DEFAULT_CONFIG_PATH, resolve_database_url


@main.command()
@click.option("--taxonomy", "taxonomy_path", metavar="FILE",
              help="Taxonomy file (default: `taxonomy:` of the config, else config/tags.yaml).")
@click.option("--keyphrases", "with_keyphrases", is_flag=True,
              help="Also recompute YAKE key phrases (keyword: tags) with the config's settings (slow: ~60 ms each).")
@db_option
@config_option
@json_option
def retag(taxonomy_path: str | None, with_keyphrases: bool, db: str | None, config_path: str | None,
          as_json: bool) -> None:
    """Re-apply the taxonomy's rules to every archived article (no network; idempotent)."""
    from ingest.analyse.tagging import DEFAULT_TAGS_PATH, load_taxonomy
    from ingest.config import KeyphraseSettings
    from ingest.store.tagstore import retag as run_retag

    config = config_for_db(config_path)
    path = taxonomy_path or (config.taxonomy if config else None) or DEFAULT_TAGS_PATH
    taxonomy = load_taxonomy(path)
    k = config.keyphrases if config else KeyphraseSettings()
    summary = run_retag(open_engine(db, config_path), taxonomy,
                        keyphrases=(k.top, k.max_words) if with_keyphrases else None)
    if as_json:
        json_line(summary)
    else:
        click.echo(f"retagged {summary['articles']} articles with {path} (rule version {summary['rule_version']}): "
                   f"{summary['rule_tags']} rule tags on {summary['tagged']} articles"
                   + (f", {summary['keyphrase_tags']} key phrases" if with_keyphrases else "")
                   + f" in {summary['seconds']} s")


@main.command()
@click.option("--config", "config_path", default=DEFAULT_CONFIG_PATH, show_default=True, metavar="FILE")
@db_option
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only articles first listed by this source.")
@click.option("--since", type=UTCDate(), help="Published (or first seen) on or after this date.")
@click.option("--until", type=UTCDate(), help="Published (or first seen) before this date.")
@json_option
def reprocess(config_path: str, db: str | None, sources: tuple[str, ...], since: datetime | None,
              until: datetime | None, as_json: bool) -> None:
    """Re-extract archived articles from their stored raw bytes, then re-dedup and re-tag (no network)."""
    from ingest.memory import limit_arenas

    limit_arenas()  # (as poll: ingest.memory)
    from ingest.pipeline.reprocess import reprocess as run_reprocess
    from ingest.store.db import open_archive

    config = load_config(config_path)
    if since and until and since >= until:
        raise UsageError("--since must be before --until")
    engine = open_archive(resolve_database_url(db, config), create_if_empty=False)
    summary = run_reprocess(engine, config, sources=list(sources) or None, since=since, until=until)
    if as_json:
        json_line(summary.as_dict())
    else:
        click.echo(f"reprocess run {summary['run_id']}: {summary['articles']} articles, {summary['revised']} revised, "
                   f"{summary['unchanged']} unchanged, {summary['failed']} failed, "
                   f"{summary['no_raw_bytes']} without raw bytes"
                   + "".join(f"; {k}: {v}" for k, v in summary["failures"].items()))
