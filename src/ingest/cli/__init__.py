"""The ``ingest`` command line: a thin layer over the library (:mod:`ingest.api`).

Importing this package registers every command on :data:`main`; :func:`entry` is the console script.
Commands import their heavy parts (SQLAlchemy, trafilatura, Prefect) inside the function body, so
``ingest --help`` and the read commands start fast.
"""

from ingest.cli import archive, commands, ops, sources, web  # noqa: F401  (each registers its commands on main)
from ingest.cli.group import entry, main

__all__ = ["entry", "main"]
