"""The `accuracy` table in the result store's SQLite file (measured top-1/top-5 from `bench eval`).

Kept apart from `bench/store.py`: this module creates its table on the ResultStore's
connection (CREATE TABLE IF NOT EXISTS), so databases written before it simply gain the table.
A row is keyed by model, checkpoint SHA-256, dataset fingerprint, target and image limit; a
re-evaluation of the same key replaces the old row.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

TABLE = "accuracy"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    accuracy_id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL, model TEXT NOT NULL, checkpoint_sha256 TEXT NOT NULL, checkpoint TEXT,
    data TEXT NOT NULL, data_kind TEXT NOT NULL, dataset_fingerprint TEXT NOT NULL, target TEXT NOT NULL,
    image_limit INTEGER NOT NULL DEFAULT 0, n INTEGER NOT NULL,
    top1_correct INTEGER NOT NULL, top1 REAL NOT NULL, top1_low REAL NOT NULL, top1_high REAL NOT NULL,
    top5_correct INTEGER NOT NULL, top5 REAL NOT NULL, top5_low REAL NOT NULL, top5_high REAL NOT NULL,
    images_per_s REAL, extra TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS accuracy_key
    ON {TABLE}(model, checkpoint_sha256, dataset_fingerprint, target, image_limit);
"""
COLUMNS = ("created_at", "model", "checkpoint_sha256", "checkpoint", "data", "data_kind", "dataset_fingerprint",
           "target", "image_limit", "n", "top1_correct", "top1", "top1_low", "top1_high", "top5_correct", "top5",
           "top5_low", "top5_high", "images_per_s", "extra")


@dataclass
class AccuracyRecord:
    """One measured accuracy (fractions in [0, 1]); `image_limit` 0 means every image."""

    model: str
    checkpoint_sha256: str
    checkpoint: str
    data: str
    data_kind: str
    dataset_fingerprint: str
    target: str
    image_limit: int
    n: int
    top1_correct: int
    top1: float
    top1_low: float
    top1_high: float
    top5_correct: int
    top5: float
    top5_low: float
    top5_high: float
    images_per_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def ensure_table(conn: sqlite3.Connection) -> None:
    """Create the accuracy table and its key index if they are missing."""
    with conn:
        conn.executescript(_SCHEMA)


def save_accuracy(conn: sqlite3.Connection, record: AccuracyRecord, created_at: str) -> None:
    """Insert `record`, replacing a stored row with the same key, in one transaction."""
    ensure_table(conn)
    row = asdict(record)
    row["created_at"] = created_at
    row["extra"] = json.dumps(record.extra, sort_keys=True, default=str)
    with conn:
        conn.execute(f"INSERT OR REPLACE INTO {TABLE} ({', '.join(COLUMNS)}) VALUES "
                     f"({', '.join('?' for _ in COLUMNS)})", [row[c] for c in COLUMNS])


def accuracy_frame(conn: sqlite3.Connection) -> pd.DataFrame:
    """Every stored accuracy row, oldest first (empty frame with the columns when there is none)."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if TABLE not in tables:
        return pd.DataFrame(columns=("accuracy_id",) + COLUMNS)
    return pd.read_sql_query(f"SELECT * FROM {TABLE} ORDER BY created_at, accuracy_id", conn)


EAGER_TARGETS = ("cpu", "cuda")


def measured_top1(accuracy: pd.DataFrame, model: str, target: str) -> pd.Series | None:
    """The accuracy row a report shows for `model` on `target`: the newest full-data row on that target,
    else the newest eager one (cpu/cuda run the same function), else None.

    Rows measured with `--limit` are subsets and are not used.
    """
    if accuracy.empty:
        return None
    rows = accuracy[(accuracy["model"] == model) & (accuracy["image_limit"] == 0)]
    for candidates in (rows[rows["target"] == target], rows[rows["target"].isin(EAGER_TARGETS)]):
        if not candidates.empty:
            return candidates.iloc[-1]
    return None


MEASURED_COLUMNS = ("measured_top1", "measured_top1_low", "measured_top1_high", "measured_n", "measured_source",
                    "measured_data_kind")


def attach_measured(results: pd.DataFrame, accuracy: pd.DataFrame) -> pd.DataFrame:
    """`results` with MEASURED_COLUMNS added: per row, the measured top-1 (percent) `measured_top1` picks.

    Rows without a measurement get NaN/None; the source text names data, fingerprint, n,
    checkpoint hash, target and the exact interval, so a reader can trace the number.
    """
    df = results.copy()
    values: dict[str, list[Any]] = {c: [] for c in MEASURED_COLUMNS}
    cache: dict[tuple[str, str], pd.Series | None] = {}
    for model, target in zip(df["model"], df["target"]):
        key = (str(model), "mobile" if target == "arm" else str(target))
        if key not in cache:
            cache[key] = measured_top1(accuracy, *key)
        row = cache[key]
        if row is None:
            for c in MEASURED_COLUMNS:
                values[c].append(None)
            continue
        values["measured_top1"].append(100 * float(row["top1"]))
        values["measured_top1_low"].append(100 * float(row["top1_low"]))
        values["measured_top1_high"].append(100 * float(row["top1_high"]))
        values["measured_n"].append(int(row["n"]))
        values["measured_data_kind"].append(str(row["data_kind"]))
        values["measured_source"].append(
            f"measured by bench eval ({row['target']}) on {row['data']} (fingerprint {str(row['dataset_fingerprint'])[:12]}, "
            f"n={int(row['n'])}), checkpoint sha256 {str(row['checkpoint_sha256'])[:12]}, exact 95% CI "
            f"[{100 * float(row['top1_low']):.2f}, {100 * float(row['top1_high']):.2f}], {row['created_at']}")
    for c in MEASURED_COLUMNS:
        df[c] = values[c]
    df["measured_top1"] = df["measured_top1"].astype(float)
    return df
