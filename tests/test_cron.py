"""Cron expressions are validated with croniter, Prefect's own parser, without importing Prefect."""

from __future__ import annotations

import pytest

from ingest.config import parse_config
from ingest.cron import cron_problem
from ingest.errors import ConfigError


@pytest.mark.parametrize("expr", ["*/15 * * * *", "@hourly", "@daily", "0 0 L * *", "0 9 * * 1#2",
                                  "0 9 * * mon-fri", "30 6 1,15 jan,jul *", "0 */6 * * *"])
def test_valid_expressions(expr: str) -> None:
    assert cron_problem(expr) is None


@pytest.mark.parametrize(("expr", "problem"), [
    ("61 * * * *", "bad minute field '61'"),
    ("0 24 * * *", "bad hour field '24'"),
    ("*/0 * * * *", "bad minute field '*/0'"),
    ("0 0 32 * *", "bad day of month field '32'"),
    ("0 0 * 13 *", "bad month field '13'"),
    ("0 0 * * 8", "bad day of week field '8'"),
    ("* * *", "5 fields"),
    ("", "a cron expression is needed"),
    ("0 0 30 2 *", "never fires"),
    ("0 0 31 4 *", "never fires"),
])
def test_invalid_expressions_say_why(expr: str, problem: str) -> None:
    found = cron_problem(expr)
    assert found is not None and problem in found


def test_config_refuses_an_impossible_schedule() -> None:
    with pytest.raises(ConfigError, match="never fires"):
        parse_config({"schedule": "0 0 30 2 *", "sources": []}, path="feeds.yaml")
