"""The archive's everyday commands: ``poll``, ``search``, ``show``, ``export``, ``stats``, ``sources``, ``demo``."""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ingest.cli.group import (
    config_option,
    csv_option,
    database_url,
    db_option,
    fail,
    filter_options,
    json_line,
    json_option,
    load_config,
    main,
    open_engine,
    open_reader,
)
from ingest.cli.tables import emit, print_table, when
from ingest.errors import ConfigError, DatabaseError, UsageError
from ingest.locations import DEFAULT_CONFIG_PATH, resolve_database_url

# --- poll -----------------------------------------------------------------------------------------

def use_prefect(flag: bool | None) -> bool:
    """Run as a Prefect flow run? ``--prefect``/``--no-prefect`` when given, else only when a Prefect
    server is configured (``PREFECT_API_URL``): a command never starts Prefect's temporary local server
    by itself (10-25 s, and it times out on a loaded machine)."""
    return bool(os.environ.get("PREFECT_API_URL")) if flag is None else flag


def _run_poll(config_path: str, db: str | None, sources: tuple[str, ...], as_json: bool,
              prefect: bool | None = None) -> int:
    from ingest.orchestrate.runtime import shared_extractor
    from ingest.pipeline.results import PollResult
    from ingest.store.db import open_archive

    config = load_config(config_path)
    config.select(list(sources))  # unknown names are a usage error before anything starts
    database_url = resolve_database_url(db, config)
    engine = open_archive(database_url)  # schema problems surface here, as one line
    for problem in config.invalid_sources:
        click.echo(f"ingest: error: {problem} (source skipped)", err=True)
    try:
        if use_prefect(prefect):
            from ingest.orchestrate.runtime import load_flow, prestart_prefect_api

            engine.dispose()
            # Overlap the slow starts: Prefect's API (local only without a server), extraction workers.
            wait_for_prefect = prestart_prefect_api()
            shared_extractor(config.extract)
            flow = load_flow("poll", "poll_feeds")
            wait_for_prefect()
            # a run in which every source failed ends Failed, with the summary as its data
            state = flow(config_path=config_path, sources=list(sources) or None, database_url=database_url,
                         return_state=True)
            data = state.result(raise_on_failure=False)
            if isinstance(data, BaseException):
                raise data
            result = PollResult.from_summary(data)
        else:
            from ingest.pipeline.poll import poll as run_poll

            try:
                result = run_poll(config, engine, sources=list(sources) or None,
                                  extractor=shared_extractor(config.extract))
            finally:
                engine.dispose()
    except (ConfigError, UsageError, DatabaseError):
        raise  # exit 2, one line, from entry()
    except Exception as exc:  # the run itself failed (its row in `runs` says why)
        fail(f"poll run failed: {type(exc).__name__}: {exc}", 1)
    if as_json:
        json_line(result.as_dict())
    else:
        from ingest.pipeline.report import summary_rows

        print_table(summary_rows(result), wide=("error kinds",))
    if result.all_failed:
        click.echo(f"ingest: error: {result.all_failed_line()}", err=True)
        return 1
    return 2 if config.invalid_sources else 0


prefect_option = click.option(
    "--prefect/--no-prefect", "prefect", default=None,
    help="Run as a Prefect flow run (default: only when PREFECT_API_URL points at a Prefect server).")


@main.command()
@click.option("--config", "config_path", default=DEFAULT_CONFIG_PATH, show_default=True, metavar="FILE")
@db_option
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Poll only these sources.")
@prefect_option
@json_option
def poll(config_path: str, db: str | None, sources: tuple[str, ...], prefect: bool | None, as_json: bool) -> None:
    """Poll the configured feeds once: fetch, extract, deduplicate and archive every new article.

    Runs in this process; as a Prefect flow run (poll-feeds) when a Prefect server is configured."""
    from ingest.memory import limit_arenas

    limit_arenas()  # a long run with a fetch thread per connection (ingest.memory)
    sys.exit(_run_poll(config_path, db, sources, as_json, prefect))


# --- search / show / export -----------------------------------------------------------------------

def _filters(sources: tuple[str, ...], tags: tuple[str, ...], since: datetime | None,
             until: datetime | None, language: str | None) -> Any:
    from ingest.store.search import Filters

    if since and until and since >= until:
        raise UsageError("--since must be before --until")
    return Filters(sources=sources, tags=tags, since=since, until=until, language=language)


