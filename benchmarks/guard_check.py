"""Does the contention guard catch a CPU hog, and leave a quiet run alone?

Usage (from the repository root, on a quiet machine for meaningful figures):

    .venv/bin/python benchmarks/guard_check.py [--models resnet20_cifar,mobilenet_v2] [--threads 1] [--hogs N]

Runs the same short `bench run` twice into a fresh database: once on the machine as it is
(quiet), once with N busy-looping subprocesses (default: one per logical core) started
before the run and killed after it. Prints, per run, each cell's p50, whether the guard
flagged it contended (and why), and the run's calibration series (drift and load). Expected
on a quiet machine: no quiet cell flagged, every hogged cell flagged.

Pass --guard-pause/--guard-retries to shorten it (defaults here: 1 s pause, 1 retry).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOG = "while True: pass"


def bench_run(db: Path, args: argparse.Namespace) -> int:
    """One `bench run` into `db` in a fresh process; its exit status."""
    cmd = [sys.executable, "-m", "bench", "run", "--device", "cpu", "--models", args.models, "--threads",
           str(args.threads), "--max-time", str(args.max_time), "--warmup-max-time", str(args.max_time),
           "--db", str(db), "--no-progress", "--guard-pause", str(args.guard_pause),
           "--guard-retries", str(args.guard_retries)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL).returncode


def summarise(db: Path, title: str) -> tuple[int, int]:
    """Print the latest run's cells and calibration series; (contended cells, cells)."""
    sys.path.insert(0, str(REPO))
    from bench import guard_store
    from bench.commands.results_cmd import result_rows
    from bench.guard import series_line
    from bench.store import ResultStore

    with ResultStore(db) as store:
        rows = result_rows(store, run="latest")
        series = guard_store.series(store, rows[0]["run_id"]) if rows else []
    print(f"## {title}")
    for r in rows:
        extra = r["extra"] or {}
        print(f"  {r['model']:<24} p50 {r['p50_ms'] or float('nan'):8.3f} ms  contended={extra.get('contended')}  "
              f"attempts={extra.get('guard_attempts')}  {'; '.join(extra.get('guard_reasons') or [])}")
    print(f"  series: {series_line(series)}")
    return sum(1 for r in rows if (r['extra'] or {}).get("contended")), len(rows)


def while_hogs_run(n_hogs: int, fn):
    """`fn()` while `n_hogs` busy-looping subprocesses load the machine; they are killed afterwards."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(n_hogs)]
    try:
        return fn()
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def main() -> int:
    """Quiet run, hogged run, verdict."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet20_cifar,mobilenet_v2")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hogs", type=int, default=os.cpu_count() or 1, help="busy subprocesses (default: one per core)")
    p.add_argument("--max-time", type=float, default=1.0)
    p.add_argument("--guard-pause", type=float, default=1.0)
    p.add_argument("--guard-retries", type=int, default=1)
    args = p.parse_args()
    db = Path(tempfile.mkdtemp(prefix="guard-check-")) / "results.sqlite"
    if bench_run(db, args):
        return 2
    quiet = summarise(db, "quiet (no hog)")
    code = while_hogs_run(args.hogs, lambda: bench_run(db, args))
    if code:
        return 2
    hogged = summarise(db, f"with {args.hogs} CPU hog(s)")
    print(f"\nquiet: {quiet[0]} of {quiet[1]} cells flagged (want 0); "
          f"hogged: {hogged[0]} of {hogged[1]} flagged (want all); db {db}")
    return 0 if quiet[0] == 0 and hogged[0] == hogged[1] else 1


if __name__ == "__main__":
    raise SystemExit(main())
