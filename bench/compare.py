"""Compare two benchmark runs cell by cell and decide which cells regressed.

This module gathers the comparison's public names; the work is split by job:

- `bench.cell`: `Cell`, the identity of a grid point (shared with the grid, the store and `bench regress`);
- `bench.runs`: runs as compared (`CellData`, `RunData`), loading them from a store or an
  export, pooling several runs of the same code;
- `bench.fingerprint_match`: which fingerprint differences refuse a comparison (`JITTER_FIELDS`);
- `bench.thresholds`: the regression threshold per model and where it comes from;
- `bench.comparison`: statistics and verdicts (`compare_cell`, `compare_runs`);
- `bench.load`: the machine's load per run and cell, and the warning when the sides differ;
- rendering is in `bench.commands.compare_cmd`.

Existing imports (`from bench.compare import compare_runs, CellData, ...`) keep working.
"""
from __future__ import annotations

from bench.cell import CELL_FIELDS, Cell
from bench.comparison import (
    ADVICE_ONE_RUN, DEFAULT_ALPHA, VERDICT_FASTER, VERDICT_INCONCLUSIVE, VERDICT_NOT_COMPARABLE, VERDICT_SLOWER,
    VERDICT_UNCHANGED, VERDICTS, CellComparison, Comparison, compare_cell, compare_runs, side_load_warning,
)
from bench.fingerprint_match import JITTER_FIELDS, FingerprintCheck, describe_fields, match_fingerprints
from bench.runs import (
    CellData, RunData, all_runs_in_store, cell_from_record, latest_run_id, pool_runs, run_from_export,
    run_from_store, run_ids_oldest_first,
)
from bench.thresholds import (
    DEFAULT_THRESHOLD, Thresholds, build_thresholds, load_threshold_file, parse_override, parse_percent,
)

__all__ = [
    "ADVICE_ONE_RUN", "CELL_FIELDS", "Cell", "CellComparison", "CellData", "Comparison", "DEFAULT_ALPHA",
    "DEFAULT_THRESHOLD", "FingerprintCheck", "JITTER_FIELDS", "RunData", "Thresholds", "VERDICTS",
    "VERDICT_FASTER", "VERDICT_INCONCLUSIVE", "VERDICT_NOT_COMPARABLE", "VERDICT_SLOWER", "VERDICT_UNCHANGED",
    "all_runs_in_store", "build_thresholds", "cell_from_record", "compare_cell", "compare_runs", "describe_fields",
    "latest_run_id", "load_threshold_file", "match_fingerprints", "parse_override", "parse_percent", "pool_runs",
    "run_from_export", "run_from_store", "run_ids_oldest_first", "side_load_warning",
]
