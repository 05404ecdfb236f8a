"""Reading the result store for reports: results and runs as DataFrames, with clear errors."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.errors import BenchError


def load_frames(db: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, runs) from the SQLite store at `db`.

    Each result row carries the measured top-1 of its model on its target where `bench eval`
    stored one (`bench.accuracy.store.MEASURED_COLUMNS`). A missing file or a store without results raises BenchError (exit 2) with one line; the
    file is never created or modified here.
    """
    db = Path(db)
    if not db.is_file():
        raise BenchError(f"no results database at {db}; run `bench run --db {db}` first")
    from bench.store import ResultStore

    from bench.accuracy.store import accuracy_frame, attach_measured

    with ResultStore(db, readonly=True) as store:
        results = store.results_frame()
        runs = store.runs_frame()
        accuracy = accuracy_frame(store.conn)
    if results.empty:
        raise BenchError(f"database {db} holds no results; run `bench run --db {db}` first")
    results = fill_families(results)
    from bench.report.data import use_fleet_machines

    # measured accuracy (bench eval) travels as columns of the results, so report code keeps one frame
    return use_fleet_machines(attach_measured(results, accuracy), runs)


UNKNOWN_FAMILY = "unknown family"


def fill_families(results: pd.DataFrame) -> pd.DataFrame:
    """Rows stored without a family (imported results, older stores) get their zoo family, else
    `UNKNOWN_FAMILY`: charts colour and group by family, and a missing one must not crash them."""
    missing = results["family"].isna() | (results["family"].astype(str).str.strip() == "")
    if not missing.any():
        return results
    import zoo

    def family_of(model: str) -> str:
        try:
            return zoo.get_meta(model).family
        except Exception:  # not a zoo model (a user model source, an unknown import): say so, do not guess
            return UNKNOWN_FAMILY

    results = results.copy()
    results.loc[missing, "family"] = results.loc[missing, "model"].map(family_of)
    return results


def check_selection(results: pd.DataFrame, db: Path, target: str | None, batch: int | None) -> None:
    """BenchError naming what the database does hold when --target / --batch match nothing."""
    from bench.report.data import TARGET_ALIASES

    df = results
    if target is not None:
        df = df[df["target"].map(lambda t: TARGET_ALIASES.get(t, t)) == TARGET_ALIASES.get(target, target)]
        if df.empty:
            present = ", ".join(sorted(results["target"].astype(str).unique()))
            raise BenchError(f"no results for target '{target}' in {db} (targets present: {present})")
    if batch is not None and df[df["batch"] == batch].empty:
        present = ", ".join(str(b) for b in sorted(df["batch"].unique()))
        raise BenchError(f"no results for batch {batch} in {db}"
                         + (f" for target '{target}'" if target else "") + f" (batches present: {present})")
