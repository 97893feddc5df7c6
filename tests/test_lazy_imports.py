"""Read commands start at once: ``ingest --help``, ``search``, ``show``, ``stats``, ``sources``, ``runs``
and ``export`` import neither Prefect, Alembic nor trafilatura (nor httpx, feedparser), each checked in
a fresh interpreter (in the style of reader's test_lazy_imports.py). Their start-up times are measured
by ``bench/startup.py``, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HEAVY = ("prefect", "alembic", "trafilatura", "httpx", "feedparser", "charset_normalizer", "py3langid")

PROBE = """
import contextlib, io, json, sys
from ingest.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(sys.argv[1:], standalone_mode=False)
    except SystemExit:
        pass
print(json.dumps({"modules": sorted(m for m in sys.modules if m.split('.')[0] in HEAVY_NAMES),
                  "chars": len(out.getvalue())}))
""".replace("HEAVY_NAMES", repr(HEAVY))


@pytest.fixture(scope="module")
def archive(demo_archive: str) -> str:
    return demo_archive


def probe(*args: str, cwd: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("command", [
    ["--help"], ["search", "Ukraine"], ["search", "kyiv", "OR", "kiev", "--json"], ["show", "1"],
    ["show", "1", "--history"], ["stats"], ["sources"], ["runs"], ["export", "--format", "csv"],
])
def test_read_commands_import_nothing_heavy(archive: str, command: list[str], tmp_path: Path) -> None:
    args = command if command == ["--help"] else [*command, "--db", archive]
    found = probe(*args, cwd=tmp_path)
    assert found["chars"] > 0  # it printed something: the command ran
    assert found["modules"] == []


def test_import_ingest_is_light(tmp_path: Path) -> None:
    code = ("import sys, ingest; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'pydantic', 'prefect', 'importlib_metadata', 'yaml')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_the_cheap_schema_check_knows_the_newest_migration() -> None:
    from ingest.store.db import SCHEMA_HEAD, head_revision

    assert head_revision() == SCHEMA_HEAD  # add a migration: bump SCHEMA_HEAD with it


def test_plain_sql_reads_know_every_typed_column() -> None:
    from ingest.store import models
    from ingest.store.types import COLUMN_TYPES

    typed = {(t.name, c.name) for t in models.SQLModel.metadata.tables.values() for c in t.columns
             if type(c.type).__name__ in ("JSON", "UTCDateTime")}
    assert typed and {name for _, name in typed} <= set(COLUMN_TYPES)