@main.command()
@click.argument("words", nargs=-1)
@filter_options
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, type=click.IntRange(0))
@click.option("--raw", is_flag=True, help="Pass the query to FTS5 / to_tsquery as is.")
@click.option("--collapse", is_flag=True, help="One hit per story (near-duplicate cluster).")
@click.option("--sort", "order", type=click.Choice(["relevance", "newest"]), default="relevance",
              show_default=True, help="Best match first, or newest first (no query: always newest).")
@db_option
@config_option
@json_option
@csv_option
def search(words: tuple[str, ...], sources: tuple[str, ...], tags: tuple[str, ...], since: datetime | None,
           until: datetime | None, language: str | None, limit: int, offset: int, raw: bool,
           db: str | None, config_path: str | None, as_json: bool, as_csv: bool = False,
           collapse: bool = False, order: str = "relevance") -> None:
    """Full-text search: words are ANDed; "phrases", OR and -word work. No query lists newest first.

    The query may be one quoted argument or several words (`search kyiv OR kiev`); put `--` before a
    query that starts with -word."""
    query = query_from_words(words)
    from ingest.store.query import article_records
    from ingest.store.search import search as run_search

    engine = open_reader(db, config_path)
    if collapse:
        from ingest.store.stories import search_collapsed as run_search
    hits = run_search(engine, query, _filters(sources, tags, since, until, language), limit=limit,
                      offset=offset, raw=raw, order=order)
    with engine.connect() as s:
        records = {r["id"]: r for r in article_records(s, [h.article_id for h in hits])}
    rows = []
    for hit in hits:
        r = records[hit.article_id]
        rows.append({"id": r["id"], "published_at": r["published_at"], "source": r["source"],
                     "language": r["language"], "title": r["title"], "url": r["canonical_url"],
                     "score": None if hit.score is None else round(abs(hit.score), 4), "snippet": hit.snippet})
    if emit(rows, as_json=as_json, as_csv=as_csv):
        return
    print_table([{"id": r["id"], "published": (r["published_at"] or "")[:10], "source": r["source"],
                  "lang": r["language"] or "", "title": r["title"], "url": r["url"]} for r in rows],
                empty="no matching articles", wide=("title", "url"))


def _clip(value: str | None, n: int) -> str:
    value = (value or "").replace("\n", " ")
    return value if len(value) <= n else value[: n - 1] + "…"


@main.command()
@click.argument("id_or_url")
@click.option("--text/--no-text", "with_text", default=True, help="Print the article text.")
@click.option("--history", is_flag=True, help="List the article's versions with a diff of each change.")
@db_option
@config_option
@json_option
def show(id_or_url: str, with_text: bool, db: str | None, config_path: str | None, as_json: bool,
         history: bool = False) -> None:
    """An article with its whole provenance chain (or the recorded failure of a URL)."""
    from ingest.cli.render import print_failed_entries, print_provenance
    from ingest.store.query import failed_entries, provenance, resolve_article

    # the history's versions and story are read through the ORM; the rest is plain SQL
    if history:
        from ingest.store.db import read_session

        opened = read_session(open_engine(db, config_path))
    else:
        opened = open_reader(db, config_path).connect()
    with opened as s:
        article_id = resolve_article(s, id_or_url)
        if article_id is None:
            entries = failed_entries(s, id_or_url) if not id_or_url.isdigit() else []
            if not entries:
                raise UsageError(f"no article or feed entry matches {id_or_url!r}")
            if as_json:
                json_line({"url": id_or_url, "article": None, "entries": entries})
            else:
                print_failed_entries(id_or_url, entries)
            return
        data = provenance(s, article_id)
        from ingest.cli.history import history_records, print_cluster, print_history
        from ingest.store.query import cluster_of

        data["cluster"] = cluster_of(s, article_id)
        if history:
            from ingest.store.revisions import versions

            data["history"] = history_records(versions(s, article_id))
    if as_json:
        json_line(data)
    else:
        print_provenance(data, with_text=with_text)
        print_cluster(data["cluster"], article_id)
        if history:
            print_history(data["history"], data["events"])


@main.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet", "warc"]), default="jsonl",
              show_default=True, help="parquet: typed columns, UTC timestamps, tags as structs (needs --out). "
              "warc: the page fetches behind the articles and their provenance, WARC/1.1 (needs --out; "
              "gzipped per record unless FILE ends in .warc).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
