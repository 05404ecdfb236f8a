"""A run's calibration series (`bench.guard.Reading`s), kept in its own table of the results database.

A separate table (created on first use) rather than new columns: the results schema stays as it
is, and databases without it read as "no series" (runs made before the guard, or with --no-guard).
"""
from __future__ import annotations

import json
from typing import Any, Iterable

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


def add_series(store: Any, run_id: str, readings: Iterable[Reading]) -> None:
    """Append several readings to the run's series, in order (`bench regress` stores a round's at once)."""
    for reading in readings:
        add_reading(store, run_id, reading)


def _has_table(conn: Any) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='guard_calibration'").fetchone() \
        is not None


def series(store: Any, run_id: str) -> list[dict[str, Any]]:
    """The run's readings in order (empty when none were stored)."""
    if not _has_table(store.conn):
        return []
    rows = store.conn.execute("SELECT reading FROM guard_calibration WHERE run_id=? ORDER BY idx", (run_id,))
    return [json.loads(r[0]) for r in rows]


def series_by_run(conn: Any) -> dict[str, list[dict[str, Any]]]:
    """Every run's readings in order, by run id, in one query (runs without a series are absent)."""
    if not _has_table(conn):
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for run_id, reading in conn.execute("SELECT run_id, reading FROM guard_calibration ORDER BY run_id, idx"):
        out.setdefault(run_id, []).append(json.loads(reading))
    return out


def import_series(conn: Any, run_id: str, readings: list[dict[str, Any]]) -> int:
    """Store an imported run's series at its exported positions, inside the caller's transaction.

    A reading already stored at that position (the same file imported twice) is kept, not
    duplicated. Returns how many readings were added."""
    if not readings:
        return 0
    conn.execute(_TABLE)
    before = conn.total_changes
    conn.executemany("INSERT OR IGNORE INTO guard_calibration VALUES (?,?,?)",
                     [(run_id, i, json.dumps(r, sort_keys=True)) for i, r in enumerate(readings)])
    return conn.total_changes - before
