"""The ``ingest`` command line: a thin layer over the library (:mod:`ingest.api`).

:data:`main` is the group and :func:`entry` the console script. The map below says which module
defines each command; a command's module is imported when the command is named (``LazyGroup``), and
commands import their heavy parts (SQLAlchemy, trafilatura, Prefect) inside the function body, so
``ingest --help`` and the read commands start fast.
"""

from ingest.cli.group import entry, main

_COMMANDS = "ingest.cli.commands"
main.lazy = {
    "poll": (_COMMANDS,), "search": (_COMMANDS,), "show": (_COMMANDS,), "export": (_COMMANDS,),
    "stats": (_COMMANDS,), "db": (_COMMANDS,), "demo": (_COMMANDS,),
    "sources": (_COMMANDS, "ingest.cli.sources"),  # the group and its status view; add/import/export
    "retag": ("ingest.cli.archive",), "reprocess": ("ingest.cli.archive",),
    "serve": ("ingest.cli.ops",), "backfill": ("ingest.cli.ops",), "deployments": ("ingest.cli.ops",),
    "runs": ("ingest.cli.ops",),
    "web": ("ingest.cli.web",),
}

__all__ = ["entry", "main"]