@click.option("--query", help="Only articles matching this full-text query.")
@click.option("--all-versions", is_flag=True, help="One record per version of each article (oldest first).")
@filter_options
@db_option
@config_option
def export(fmt: str, out: str | None, query: str | None, sources: tuple[str, ...], tags: tuple[str, ...],
           since: datetime | None, until: datetime | None, language: str | None, db: str | None,
           config_path: str | None, all_versions: bool = False) -> None:
    """Export articles as JSON lines, CSV (UTF-8) or Parquet, oldest first."""
    from ingest.store.query import EXPORT_FIELDS, export_ids

    if fmt in ("parquet", "warc") and not out:
        raise UsageError(f"--format {fmt} needs --out FILE ({fmt.title()} is not written to a terminal)")
    if fmt == "warc":
        from ingest.cli.warcexport import export_warc

        engine = open_engine(db, config_path)
        export_warc(engine, export_ids(engine, query, _filters(sources, tags, since, until, language)), str(out))
        return
    engine = open_engine(db, config_path) if all_versions else open_reader(db, config_path)
    ids = export_ids(engine, query, _filters(sources, tags, since, until, language))
    if fmt == "parquet":
        _export_parquet(engine, ids, str(out), all_versions)
        return
    from ingest.exports.records import export_records, write_csv, write_jsonl

    stream = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout  # noqa: SIM115
    try:
        from ingest.exports.parallel import MIN_PARALLEL, write_parallel

        if len(ids) >= MIN_PARALLEL and not all_versions:  # every core renders, this process writes
            count = write_parallel(engine, ids, stream, fmt, EXPORT_FIELDS)
        else:
            records = export_records(engine, ids, all_versions=all_versions)
            count = (write_csv if fmt == "csv" else write_jsonl)(records, stream, EXPORT_FIELDS)
    finally:
        if out:
            stream.close()
    if out:
        click.echo(f"exported {count} articles to {out}", err=True)


def _export_parquet(engine: Any, ids: list[int], out: str, all_versions: bool) -> None:
    from ingest.exports.parquet import export_parquet

    result = export_parquet(engine, ids, out, all_versions=all_versions)
    for problem in result.problems():
        click.echo(f"ingest: warning: {problem}", err=True)
    click.echo(f"exported {result.rows} articles to {out} ({result.row_groups} row group"
               f"{'s' * (result.row_groups != 1)})", err=True)


# --- sources / stats / db -------------------------------------------------------------------------

@main.group(invoke_without_command=True)
@db_option
@config_option
@json_option
@csv_option
@click.option("--check", "check_health", is_flag=True,
              help="Exit 1 when any source is failing or its extraction drifting (for cron and monitoring).")
def sources(db: str | None, config_path: str | None, as_json: bool, as_csv: bool = False,
            check_health: bool = False) -> None:
    """Per source: state, last poll, last error kind, articles, next poll, extraction drift.

    The subcommands edit the config's sources: `add URL` (feed discovery), `import FILE.opml`, `export`."""
    if click.get_current_context().invoked_subcommand is not None:
        return  # ingest sources add/import/export (ingest.cli.sources)
    from ingest.cli.sourcehealth import add_drift, check, drift_cell
    from ingest.store.query import sources_status

    with open_reader(db, config_path).connect() as s:
        rows = add_drift(s, sources_status(s), config_path)
    # Failing sources first, marked, with what failed: an operator sees them at a glance.
    rows.sort(key=lambda r: (not r["failing"], r["source"]))
    if emit(rows, as_json=as_json, as_csv=as_csv):
        if check_health:
            check(rows)
        return
    if not rows:
        click.echo("no sources polled yet")
        return
    print_table([{
        "": "✗" if r["failing"] else "", "source": r["source"], "state": r["state"],
        "last poll": when(r["last_polled_at"]), "status": r["last_status"] or "-",
        "error": f"{r['error_kind']}: {r['error_detail'] or ''}" if r["error_kind"] else "-",
        "articles": r["articles"], "items/day": r["items_per_day"], "failed items": r["failed_items"],
        "next poll": when(r["next_poll_at"]), "drift": drift_cell(r)} for r in rows], wide=("error", "drift"))
    failing = [r for r in rows if r["failing"]]
    warned = [r for r in rows if r["feed_warning"] and not r["failing"]]
    if failing:
        click.echo(f"\n{len(failing)} of {len(rows)} sources failing: " +
                   ", ".join(f"{r['source']} ({r['error_kind'] or 'error'})" for r in failing))
    for r in (r for r in rows if r["drifting"]):
        click.echo(f"{r['source']}: extraction {r['drift']['describe']}")
    for r in warned:
        click.echo(f"warning: {r['source']}: {_clip(r['feed_warning'], 200)}")
    if check_health:
        check(rows)


