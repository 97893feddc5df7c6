"""Article text and metadata from page bytes, with trafilatura, in worker processes.

:func:`extract_page` is pure: bytes in, an :class:`Extraction` or an :class:`ExtractionFailure` out.
Its ``text`` is trafilatura's main text, rendered by trafilatura's own txt serialiser from one
``bare_extraction`` call with metadata: readers' comments are extracted apart (``comments``) and are
part of ``text`` only with ``include_comments: true``, which makes ``text`` exactly
``trafilatura.extract(html, url=url, **options)``. Only when that finds too little does
ingest.extract.fallback look further; the options then say where the text came from ("fallback").
The metadata (publication time, headline, byline, language) is chosen by the rules of
ingest.extract.metadata from the page's own markup and trafilatura's reading of it.

trafilatura is not thread-safe (it crashes the interpreter when called from threads), so the pipeline
extracts through :class:`ExtractorPool`, a pool of worker processes. trafilatura is imported lazily:
the main process never needs it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from ingest.analyse.precompute import Precompute, TextFacts, text_facts
from ingest.config import ExtractSettings
from ingest.errors import ErrorKind
from ingest.extract.decode import charset_from_content_type, decode_html
from ingest.extract.fallback import rescue
from ingest.extract.metadata import HTMLDATE_FORMAT, page_metadata, parse_document
from ingest.fetch.botwall import detect_bot_wall
from ingest.memory import trim
from ingest.store.blobs import PackedBody, pack_body

EXTRACTOR = "trafilatura"

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Types servers put on anything; such a body counts as HTML only if it looks like HTML.
_VAGUE_TYPES = frozenset({"", "text/plain", "application/octet-stream", "binary/octet-stream", "text/xml",
                          "application/xml", "application/unknown", "unknown/unknown", "*/*"})
_BINARY_MAGIC = (b"%PDF-", b"\x89PNG", b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b",
                 b"RIFF", b"OggS", b"fLaC", b"ID3", b"\x00\x00\x00")
_UNICODE_BOMS = (b"\xff\xfe", b"\xfe\xff")
_HTML_SNIFF = re.compile(r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<meta\s|<title[\s>]", re.I)

# trafilatura.extract() keyword (as in ExtractSettings.trafilatura_options()) -> Extractor parameter.
_EXTRACTOR_PARAMS = {"include_comments": "comments", "include_tables": "tables", "favor_precision": "precision",
                     "favor_recall": "recall", "include_formatting": "formatting", "include_links": "links",
                     "include_images": "images", "fast": "fast", "deduplicate": "dedup", "target_language": "lang"}


@dataclass(frozen=True, slots=True)
class PageInput:
    url: str  # the final URL after redirects
    body: bytes
    content_type: str | None  # the response Content-Type header
    status: int | None = 200


@dataclass(frozen=True, slots=True)
class Extraction:
    text: str
    title: str | None
    authors: tuple[str, ...]
    published: str | None
    language: str | None  # primary subtag, normalised (nb -> no)
    language_source: str | None  # "page" (declared, not contradicted by the text) or "detected"
    sitename: str | None
    description: str | None
    hostname: str | None
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    canonical_url: str | None
    image: str | None
    encoding: str
    extractor: str
    extractor_version: str
    options: dict[str, Any]
    # Provenance of the metadata (ingest.extract.metadata); defaults for callers that build one by hand.
    title_source: str | None = None  # jsonld | og | twitter | h1 | title | trafilatura
    title_raw: str | None = None  # the page's <title> as written
    organisations: tuple[str, ...] = ()  # publishers/newsrooms credited (people and agencies: authors)
    published_source: str | None = None  # jsonld | meta | time-element | htmldate | url
    published_precision: str | None = None  # "datetime" or "date" (published is then YYYY-MM-DD)
    modified: str | None = None  # the last modification the page declares, ISO 8601
    language_declared: str | None = None  # the page's declaration as written ("pt-BR")
    comments: str | None = None  # readers' comments, apart from the text
    # Filled by the worker processes when asked (ingest.analyse.precompute); not part of the extraction's value.
    packed: PackedBody | None = field(default=None, compare=False, repr=False)
    facts: TextFacts | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ExtractionFailure:
    kind: ErrorKind  # NOT_HTML, BOT_WALL, EMPTY_EXTRACTION or EXTRACTOR_ERROR
    detail: str
    packed: PackedBody | None = field(default=None, compare=False, repr=False)  # the body is stored anyway


ExtractResult = Extraction | ExtractionFailure


def extract_page(page: PageInput, settings: ExtractSettings) -> ExtractResult:
    """Extract one page. Never raises for bad input; an exception inside trafilatura is EXTRACTOR_ERROR."""
    if not page.body.strip():
        return ExtractionFailure(ErrorKind.EMPTY_EXTRACTION, "empty body")
    mime = (page.content_type or "").split(";", 1)[0].strip().lower()
    if mime not in _HTML_TYPES and mime not in _VAGUE_TYPES:
        return ExtractionFailure(ErrorKind.NOT_HTML, f"content type {mime}")
    body = _without_stray_nuls(page.body, page.content_type)
    binary = _binary_reason(body, page.content_type)
    if binary:
        return ExtractionFailure(ErrorKind.NOT_HTML, binary)
    html, encoding = decode_html(body, page.content_type)
    if mime not in _HTML_TYPES and not _HTML_SNIFF.search(html[:4096]):
        return ExtractionFailure(ErrorKind.NOT_HTML, f"content type {mime or 'missing'} and no HTML markup")
    wall = detect_bot_wall(html, page.status)
    if wall:
        return ExtractionFailure(ErrorKind.BOT_WALL, wall)

    options = settings.trafilatura_options()
    try:
        import trafilatura

        doc, text, comments = _trafilatura(html, page.url, options)
    except Exception as exc:  # anything trafilatura raises is its failure, not ours
        return ExtractionFailure(ErrorKind.EXTRACTOR_ERROR, f"{type(exc).__name__}: {exc}")
    if text is None or doc is None or len(text) < settings.min_text_chars:  # ingest.extract.fallback's turn
        found = rescue(html, page.url, options, settings.min_text_chars)
        if found is None:
            return ExtractionFailure(ErrorKind.EMPTY_EXTRACTION, "trafilatura found no main text" if text is None
                                     else f"{len(text)} characters of text, fewer than {settings.min_text_chars}")
        doc, text, comments, options = found.doc, found.text, found.comments, found.options
    meta = page_metadata(parse_document(html), doc, text, page.url)
    return Extraction(
        text=text,
        title=meta.title,
        authors=meta.authors,
        published=meta.published,
        language=meta.language.language,
        language_source=meta.language.source,
        sitename=meta.sitename or _clean(doc.sitename),
        description=_clean(doc.description),
        hostname=_clean(doc.hostname),
        categories=_unique(doc.categories),
        tags=_unique(doc.tags),
        canonical_url=meta.canonical_url,
        image=_clean(doc.image),
        encoding=encoding,
        extractor=EXTRACTOR,
        extractor_version=trafilatura.__version__,
        options=options,
        title_source=meta.title_source,
        title_raw=meta.title_raw,
        organisations=meta.organisations,
        published_source=meta.published_source,
        published_precision=meta.published_precision,
        modified=meta.modified,
        language_declared=meta.language.declared,
        comments=comments,
    )


def _trafilatura(html: str, url: str, options: dict[str, Any]) -> tuple[Any, str | None, str | None]:
    """(Document, txt, comments). Comments are always extracted, apart: trafilatura then also removes
    them from the tree before looking for the main text. The txt carries them only when the options
    ask for it (it is then what trafilatura.extract(html, url=url, **options) returns)."""
    from trafilatura import bare_extraction
    from trafilatura.core import determine_returnstring
    from trafilatura.settings import Extractor

    try:
        params = {_EXTRACTOR_PARAMS[name]: value for name, value in options.items()}
    except KeyError as exc:
        raise TypeError(f"unsupported trafilatura option {exc.args[0]!r}") from None
    inline_comments = bool(params.pop("comments", False))
    # Same Extractor as extract() builds, plus metadata, comments apart, and htmldate asked for the time
    # (its max_date is htmldate's own default, today: a page dated in the future is no evidence).
    dates = {"original_date": True, "extensive_search": True, "outputformat": HTMLDATE_FORMAT}
    doc = bare_extraction(html, url=url, options=Extractor(output_format="txt", url=url, with_metadata=True,
                                                           comments=True, date_params=dates, **params))
    if doc is None:
        return None, None, None
    from lxml.etree import Element

    render = Extractor(output_format="txt", url=url, comments=True, **params)
    # rendered as extract() renders a text without comments (an empty comments body, then strip())
    inline = determine_returnstring(doc, render) if inline_comments else None  # exactly extract()'s
    comments_body, doc.commentsbody = doc.commentsbody, Element("body")
    main = determine_returnstring(doc, render)
    doc.body = comments_body
    comments = determine_returnstring(doc, render) if comments_body is not None and len(comments_body) else ""
    return doc, inline if inline is not None else main, comments or None


# A few NUL bytes in a page of markup are a template or CMS glitch, not a binary file: at most this share
# of the bytes (or STRAY_NULS_MIN, for short pages) is dropped before extraction. The stored raw bytes
# keep them. Binary files have NULs throughout (images, PDFs' streams), so they stay refused.
STRAY_NULS_SHARE = 0.01
_CONTROL_BYTES = re.compile(rb"[\x01-\x08\x0e-\x1a\x1c-\x1f]")  # not tab/LF/VT/FF/CR, nor ESC (ISO-2022)
STRAY_NULS_MIN = 16


def _without_stray_nuls(body: bytes, content_type: str | None) -> bytes:
    if b"\x00" not in body:
        return body
    head = body[:8192]
    if head.startswith(_UNICODE_BOMS) or (charset_from_content_type(content_type) or "").startswith(
            ("utf-16", "utf-32")):
        return body  # NULs are text in UTF-16/32
    nuls = body.count(b"\x00")
    if nuls > max(STRAY_NULS_MIN, len(body) * STRAY_NULS_SHARE):
        return body
    stripped = body.replace(b"\x00", b"")
    if any(stripped[:8192].startswith(m) for m in _BINARY_MAGIC if m != b"\x00\x00\x00"):
        return body
    if _CONTROL_BYTES.search(stripped, 0, 8192):  # other control bytes too: binary after all
        return body
    if not _HTML_SNIFF.search(stripped[:8192].decode("latin-1")):
        return body
    return stripped


def _binary_reason(body: bytes, content_type: str | None) -> str | None:
    head = body[:8192]
    for magic in _BINARY_MAGIC:
        if head.startswith(magic):
            return f"binary content (starts with {magic[:5]!r})"
    # Only UTF-16/32 text holds NUL bytes; a "charset=utf-8" label does not make NULs text.
    utf16 = head.startswith(_UNICODE_BOMS) or (charset_from_content_type(content_type) or "").startswith(
        ("utf-16", "utf-32"))
    if b"\x00" in head and not utf16:
        return "binary content (NUL bytes)"
    return None


def _unique(values: Sequence[object] | None) -> tuple[str, ...]:
    out: list[str] = []
    for value in values or ():
        cleaned = _clean(value)
        if cleaned and cleaned not in out:
            out.append(cleaned)
    return tuple(out)


def _clean(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


# --- worker processes --------------------------------------------------------------------------------

MAX_BREAKS_IN_A_ROW = 3


ORPHAN_CHECK_S = 2.0


def _exit_when_orphaned(owner_pid: int) -> None:
    """A worker's parent is the forkserver, not the poll, and it holds its own task queue open, so it
    never notices a poll killed with SIGKILL: it would wait for work for ever and keep the forkserver
    alive with it. Watch the poll instead."""
    while True:
        time.sleep(ORPHAN_CHECK_S)
        try:
            os.kill(owner_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # the pid was reused by another user's process: ours is gone
            os._exit(0)


def _init_worker(owner_pid: int | None = None) -> None:
    if owner_pid is not None:
        threading.Thread(target=_exit_when_orphaned, args=(owner_pid,), name="orphan-watch", daemon=True).start()
    # Import (and load the language model) once per worker, not on its first page.
    import trafilatura  # noqa: F401

    from ingest.extract.language import warm

    warm()
    # Failures come back as values; trafilatura's per-page log lines would only be noise on stderr.
    for name in ("trafilatura", "htmldate", "courlan", "justext", "charset_normalizer"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _warm() -> int:
    return os.getpid()


def extract_chunk(pages: Sequence[PageInput], settings: ExtractSettings,
                  precompute: Precompute | None = None) -> list[ExtractResult]:
    """Worker entry point: one result per page, in order, with what ``precompute`` asks for."""
    results: list[ExtractResult] = []
    for page in pages:
        try:
            result: ExtractResult = extract_page(page, settings)
        except Exception as exc:  # a bug here must cost one page, not the chunk
            result = ExtractionFailure(ErrorKind.EXTRACTOR_ERROR, f"{type(exc).__name__}: {exc}")
        results.append(with_precomputed(result, page, precompute) if precompute is not None else result)
    trim()  # the parse trees of the chunk's pages are free now: give their heap back (ingest.memory)
    return results


def with_precomputed(result: ExtractResult, page: PageInput, precompute: Precompute) -> ExtractResult:
    """``result`` carrying the packed body and the text facts the store would compute."""
    try:
        packed = pack_body(page.body) if precompute.pack_body else None
        if isinstance(result, Extraction) and precompute.dedup is not None:
            facts = text_facts(result.title, result.text, precompute.dedup, precompute.taxonomy,
                               precompute.keyphrases, result.language)
            return dataclasses.replace(result, packed=packed, facts=facts)
        return dataclasses.replace(result, packed=packed)
    except Exception:  # precomputing is an optimisation: the store computes whatever is missing
        return result


class ExtractorPool:
    """Worker processes running :func:`extract_page`; safe to call from several threads at once.

    If a worker dies, every chunk in flight fails with it; those pages are retried one at a time on a
    fresh pool, and a page that kills its worker again becomes EXTRACTOR_ERROR. (A page of another
    thread's retry that is in flight when a worker dies is counted the same way.)
    """

    # The function run in the workers; tests substitute one that can crash a worker.
    chunk_function: Callable[[Sequence[PageInput], ExtractSettings, Precompute | None], list[ExtractResult]] = \
        staticmethod(extract_chunk)
    max_chunk = 8

    def __init__(self, settings: ExtractSettings, workers: int | None = None) -> None:
        self.settings = settings
        self.workers = workers or settings.workers or os.cpu_count() or 1
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._warming: threading.Thread | None = None
        self._closed = False
        self._breaks_in_a_row = 0  # pools broken since a task last completed

    def start(self) -> None:
        """Create the pool and start warming the workers; returns at once."""
        with self._lock:
            if self._closed:
                raise RuntimeError("ExtractorPool is closed")
            if self._executor is None:
                self._executor = self._new_executor()

    def extract_many(self, pages: Sequence[PageInput], precompute: Precompute | None = None) -> list[ExtractResult]:
        """Extract pages in order; failures are values, including a dead worker. ``precompute``: what
        the workers also compute for the store (:mod:`ingest.analyse.precompute`)."""
        if not pages:
            return []
        executor = self._current()
        size = max(1, min(self.max_chunk, math.ceil(len(pages) / (self.workers * 4))))
        chunks = [list(pages[i:i + size]) for i in range(0, len(pages), size)]
        futures = [self._submit(executor, chunk, precompute) for chunk in chunks]
        results: list[ExtractResult] = []
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                results.extend(self._done(future))
            except BrokenProcessPool:
                results.extend(self._one_by_one(chunk, precompute))
        return results

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            warming, self._warming = self._warming, None
        if warming is not None:
            warming.join()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ExtractorPool:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _one_by_one(self, pages: Sequence[PageInput], precompute: Precompute | None) -> list[ExtractResult]:
        # Sequential, so a page that kills its worker is the one that gets the blame.
        results: list[ExtractResult] = []
        for page in pages:
            if self._breaks_in_a_row >= MAX_BREAKS_IN_A_ROW:
                # Workers that die whatever they are given (an initializer that fails, a main module
                # without the __main__ guard): do not respawn a pool for every page.
                detail = f"extractor workers keep dying ({self._breaks_in_a_row} pools in a row)"
                results.append(ExtractionFailure(ErrorKind.EXTRACTOR_ERROR, detail))
                continue
            executor = self._current()
            try:
                results.extend(self._done(self._submit(executor, [page], precompute)))
            except BrokenProcessPool as exc:
                self._replace_broken(executor)
                detail = f"worker process died extracting {page.url}: {exc}"
                results.append(ExtractionFailure(ErrorKind.EXTRACTOR_ERROR, detail))
        return results

    def _done(self, future: Future[list[ExtractResult]]) -> list[ExtractResult]:
        results = future.result()
        self._breaks_in_a_row = 0
        return results

    def _submit(self, executor: ProcessPoolExecutor, chunk: list[PageInput],
                precompute: Precompute | None) -> Future[list[ExtractResult]]:
        try:
            return executor.submit(type(self).chunk_function, chunk, self.settings, precompute)
        except BrokenProcessPool:
            self._replace_broken(executor)
            return self._current().submit(type(self).chunk_function, chunk, self.settings, precompute)

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("ExtractorPool is closed")
            if self._executor is None or _is_broken(self._executor):
                if self._executor is not None:
                    self._executor.shutdown(wait=False, cancel_futures=True)
                    self._breaks_in_a_row += 1
                self._executor = self._new_executor()
            return self._executor

    def _replace_broken(self, executor: ProcessPoolExecutor | None = None) -> None:
        with self._lock:
            current = self._executor
            if current is not None and (current is executor or _is_broken(current)):
                current.shutdown(wait=False, cancel_futures=True)
                self._breaks_in_a_row += 1
                self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # Never fork: the parent may hold threads, HTTP clients or an event loop by now.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if context.get_start_method() == "forkserver":
            # Workers then fork from a server that has trafilatura imported and the language model
            # loaded already, and share those pages (ingest.extract.preload; if this call comes
            # before the server's first start: later it is a no-op and workers load their own).
            context.set_forkserver_preload(["ingest.extract.preload"])
        executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                       initargs=(os.getpid(),))
        # Submitting spawns the workers; with forkserver the first spawn waits for the server's
        # imports, so do it on a thread and let the caller get on with its own start-up.
        warming = threading.Thread(target=_submit_warmups, args=(executor, self.workers),
                                   name="extractor-warmup", daemon=True)
        warming.start()
        self._warming = warming
        return executor


def _submit_warmups(executor: ProcessPoolExecutor, count: int) -> None:
    for _ in range(count):
        try:
            executor.submit(_warm)
        except (BrokenProcessPool, RuntimeError):  # closed or broken meanwhile: nothing to warm
            return


def _is_broken(executor: ProcessPoolExecutor) -> bool:
    return bool(getattr(executor, "_broken", False))
