"""Running ``ingest`` through its console entry point in a test: the entry point owns the exit codes
and the one-line error messages, so those tests must not go through click's test runner."""

from __future__ import annotations

import pytest

from ingest.cli import entry


def run_entry(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``ingest ARGS``."""
    monkeypatch.setattr("sys.argv", ["ingest", *args])
    with pytest.raises(SystemExit) as exit_info:
        entry()
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err
