"""The allocator settings of the long-running commands, and the extractor processes' shared start."""

from __future__ import annotations

import gc
import multiprocessing
import subprocess
import sys

import pytest

from ingest import memory
from ingest.config import ExtractSettings
from ingest.extract.pages import ExtractorPool, PageInput

GLIBC = sys.platform.startswith("linux") and memory._glibc() is not None


@pytest.mark.skipif(not GLIBC, reason="mallopt and malloc_trim are glibc's; elsewhere both are no-ops")
def test_arenas_are_limited_and_free_heap_is_given_back() -> None:
    # in a child: the arena limit is process-wide and must not leak into the rest of the suite
    code = ("from ingest import memory; import sys\n"
            "assert memory.limit_arenas(2) is True\n"
            "junk = [bytes(4096) for _ in range(50_000)]; del junk\n"  # ~200 MB freed, to give back
            "print(memory.trim())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() in ("True", "False")  # released or not, it ran and said so


def test_without_glibc_both_are_no_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert memory.limit_arenas() is False
    assert memory.trim() is False


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(), reason="no forkserver here")
def test_extractor_workers_fork_from_a_server_with_the_language_model_loaded() -> None:
    # A worker forked from ingest.extract.preload starts with the model loaded and everything frozen
    # in the collector's permanent generation (what lets it share those pages with the server).
    with ExtractorPool(ExtractSettings(), workers=1) as pool:
        assert pool.extract_many([PageInput("https://example.org/a", b"<html><body><p>x</p></body></html>",
                                            "text/html")])
        frozen = pool._current().submit(gc.get_freeze_count).result(timeout=120)
    assert frozen > 10_000
