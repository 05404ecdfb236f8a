"""A run's calibration series (`bench.guard.Reading`s), kept in its own table of the results database.

A separate table (created on first use) rather than new columns: the results schema stays as it
is, and databases without it read as "no series" (runs made before the guard, or with --no-guard).
"""
from __future__ import annotations

import json
from typing import Any

from bench.guard import Reading

_TABLE = """CREATE TABLE IF NOT EXISTS guard_calibration (
    run_id TEXT NOT NULL, idx INTEGER NOT NULL, reading TEXT NOT NULL, PRIMARY KEY (run_id, idx))"""


def add_reading(store: Any, run_id: str, reading: Reading) -> None:
    """Append one reading to the run's series (committed at once, like a result)."""
    with store.conn:
        store.conn.execute(_TABLE)
        (n,) = store.conn.execute("SELECT COUNT(*) FROM guard_calibration WHERE run_id=?", (run_id,)).fetchone()
        store.conn.execute("INSERT INTO guard_calibration VALUES (?,?,?)",
                           (run_id, n, json.dumps(reading.to_dict(), sort_keys=True)))


def series(store: Any, run_id: str) -> list[dict[str, Any]]:
    """The run's readings in order (empty when none were stored)."""
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "guard_calibration" not in tables:
        return []
    rows = store.conn.execute("SELECT reading FROM guard_calibration WHERE run_id=? ORDER BY idx", (run_id,))
    return [json.loads(r[0]) for r in rows]
