"""Trimming the search engine's change log (``search_changes``) to its newest ``searchlog.KEEP`` changes,
and recording how far (``search_log_state.horizon``, read by ``searchlog.trimmed_past``).

Run at the end of every run (``store/runs.py`` ``finish_run``), in its own short transaction: on
PostgreSQL the horizon's one row is updated there, never inside a batch's transaction, so concurrent
writers do not queue on it.

- SQLite: one writer at a time, ``seq`` in commit order: every ``seq`` up to ``MAX(seq) - KEEP`` goes,
  and the horizon is that ``seq``.
- PostgreSQL: the index follows transaction ids (``searchlog.position``), so only changes of committed
  transactions (below the snapshot's ``xmin``) go, and the horizon is the newest such transaction id + 1.
"""

from __future__ import annotations

from typing import Any

from ingest.store.db import run_core
from ingest.store.searchlog import KEEP

_SQLITE = [
    "DELETE FROM search_changes WHERE seq <= :cut",
    "UPDATE search_log_state SET horizon = MAX(horizon, :cut) WHERE id = 1",
]
_POSTGRES = """WITH gone AS (
  DELETE FROM search_changes WHERE seq <= :cut AND txid < txid_snapshot_xmin(txid_current_snapshot()) RETURNING txid),
moved AS (UPDATE search_log_state SET horizon = GREATEST(horizon, (SELECT MAX(txid) + 1 FROM gone))
  WHERE id = 1 AND EXISTS (SELECT 1 FROM gone))
SELECT COUNT(*) FROM gone"""


def trim(conn: Any, keep: int = KEEP) -> int:
    """Trim the log inside the caller's transaction; returns how many changes went."""
    from sqlalchemy import text

    top = run_core(conn, text("SELECT COALESCE(MAX(seq), 0) FROM search_changes")).scalar() or 0
    cut = int(top) - keep
    if cut <= 0:
        return 0
    if (conn.get_bind() if hasattr(conn, "get_bind") else conn).dialect.name == "postgresql":
        return int(run_core(conn, text(_POSTGRES), {"cut": cut}).scalar() or 0)
    horizon = run_core(conn, text("SELECT horizon FROM search_log_state WHERE id = 1")).scalar() or 0
    if cut <= int(horizon):
        return 0
    gone = run_core(conn, text(_SQLITE[0]), {"cut": cut}).rowcount
    run_core(conn, text(_SQLITE[1]), {"cut": cut})
    return int(gone)
