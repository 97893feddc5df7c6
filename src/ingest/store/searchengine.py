"""The search engine: a tantivy index of the analyser's tokens, kept in step with the archive.

Why tantivy: FTS5's ``bm25()`` and PostgreSQL's ``ts_rank_cd`` score every matching row before the
``LIMIT`` (at a million articles a common word is hundreds of thousands of rows: seconds), and neither
can walk a query's matches newest first. Tantivy ranks top-k by BM25 with block-max WAND and sorts by a
fast field without scoring everything; its official Python bindings need no server.

- **What it indexes**: exactly the tokens the SQL index holds (``analyse.searchtext``: exact forms,
  stems tagged by language, CJK bigrams), read from the archive's own index columns, so its hits are
  the SQL index's hits; plus the filters: language, publication time (``COALESCE(published_at,
  first_seen_at)``), tags and every source that listed the article.
- **Where**: a derived directory, never a source of truth. Next to a SQLite file
  (``archive.db.search/``); for PostgreSQL under ``$INGEST_SEARCH_DIR`` (default
  ``~/.cache/ingest/search``), one directory per database. Deleting it costs one rebuild.
- **In step**: before answering, the index applies the archive's change log (``store/searchlog.py``)
  after its watermark and commits; the watermark is saved with the archive's id (a new or recreated
  archive at the same address is rebuilt) and the analyser version. One process writes at a time
  (tantivy's writer lock); a process that cannot take it in time, or cannot write the directory,
  answers from SQL instead (``store/search.py``), as does an archive without the log.
- ``INGEST_SEARCH_ENGINE=sql`` turns it off (the SQL index answers every search).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.store import searchlog
from ingest.store.reads import rows

log = logging.getLogger(__name__)
SCHEMA_VERSION = 2  # bump when the document's fields change: every index is rebuilt
TITLE_BOOST = 10.0  # title : text, as the SQL engines weigh them (bm25 10 : 1, weights A : B)
LOCK_WAIT_S = 5.0
# A search builds a missing index itself up to this many articles (seconds); a larger archive's first
# build is `ingest db index` (minutes at a million), and until then the SQL index answers.
INLINE_BUILD_MAX = 50_000
_EPOCH = datetime(1970, 1, 1)


def enabled() -> bool:
    if os.environ.get("INGEST_SEARCH_ENGINE", "").lower() in ("sql", "off", "0", "none"):
        return False
    try:
        import tantivy  # noqa: F401
    except ImportError:
        return False
    return True


def index_dir(engine: Any) -> Path | None:
    """Where the index of the archive behind ``engine`` lives."""
    url = engine.url
    name = getattr(url, "drivername", None) or str(url).split(":", 1)[0]
    if str(name).startswith("sqlite"):
        path = getattr(engine, "path", None) or (getattr(url, "database", None))
        if path is None:
            from ingest.store.sqlitereads import sqlite_path

            path = sqlite_path(str(url))
        if not path or str(path) in (":memory:", ""):
            return None
        path = Path(path).expanduser().resolve()
        return path.with_name(path.name + ".search")
    rendered = url.render_as_string(hide_password=True) if hasattr(url, "render_as_string") else str(url)
    root = Path(os.environ.get("INGEST_SEARCH_DIR") or Path.home() / ".cache" / "ingest" / "search")
    key = hashlib.sha1(rendered.encode()).hexdigest()[:16]
    return root / f"{re.sub(r'[^A-Za-z0-9]+', '-', str(getattr(url, 'database', '') or 'db'))}-{key}"


def micros(value: datetime | None) -> int:
    if value is None:
        return 0
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return int((value - _EPOCH).total_seconds() * 1_000_000)


def order_key(value: datetime | None, article_id: int) -> int:
    return (micros(value) // 1_000_000) * 2**32 + article_id


def _schema() -> Any:
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("id", stored=True, indexed=True, fast=True)
    sb.add_integer_field("newest", indexed=True, fast=True)
    # newest first, ties by id (as the SQL index orders): seconds * 2**32 + id; ids below 2**32
    sb.add_integer_field("order", fast=True)
    sb.add_text_field("language", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("tag", tokenizer_name="raw", index_option="basic")
    sb.add_unsigned_field("source", indexed=True)
    # the tokens are the analyser's, already folded: split at spaces and nothing else
    sb.add_text_field("title", tokenizer_name="whitespace")
    sb.add_text_field("text", tokenizer_name="whitespace")
    return sb.build()


@dataclass
class _State:
    uid: str
    mark: int
    analyser: int
    schema: int


class SearchIndex:
    """One archive's index in this process (kept open: opening costs more than most searches)."""

    def __init__(self, path: Path) -> None:
        import tantivy

        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.schema = _schema()
        self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
        self.lock = threading.Lock()
        self.hinted = False

    # --- keeping up --------------------------------------------------------------------------------

    def _state(self) -> _State | None:
        try:
            data = json.loads((self.path / "ingest-state.json").read_text())
            return _State(data["uid"], int(data["mark"]), int(data["analyser"]), int(data["schema"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _save(self, state: _State) -> None:
        tmp = self.path / "ingest-state.json.tmp"
        tmp.write_text(json.dumps(state.__dict__))
        os.replace(tmp, self.path / "ingest-state.json")

    def _writer(self, heap: int, threads: int) -> Any:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                return self.index.writer(heap_size=heap, num_threads=threads)
            except ValueError:  # another process holds the writer lock
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.05)

    def sync(self, conn: Any, *, any_size: bool = False) -> bool:
        """Apply the archive's changes since the watermark (everything, the first time, if the archive
        holds at most INLINE_BUILD_MAX articles or ``any_size``). False when the index cannot be brought
        up to date now (the caller answers from SQL)."""
        from ingest.analyse.searchtext import ANALYSER_VERSION

        uid = archive_uid(conn)
        if uid is None:
            return False
        with self.lock:
            state = self._state()
            fresh = state is None or state.uid != uid or state.analyser != ANALYSER_VERSION \
                or state.schema != SCHEMA_VERSION or searchlog.trimmed_past(conn, state.mark)
            mark = searchlog.position(conn)
            if not fresh and state is not None:
                if dialect(conn) == "sqlite" and mark == state.mark:
                    return True  # nothing written since: one SELECT
                changed = searchlog.changed_since(conn, state.mark)
                if not changed:
                    if mark != state.mark:
                        self._save(_State(uid, mark, ANALYSER_VERSION, SCHEMA_VERSION))
                    return True
            if fresh and not any_size and (n := searchlog.article_count(conn)) > INLINE_BUILD_MAX:
                if not self.hinted:
                    log.warning("the search index of this archive is not built yet (%d articles): run "
                                "`ingest db index`; until then the SQL index answers", n)
                    self.hinted = True
                return False
            writer = self._writer(256_000_000 if fresh else 48_000_000, 2 if fresh else 1)
            if writer is None:
                return False
            try:
                if fresh:
                    writer.delete_all_documents()
                    n, after = 0, 0
                    while ids := searchlog.all_ids(conn, after):
                        self._add(writer, conn, ids, replace=False)
                        n += len(ids)
                        after = ids[-1]
                    log.info("search index of %s built: %d articles", self.path, n)
                else:
                    for i in range(0, len(changed), searchlog.CHUNK):
                        self._add(writer, conn, changed[i:i + searchlog.CHUNK], replace=True)
                writer.commit()
                writer.wait_merging_threads()
            except BaseException:
                writer.rollback()
                raise
            self._save(_State(uid, mark, ANALYSER_VERSION, SCHEMA_VERSION))
            self.index.reload()
            return True

    def _add(self, writer: Any, conn: Any, ids: Sequence[int], *, replace: bool) -> None:
        import tantivy

        from ingest.analyse.searchtext import index_fields

        if replace:  # (by query: the bindings' delete_documents_by_term misses u64 terms, tantivy-py 0.27)
            writer.delete_documents_by_query(tantivy.Query.term_set_query(self.schema, "id", list(ids)))
        for d in searchlog.documents(conn, ids):
            title, text = d["title_tokens"], d["text_tokens"]
            if text is None:  # not analysed in the archive yet: the same analyser, here
                title, text = index_fields(d["title"], d["text"], d["language"])
            doc = tantivy.Document()
            doc.add_unsigned("id", d["id"])
            doc.add_integer("newest", micros(d["newest"]))
            doc.add_integer("order", order_key(d["newest"], d["id"]))
            if d["language"]:
                doc.add_text("language", d["language"])
            for tag in d["tags"]:  # as stored: the SQL filter compares the stored tag with the lower-cased one
                doc.add_text("tag", tag)
            for s in d["sources"]:
                doc.add_unsigned("source", s)
            doc.add_text("title", " ".join(title))
            doc.add_text("text", " ".join(text))
            writer.add_document(doc)

    # --- searching ---------------------------------------------------------------------------------

    def search(self, plan: Any, filters: Any, source_ids: Sequence[int] | None, *, limit: int, offset: int,
               order: str) -> list[tuple[int, float | None]]:
        import tantivy

        q = to_query(self.schema, plan, filters, source_ids)
        searcher = self.index.searcher()
        if order == "newest":
            found = searcher.search(q, limit, count=False, order_by_field="order", offset=offset,
                                    order=tantivy.Order.Desc)
        else:
            found = searcher.search(q, limit, count=False, offset=offset)
        addresses = [a for _, a in found.hits]
        ids = searcher.fast_field_values("id", addresses) if addresses else []
        return [(int(i), float(s) if order != "newest" else None) for i, (s, _) in zip(ids, found.hits, strict=True)]


def dialect(conn: Any) -> str:
    return str(conn.dialect.name)


def archive_uid(conn: Any) -> str | None:
    try:
        found = rows(conn, "SELECT uid FROM search_archive")
    except Exception:  # noqa: BLE001 - an archive from before the log: the SQL index answers
        return None
    return str(found[0].uid) if found else None


# --- the query -----------------------------------------------------------------------------------------

def _phrase(schema: Any, field: str, p: Any) -> Any:
    import tantivy

    tokens = list(p.tokens)
    if len(tokens) == 1:
        if p.prefix:
            return tantivy.Query.regex_query(schema, field, re.escape(tokens[0]) + ".*")
        return tantivy.Query.term_query(schema, field, tokens[0])
    if p.prefix:
        return tantivy.Query.phrase_prefix_query(schema, field, tokens)
    return tantivy.Query.phrase_query(schema, field, tokens)


def _term(schema: Any, t: Any) -> Any:
    import tantivy

    should = tantivy.Occur.Should
    parts = []
    for p in t.alternatives:
        parts.append((should, tantivy.Query.boost_query(_phrase(schema, "title", p), TITLE_BOOST)))
        parts.append((should, _phrase(schema, "text", p)))
    return tantivy.Query.boolean_query(parts)


def to_query(schema: Any, plan: Any, filters: Any, source_ids: Sequence[int] | None) -> Any:
    """The plan of ``store/searchquery.py`` (None: every article) and the filters, as one tantivy query."""
    import tantivy

    must, must_not, should = tantivy.Occur.Must, tantivy.Occur.MustNot, tantivy.Occur.Should
    clauses: list[tuple[Any, Any]] = []
    for g in plan.groups if plan is not None else ():
        group = [(must, tantivy.Query.boolean_query([(should, _term(schema, t)) for t in g.terms]))]
        group += [(must_not, _term(schema, t)) for t in g.excluded]
        clauses.append((must, tantivy.Query.boolean_query(group)))
    filters_q: list[tuple[Any, Any]] = []
    if filters.language:
        filters_q.append((must, tantivy.Query.term_query(schema, "language", filters.language)))
    for tag in filters.tags:
        filters_q.append((must, tantivy.Query.term_query(schema, "tag", tag.lower())))
    if source_ids is not None:
        filters_q.append((must, tantivy.Query.term_set_query(schema, "source", list(source_ids))))
    if filters.since or filters.until:
        filters_q.append((must, tantivy.Query.range_query(
            schema, "newest", tantivy.FieldType.Integer,
            micros(filters.since) if filters.since else -(2**62),
            micros(filters.until) - 1 if filters.until else 2**62)))
    if filters.article_ids:
        filters_q.append((must, tantivy.Query.term_set_query(schema, "id", list(filters.article_ids))))
    if not clauses:
        clauses.append((must, tantivy.Query.all_query()))
    if filters_q:  # filters narrow without scoring
        clauses.append((must, tantivy.Query.const_score_query(tantivy.Query.boolean_query(filters_q), 0.0)))
    return clauses[0][1] if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)


# --- the entry point -------------------------------------------------------------------------------------

_OPEN: dict[Path, SearchIndex] = {}
_OPEN_LOCK = threading.Lock()


def open_index(engine: Any) -> SearchIndex | None:
    if not enabled():
        return None
    path = index_dir(engine)
    if path is None:
        return None
    with _OPEN_LOCK:
        found = _OPEN.get(path)
        if found is None:
            try:
                try:
                    found = SearchIndex(path)
                except ValueError:
                    # an index of another schema version (SCHEMA_VERSION): derived data, made again
                    if not (path / "meta.json").exists():
                        raise
                    import shutil

                    shutil.rmtree(path)
                    found = SearchIndex(path)
                _OPEN[path] = found
            except (OSError, ValueError) as exc:
                log.info("no search index at %s (%s): searching the SQL index", path, exc)
                return None
        return found


def search_ids(engine: Any, plan: Any, filters: Any, *, limit: int, offset: int,
               order: str) -> list[tuple[int, float | None]] | None:
    """Ids (and scores) best first from the index, brought up to date first; None when the index cannot
    answer (off, not installed, not writable, busy, or an archive without the log)."""
    index = open_index(engine)
    if index is None:
        return None
    with engine.connect() as conn:
        try:
            if not index.sync(conn):
                return None
        except (OSError, ValueError) as exc:
            log.warning("search index %s could not be brought up to date (%s): searching the SQL index",
                        index.path, exc)
            return None
        source_ids = None
        if filters.sources:
            source_ids = [int(r.id) for r in rows(conn, "SELECT id FROM sources WHERE name IN :names",
                                                  {"names": list(filters.sources)}, expanding=("names",))]
    return index.search(plan, filters, source_ids, limit=limit, offset=offset, order=order)


def build(engine: Any) -> tuple[Path, int]:
    """Build the index, or bring it up to date, whatever the archive's size (``ingest db index``):
    its directory and the number of documents it holds."""
    from ingest.errors import UsageError

    if not enabled():
        raise UsageError("the search engine is off (INGEST_SEARCH_ENGINE=sql, or tantivy is not installed)")
    index = open_index(engine)
    if index is None:
        raise UsageError(f"no search index can be kept for this archive at {index_dir(engine)} (an in-memory "
                         "SQLite database, or a directory that cannot be written)")
    with engine.connect() as conn:
        if not index.sync(conn, any_size=True):
            raise UsageError(f"the search index at {index.path} is being written by another process, or this "
                             "archive predates migration 0011 (run `ingest db upgrade`)")
    return index.path, int(index.index.searcher().num_docs)


def refresh(engine: Any, *, only_existing: bool = False) -> None:
    """Bring the index up to date now (after a run that wrote articles), so the next search is quick;
    best effort: a failure leaves it to the next search. ``only_existing``: not where no index is yet
    (a worker machine that never searches builds none)."""
    if only_existing and (not enabled() or (path := index_dir(engine)) is None
                          or not (path / "ingest-state.json").exists()):
        return
    index = open_index(engine)
    if index is None:
        return
    try:
        with engine.connect() as conn:
            index.sync(conn)
    except Exception:  # noqa: BLE001 - the archive is written; the index catches up at the next search
        log.warning("search index refresh failed; the next search catches up", exc_info=True)
