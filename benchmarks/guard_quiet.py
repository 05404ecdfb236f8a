"""How often does the contention guard flag a quiet machine, and how far does its calibration drift?

Usage (from the repository root, on a quiet machine; figures on a busy one mean nothing):

    .venv/bin/python benchmarks/guard_quiet.py --runs 10 [--models resnet20_cifar] [--device cpu|mobile]
        [--threads 1] [--hogs N]

Runs N guarded `bench run`s of a small model into one fresh database (each a fresh process, as a
user's runs are), then one more with `--hogs` busy-looping subprocesses (default one per logical
core). Prints the false-flag rate (contended cells / cells over the quiet runs; want 0), the
distribution of the calibration drift of every quiet check (min, 5/50/95 %, max) against the
guard's tolerance, and whether the hogged run was flagged (want every cell). Exit 0 when the quiet
runs flagged nothing and the hogged run flagged every cell, else 1 (2 if a run failed).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from guard_check import while_hogs_run  # noqa: E402  (the same busy loop as the hog check)


def bench_run(db: Path, args: argparse.Namespace) -> int:
    """One guarded `bench run` into `db` in a fresh process; its exit status."""
    cmd = [sys.executable, "-m", "bench", "run", "--device", args.device, "--models", args.models, "--threads",
           str(args.threads), "--max-time", str(args.max_time), "--warmup-max-time", str(args.max_time),
           "--db", str(db), "--no-progress", "--guard-pause", str(args.guard_pause),
           "--guard-retries", str(args.guard_retries)]
    return subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          stdout=subprocess.DEVNULL).returncode


def latest_run(db: Path) -> tuple[list[bool], list[float], list[float]]:
    """The latest run's per-cell contended flags, its calibration drifts (every non-baseline check) and
    the tolerance each check was judged against (the run's own, from its spaced baseline)."""
    from bench import guard_store
    from bench.commands.results_cmd import result_rows
    from bench.store import ResultStore

    with ResultStore(db) as store:
        rows = result_rows(store, run="latest")
        series = guard_store.series(store, rows[0]["run_id"]) if rows else []
    flags = [bool((r["extra"] or {}).get("contended")) for r in rows]
    checks = [r for r in series if r.get("label") != "baseline" and r.get("drift") is not None]
    drifts = [float(r["drift"]) for r in checks]
    tolerances = [float(r.get("tolerance") or TOLERANCE) for r in checks]
    return flags, drifts, tolerances


def main() -> int:
    """N quiet runs, one hogged run, the figures."""
    from bench.guard import TOLERANCE

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--models", default="resnet20_cifar")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hogs", type=int, default=os.cpu_count() or 1, help="busy subprocesses (default: one per core)")
    p.add_argument("--max-time", type=float, default=1.0)
    p.add_argument("--guard-pause", type=float, default=1.0)
    p.add_argument("--guard-retries", type=int, default=1)
    args = p.parse_args()
    db = Path(tempfile.mkdtemp(prefix="guard-quiet-")) / "results.sqlite"
    flags: list[bool] = []
    drifts: list[float] = []
    tolerances: list[float] = []
    for i in range(args.runs):
        if bench_run(db, args):
            return 2
        f, d, t = latest_run(db)
        flags += f
        drifts += d
        tolerances += t
        print(f"quiet run {i + 1}/{args.runs}: {sum(f)} of {len(f)} cells flagged; tolerance "
              f"{(t[0] if t else TOLERANCE):.0%}; drifts " + " ".join(f"{x:+.1%}" for x in d))
    code = while_hogs_run(args.hogs, lambda: bench_run(db, args))
    if code:
        return 2
    hog_flags, hog_drifts, hog_tol = latest_run(db)
    q = np.quantile(drifts, [0, 0.05, 0.5, 0.95, 1]) if drifts else [float("nan")] * 5
    beyond = sum(x > t for x, t in zip(drifts, tolerances))
    tol_text = f"{min(tolerances):.0%}-{max(tolerances):.0%}" if tolerances else f"{TOLERANCE:.0%}"
    print(f"\nquiet: {sum(flags)} of {len(flags)} cells flagged over {args.runs} runs "
          f"(false-flag rate {sum(flags) / max(len(flags), 1):.1%}; want 0)")
    print(f"calibration drift over {len(drifts)} quiet checks: min {q[0]:+.1%}, p5 {q[1]:+.1%}, median {q[2]:+.1%}, "
          f"p95 {q[3]:+.1%}, max {q[4]:+.1%}; {beyond} beyond the runs' tolerance ({tol_text})")
    print(f"hogged ({args.hogs} hog(s)): {sum(hog_flags)} of {len(hog_flags)} cells flagged (want all); tolerance "
          f"{(hog_tol[0] if hog_tol else TOLERANCE):.0%}; "
          f"drifts " + " ".join(f"{x:+.1%}" for x in hog_drifts) + f"; db {db}")
    return 0 if not any(flags) and hog_flags and all(hog_flags) else 1


if __name__ == "__main__":
    raise SystemExit(main())
