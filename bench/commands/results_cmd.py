"""`bench results`: list stored results (table, CSV or JSON)."""
from __future__ import annotations

import argparse
import json
import math

from bench import defaults
from bench.errors import BenchError
from bench.noise import NOISY_MARK, is_noisy
from bench.output import FORMATS, render

TABLE_COLUMNS = ["run_id", "model", "target", "machine", "impl", "batch", "dtype", "layout", "threads", "status",
                 "noisy", "p50_ms", "ci_low_ms", "ci_high_ms", "p90_ms", "samples", "macs", "params", "peak_mem_mb", "contended", "message"]


def add_parser(sub) -> argparse.ArgumentParser:
    """Register `bench results`."""
    p = sub.add_parser("results", help="list stored results",
                       description="List results from the SQLite store, one row per grid cell. The machine "
                                   "column names where a result was measured (mobile results measured on an "
                                   "x86 host say 'XNNPACK on host x86_64'). A result is 'noisy' when sampling "
                                   "stopped on --max-time before its CI reached the target.")
    p.add_argument("--db", default=defaults.DEFAULT_DB, help="SQLite results file (default %(default)s)")
    p.add_argument("--run", default=None, help="only this run id ('latest' for the newest run)")
    p.add_argument("--target", default=None, help="only this target (cpu, cuda, mobile)")
    p.add_argument("--status", default=None, help="only this status (ok, oom, unsupported, error, numerics_mismatch, lost, not_measured)")
    p.add_argument("--models", default=None, help="only these models (names or wildcards, comma-separated)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    return p


def _clean(value):
    """JSON/table-friendly scalar: NaN / NA -> None, numpy types -> Python."""
    import pandas as pd

    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def result_rows(store, run: str | None = None, target: str | None = None, status: str | None = None,
                models: str | None = None) -> list[dict]:
    """Result rows as plain dicts (extra parsed from JSON), filtered like the CLI options."""
    import fnmatch

    from bench.store import STATUSES

    if status is not None and status not in STATUSES:
        raise BenchError(f"--status: unknown '{status}'; choose from {', '.join(STATUSES)}")
    if run == "latest":
        runs = store.runs_frame()
        if runs.empty:
            raise BenchError(f"{store.path} has no runs")
        run = str(runs["run_id"].iloc[-1])
    elif run is not None and store.run_info(run) is None:
        raise BenchError(f"no run '{run}' in {store.path}; see `bench results` for run ids")
    df = store.results_frame(run_id=run, target=target, status=status)
    rows = [{k: _clean(v) for k, v in rec.items()} for rec in df.to_dict("records")]
    if models:
        pats = [p.strip() for p in models.split(",") if p.strip()]
        rows = [r for r in rows if any(fnmatch.fnmatchcase(r["model"], p) for p in pats)]
    for r in rows:
        r["extra"] = json.loads(r["extra"]) if r.get("extra") else None
        r["noisy"] = is_noisy(r.get("status"), r.get("stop_reason"))
        r["contended"] = (r["extra"] or {}).get("contended")  # the contention guard's flag (bench.guard)
        r["peak_mem_mb"] = (r["extra"] or {}).get("peak_mem_mb")  # MiB; method in extra.peak_mem_method
    return rows


def run(args: argparse.Namespace) -> int:
    """Print the selected results."""
    from bench.store import open_existing

    with open_existing(args.db) as store:
        rows = result_rows(store, args.run, args.target, args.status, args.models)
    if args.format == "table":  # a mark people notice; csv/json keep the boolean
        shown = [{**r, "noisy": NOISY_MARK if r["noisy"] else ""} for r in rows]
        print(render(shown, TABLE_COLUMNS, args.format))
        n_noisy = sum(r["noisy"] for r in rows)
        if n_noisy:
            print(f"# {n_noisy} noisy result(s): sampling hit --max-time before the median's CI reached its "
                  "target; their p50 is imprecise (re-run on a quieter machine or with a longer --max-time)")
    else:
        print(render(rows, TABLE_COLUMNS, args.format))
    return 0
