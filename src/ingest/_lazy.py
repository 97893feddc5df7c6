"""Package faces that load on first use (PEP 562): each stage package's ``__init__`` names its public
surface without importing it, so importing one module of a package (``ingest.store.db`` for a read
command) does not import the package's heavy neighbours (trafilatura, Prefect, httpx)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public ``names`` live in submodules
    (``{"Fetcher": "client"}``: ``ingest.fetch.Fetcher`` is ``ingest.fetch.client.Fetcher``)."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
