"""glibc allocator settings for the long-running commands (poll, backfill, reprocess, serve, demo).

Python's allocator has no call for either of these, so they go through ctypes to glibc's own
``mallopt`` and ``malloc_trim``; on any other C library (musl, macOS) both are no-ops.

- **Arenas.** glibc gives each thread that allocates its own malloc arena, up to eight per core. A poll
  runs a fetch thread per connection (16 by default), and every arena keeps the memory its thread
  once used: measured on the corpus poll, the command's own process peaked at 232 MB with the default
  and 202 MB with two arenas. Under the GIL the threads hardly ever allocate at the same moment, so
  two arenas cost no measurable speed.
- **Trim.** An extractor process parses pages of up to a few megabytes; the heap they leave behind is
  free but stays resident until given back. ``malloc_trim`` after each chunk gives it back (~15 MB a
  worker on the corpus).
"""

from __future__ import annotations

import ctypes
import sys
from functools import lru_cache
from typing import Any

_M_ARENA_MAX = -8  # glibc's malloc.h


@lru_cache(maxsize=1)
def _glibc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def limit_arenas(count: int = 2) -> bool:
    """At most ``count`` malloc arenas for the threads started from now on; True when it applied."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, count) == 1)


def trim() -> bool:
    """Give free heap memory back to the system; True when glibc released some."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)
