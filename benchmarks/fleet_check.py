"""The fleet's figures for issue 15's closing note: dispatch overhead, fidelity, kill -9 of a worker.

Usage (from the repository root, on a quiet machine; Dask distributed installed, `.[fleet]`):

    .venv/bin/python benchmarks/fleet_check.py [--cells 50] [--rounds 5] [--models resnet20_cifar,...]

Everything runs on 127.0.0.1 (`bench.fleet.local.LocalFleet`). Printed:

1. Dispatch overhead per cell: one worker (threads 1), `--cells` trivial cells (resnet20_cifar,
   batch 1, 5 samples, no warm-up time) submitted one at a time exactly as the driver submits them;
   overhead = driver-side round trip (submit -> result in hand) minus the task's own wall time on the
   worker. Median and p95, in ms.
2. Driver write rate: `store_outcome` of a typical outcome (100 samples) into a fresh SQLite file,
   cells per second (the single writer's ceiling; docs/fleet.md).
3. Fidelity: per model, p50 measured directly in this process (`bench.runner.run_cell`, CPU, threads 1)
   and through the one local worker (threads 1), interleaved direct/fleet/fleet/direct over `--rounds`
   rounds; the ratio of the medians of the p50s, and the verdict "within 5 %".
4. kill -9: two workers of the same target, a sweep of 16 cells by `bench run --cluster` (a separate
   process); one worker is killed with SIGKILL once the first cell is stored. Cells stored, lost,
   duplicated, ok.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.cell import Cell  # noqa: E402
from bench.fleet import worker as fleet_worker  # noqa: E402
from bench.fleet.local import LocalFleet  # noqa: E402
from bench.runner import CostLookup, TimingSettings, run_cell, store_outcome  # noqa: E402


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _only_resource(client) -> str:
    from bench.fleet.driver import advertised

    (resource,) = advertised(client)
    return resource


def dispatch_and_fidelity(n_cells: int, rounds: int, models: list[str]) -> None:
    from distributed import Client

    from devices.cpu import CpuDevice

    trivial = TimingSettings(min_samples=5, max_iters=5, warmup_cap=1, warmup_max_time_s=0.001, max_time_s=0.001)
    with LocalFleet(1, threads=1) as fleet, Client(fleet.address) as client:
        resource = _only_resource(client)
        overheads, tasks = [], []
        cell = Cell("resnet20_cifar", threads=1).to_dict()
        for i in range(n_cells + 3):
            t0 = time.perf_counter()
            out = client.submit(fleet_worker.measure_task, resource, cell, trivial.to_dict(),
                                resources={resource: 1}, pure=False).result()
            rt = time.perf_counter() - t0
            if i >= 3:  # the first cells build the model for the first time in the worker
                overheads.append((rt - out["task_s"]) * 1e3)
                tasks.append(out["task_s"] * 1e3)
        print(f"dispatch overhead per cell (n={len(overheads)}): median {statistics.median(overheads):.2f} ms, "
              f"p95 {_p95(overheads):.2f} ms  (the trivial cell itself: median {statistics.median(tasks):.1f} ms "
              "on the worker)")

        timing = TimingSettings()  # the defaults bench run uses
        device, costs = CpuDevice(), CostLookup()
        for model in models:
            c = Cell(model, threads=1)
            direct, fleet_p50 = [], []

            def via_fleet() -> float:
                out = client.submit(fleet_worker.measure_task, resource, c.to_dict(), timing.to_dict(),
                                    resources={resource: 1}, pure=False).result()
                return out["outcome"].measurement.stats.p50_ms

            def here() -> float:
                return run_cell(device, c, timing, costs).measurement.stats.p50_ms

            for r in range(rounds):  # ABBA: neither side always first
                order = (here, via_fleet) if r % 2 == 0 else (via_fleet, here)
                for fn in order:
                    (direct if fn is here else fleet_p50).append(fn())
            d, f = statistics.median(direct), statistics.median(fleet_p50)
            ratio = f / d
            print(f"fidelity {model}: direct p50 {d:.4g} ms, through a local worker {f:.4g} ms, "
                  f"ratio {ratio:.4f} ({'within' if abs(ratio - 1) <= 0.05 else 'OUTSIDE'} 5 %; {rounds} rounds, "
                  "threads 1)")


def write_rate(n: int = 200) -> None:
    from bench.runner import CellOutcome
    from bench.store import ResultStore
    from bench.timing import Measurement

    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "w.sqlite") as store:
        run_id = store.start_run("cpu", {"cpu_model": "x"}, {})
        outcomes = []
        for i in range(n):
            m = Measurement(samples_ms=[1.0 + 0.001 * k for k in range(100)], warmup_ms=[2.0], stop_reason="ci",
                            warmup_steady=True, elapsed_s=0.1, ci_target=0.01)
            outcomes.append(CellOutcome(cell=Cell("resnet20_cifar", batch=i + 1, threads=1), status="ok",
                                        family="resnet_cifar", measurement=m, costs={"macs": 1, "params": 1}))
        t0 = time.perf_counter()
        for o in outcomes:
            store_outcome(store, run_id, o)
        dt = time.perf_counter() - t0
    print(f"driver write rate: {n / dt:.0f} cells/s ({dt / n * 1e3:.2f} ms per cell with 100 samples)")


def kill_one_worker() -> None:
    models, batches, n_cells = "resnet20_cifar,resnet32_cifar", "1,2,3,4,5,6,7,8", 16
    with tempfile.TemporaryDirectory() as tmp, LocalFleet(2, distinct=False) as fleet:
        db = Path(tmp) / "k.sqlite"
        driver = subprocess.Popen(
            [sys.executable, "-m", "bench", "run", "--cluster", fleet.address, "--targets", "cpu:*", "--models",
             models, "--batch", batches, "--db", str(db), "--max-time", "0.5", "--no-progress", "--format", "json"],
            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if sqlite3.connect(db).execute("SELECT count(*) FROM results").fetchone()[0] >= 1:
                    break
            except sqlite3.OperationalError:
                pass
            time.sleep(0.05)
        os.kill(fleet.workers[0].pid, signal.SIGKILL)
        _, err = driver.communicate(timeout=600)
        rows = sqlite3.connect(db).execute("SELECT cell_key, status FROM results").fetchall()
    keys = [k for k, _ in rows]
    statuses = [s for _, s in rows]
    print(f"kill -9 of one of two workers mid-sweep: driver exit {driver.returncode}; cells {n_cells}, stored "
          f"{len(rows)}, lost {n_cells - len(set(keys)) + statuses.count('lost')}, duplicated "
          f"{len(keys) - len(set(keys))}, ok {statuses.count('ok')}" + (f"; stderr: {err.strip()[-300:]}" if
                                                                          driver.returncode else ""))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=50, help="trivial cells for the dispatch overhead")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds per model for fidelity")
    p.add_argument("--models", default="resnet20_cifar,mobilenet_cifar_p32,resnet56_cifar",
                   help="models for the fidelity check")
    args = p.parse_args()
    dispatch_and_fidelity(args.cells, args.rounds, [m for m in args.models.split(",") if m])
    write_rate()
    kill_one_worker()


if __name__ == "__main__":
    main()