@main.command()
@db_option
@config_option
@json_option
@csv_option
def stats(db: str | None, config_path: str | None, as_json: bool, as_csv: bool = False) -> None:
    """Counts: sources, articles, entries by status, failures by kind, languages, raw bytes."""
    from ingest.store.query import stats as get_stats

    with open_reader(db, config_path).connect() as s:
        data = get_stats(s)
    if as_json:
        json_line(data)
        return
    if as_csv:
        emit([{"key": k, "value": v} for k, v in data.items()], as_json=False, as_csv=True)
        return
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        click.echo(f"{key:18} {value}")


@main.group()
def db() -> None:
    """Archive schema management."""


@db.command("upgrade")
@db_option
@config_option
def db_upgrade(db: str | None, config_path: str | None) -> None:
    """Migrate the archive to this version's schema (back it up first)."""
    from ingest.store.db import open_engine, upgrade

    url = database_url(db, config_path)
    before, after = upgrade(open_engine(url))
    click.echo(f"database at revision {after}" + (f" (was {before})" if before != after else " (already current)"))


@db.command("index")
@db_option
@config_option
def db_index(db: str | None, config_path: str | None) -> None:
    """Build the search engine's index, or bring it up to date (a search builds a small archive's itself)."""
    import time

    from ingest.store.db import open_engine
    from ingest.store.searchengine import build

    started = time.perf_counter()
    path, n = build(open_engine(database_url(db, config_path)))
    click.echo(f"search index at {path}: {n} articles ({time.perf_counter() - started:.1f} s)")


@db.command("current")
@db_option
@config_option
def db_current(db: str | None, config_path: str | None) -> None:
    """Print the archive's schema revision and the one this ingest expects."""
    from ingest.store.db import current_revision, head_revision, open_engine

    url = database_url(db, config_path)
    click.echo(f"database: {current_revision(open_engine(url)) or 'empty'}; expected: {head_revision()}")


def query_from_words(words: tuple[str, ...]) -> str | None:
    """Words as typed: one argument that held spaces was a quoted phrase and stays one."""
    if len(words) == 1:
        return words[0]
    parts = [f'"{w}"' if any(c.isspace() for c in w) and not w.startswith('"') else w for w in words]
    return " ".join(parts) or None


# --- demo -----------------------------------------------------------------------------------------

@main.command()
@db_option
@click.option("--port", default=None, type=click.IntRange(0, 65535),
              help="Port of the local demo site (default 8642; canonical URLs include it).")
@click.option("--serve", is_flag=True, help="Only serve the demo site until interrupted.")
@prefect_option
def demo(db: str | None, port: int | None, serve: bool, prefect: bool | None) -> None:
    """Serve the bundled demo news site on 127.0.0.1 and poll it into an archive."""
    from ingest.memory import limit_arenas

    limit_arenas()  # (as poll)
    from ingest.demo.site import DEMO_PORT, demo_config_yaml, demo_site

    site = demo_site(port=DEMO_PORT if port is None else port)
    try:
        site.start()
    except OSError as exc:
        raise UsageError(f"cannot serve the demo site on port {port or DEMO_PORT}: {exc}; try --port") from None
    try:
        if serve:
            click.echo(f"demo site at {site.base_url}/ (feeds: /feeds/world.rss, /feeds/europe.atom); Ctrl-C stops")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return
        database = db or os.environ.get("INGEST_DATABASE_URL") or "sqlite:///data/demo.db"
        # The config it used is kept beside the database, so `sources`, `backfill` and `serve` work on
        # the demo archive as printed (with `ingest demo --serve` running for the site itself).
        config_path = _demo_config_path(database)
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(demo_config_yaml(site.base_url, database), encoding="utf-8")
        code = _run_poll(str(config_path), database, (), False, prefect)
        exe = _command_name()
        click.echo(f"\nThe demo archive is {database}, its config {config_path}. Try:")
        for example in (f'{exe} search "North Korean soldiers" --db {database}',
                        f"{exe} show 1 --no-text --db {database}",
                        f"{exe} sources --config {config_path}"):
            click.echo(f"  {example}")
        sys.exit(code)
    finally:
        site.stop()


def _demo_config_path(database: str) -> Path:
    """``data/demo.db`` -> ``data/demo.yaml``; other databases: ``data/demo.yaml``."""
    if database.startswith("sqlite:///") and database != "sqlite:///:memory:":
        return Path(database.removeprefix("sqlite:///")).with_suffix(".yaml")
    return Path("data/demo.yaml")


def _command_name() -> str:
    """How to call ingest again, as the user did: `.venv/bin/ingest` when it is not on PATH."""
    import shutil

    argv0 = Path(sys.argv[0])
    if argv0.name == "ingest" and shutil.which("ingest") != str(argv0.resolve()):
        try:
            return str(argv0.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(argv0)
    return "ingest"


