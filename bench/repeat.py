"""`--repeat N`: run the same command N times, each in a fresh process, into the same database.

A fresh process per repeat means fresh imports, allocator and thread pools, so what differs
between repeats is what a user rerunning the command would see. The children are the same
`bench` command line with `--repeat` removed (plus what the caller adds per repeat).
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Callable, Sequence

from bench.errors import BenchError


def without_repeat(argv: Sequence[str]) -> list[str]:
    """`argv` with every `--repeat N` / `--repeat=N` removed."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--repeat":
            skip = True
            continue
        if arg.startswith("--repeat="):
            continue
        out.append(arg)
    return out


def check_repeat(n: int | None) -> int:
    """The repeat count (1 when not given); BenchError below 1."""
    if n is None:
        return 1
    if n < 1:
        raise BenchError(f"--repeat must be >= 1, got {n}")
    return n


def run_repeats(argv: Sequence[str], n: int, extra: Callable[[int], list[str]] | None = None,
                runner: Callable[[list[str]], int] | None = None) -> list[int]:
    """Run `bench <argv without --repeat> <extra(k)>` n times in turn; the exit status of each.

    `runner` (tests) replaces starting a process; it gets the full child command line.
    """
    base = [sys.executable, "-m", "bench", *without_repeat(argv)]
    codes = []
    for k in range(1, n + 1):
        cmd = base + (extra(k) if extra else [])
        print(f"bench: repeat {k}/{n}: {' '.join(cmd[2:])}", file=sys.stderr, flush=True)
        codes.append(runner(cmd) if runner else subprocess.run(cmd).returncode)
    return codes


def cell_spreads(store, run_ids: Sequence[str]) -> list[dict]:
    """Per cell (ok in every run), its p50 across the runs: min, max and spread (max - min) / median.

    What `bench run --repeat N` prints: how much a rerun moves each cell's median.
    """
    from statistics import median

    from bench.cell import Cell

    per_cell: dict[str, list[float]] = {}
    labels: dict[str, str] = {}
    contended: dict[str, int] = {}
    for run_id in run_ids:
        for rec in store.results_frame(run_id=run_id).to_dict("records"):
            p50 = rec.get("p50_ms")
            if rec.get("status") != "ok" or p50 is None or p50 != p50:  # NaN: not measured
                continue
            key = rec["cell_key"]
            per_cell.setdefault(key, []).append(float(rec["p50_ms"]))
            labels[key] = Cell.from_mapping(rec).label()
            extra = json.loads(rec["extra"]) if isinstance(rec.get("extra"), str) else {}  # NULL reads as NaN
            contended[key] = contended.get(key, 0) + int(bool(extra.get("contended")))
    rows = []
    for key, p50s in per_cell.items():
        if len(p50s) != len(run_ids):
            continue
        mid = median(p50s)
        rows.append({"cell": labels[key], "runs": len(p50s), "p50_median_ms": round(mid, 4),
                     "p50_min_ms": round(min(p50s), 4), "p50_max_ms": round(max(p50s), 4),
                     "spread": f"{(max(p50s) - min(p50s)) / mid:.1%}" if mid > 0 else None,
                     "contended_runs": contended[key]})
    return rows
