"""The fleet driver: expand the grid over the targets the workers advertise, submit each cell to its
target's Dask resource, and store every result as it arrives. The driver is the only writer of its
SQLite store; workers only measure.

Faults (docs/fleet.md):
- a worker dies mid-cell: Dask reschedules the cell on another worker of the same target, until the
  scheduler's `allowed-failures` workers died running it; then the cell is stored `lost` with the reason;
- a target with no worker (none matches a `--targets` pattern, or its last worker left): after
  `worker_timeout` seconds its remaining cells are stored `not_measured: no worker for target X`
  (the cell a dying worker was running is stored `lost`); the sweep never hangs on it;
- scheduler unreachable: BenchError after `connect_timeout` seconds (one line, exit 2);
- driver killed: every stored cell is committed; `--resume` continues each target's run.

The contention guard runs on the workers (bench/fleet/worker.py); the driver sends the run's
GuardSettings with each cell and stores the readings each cell brings back in the target run's
calibration series (`bench.guard_store`), as `bench run` does; the contended flag is in the outcome.
"""
from __future__ import annotations

import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.cell import Cell
from bench.errors import BenchError
from bench.fleet import worker as fleet_worker
from bench.fleet.resources import Target, matches, parse_resource, pattern_device
from bench.grid import GridSpec
from bench.guard import GuardSettings
from bench.runner import CellOutcome, TimingSettings, has_hetconv, run_settings, store_outcome
from bench.store import ResultStore

POLL_S = 0.02  # how often the driver looks for finished cells when none is ready (bounds the added latency)
CHECK_S = 1.0  # how often it checks that every target still has a worker


@dataclass
class FleetOptions:
    """Where the scheduler is, which targets to use, and the fault timeouts (seconds)."""

    scheduler: str
    patterns: tuple[str, ...]
    connect_timeout: float = 5.0
    worker_timeout: float = 30.0


@dataclass
class TargetRun:
    """One target's run in the driver's store and its cells still to measure."""

    name: str  # 'cpu:<label>', or the pattern when no worker matched it
    device: str
    run_id: str
    resource: str | None
    todo: list[Cell]
    cells_total: int
    done: int = 0


@dataclass
class FleetReport:
    """What a fleet sweep stored: per target its run, and every outcome as (target name, outcome)."""

    runs: list[TargetRun]
    outcomes: list[tuple[str, CellOutcome]] = field(default_factory=list)

    @property
    def cells_skipped(self) -> int:
        """Cells already stored by an earlier attempt (--resume)."""
        return sum(r.cells_total - len(r.todo) for r in self.runs)


def connect(address: str, timeout: float):
    """A distributed Client on `address`; BenchError (one line) when it cannot be reached in `timeout` s."""
    from distributed import Client

    # the client logs a traceback for a refused connection before raising: the one-line error says it all
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise BenchError(f"cannot reach the scheduler at {address} within {timeout:g} s "
                         f"({type(exc).__name__}); is it running, and is the address right?") from None


def advertised(client) -> dict[str, int]:
    """zoobench resource name -> number of workers advertising it now."""
    counts: dict[str, int] = {}
    for info in client.scheduler_info(n_workers=-1)["workers"].values():
        for name in info.get("resources", {}):
            if parse_resource(name) is not None:
                counts[name] = counts.get(name, 0) + 1
    return counts


def discover(client, patterns: tuple[str, ...], wait_s: float) -> tuple[list[Target], list[str]]:
    """Targets matching the patterns, and the patterns no worker matched within `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        targets = [t for t in map(parse_resource, sorted(advertised(client))) if t is not None]
        chosen = [t for t in targets if any(matches(p, t) for p in patterns)]
        unmatched = [p for p in patterns if not any(matches(p, t) for t in targets)]
        if not unmatched or time.monotonic() >= deadline:
            return chosen, unmatched
        time.sleep(0.25)


def _open_run(store: ResultStore, device: str, fingerprint: dict[str, Any], settings: dict[str, Any],
              cells: list[Cell], resume: bool) -> tuple[str, list[Cell]]:
    from devices.registry import machine_label

    run_id = store.latest_matching_run(device, settings, machine_label(device, fingerprint)) if resume else None
    if run_id is None:
        return store.start_run(device, fingerprint, settings), list(cells)
    done = store.finished_cells(run_id)
    return run_id, [c for c in cells if c.key() not in done]


def _store_status(store: ResultStore, run: TargetRun, cell: Cell, status: str, message: str) -> CellOutcome:
    from zoo.registry import get_meta

    outcome = CellOutcome(cell=cell, status=status, message=message, family=get_meta(cell.model).family,
                          impl=cell.impl)
    store_outcome(store, run.run_id, outcome)
    run.done += 1
    return outcome


def run_fleet(store: ResultStore, opts: FleetOptions, spec: GridSpec, timing: TimingSettings, *,
              resume: bool = False, progress: bool = True, guard: GuardSettings | None = None) -> FleetReport:
    """Measure every cell of `spec` on every target matching `opts.patterns`, storing as results arrive.
    With `guard` (enabled), every worker guards its cells and the driver stores the readings."""
    from distributed import as_completed

    client = connect(opts.scheduler, opts.connect_timeout)
    try:
        return _sweep(client, store, opts, spec, timing, resume, progress, as_completed, guard)
    finally:
        client.close(timeout=5)


def _sweep(client, store, opts, spec, timing, resume, progress, as_completed, guard=None) -> FleetReport:
    cells = spec.cells(has_hetconv)
    targets, unmatched = discover(client, opts.patterns, opts.worker_timeout)
    report = FleetReport(runs=[])
    for pattern in unmatched:  # a target nobody serves: reported at once, never waited on
        fp = {"fleet_pattern": pattern, "fleet_note": "no worker"}
        settings = {**run_settings(spec, timing, {}, guard), "fleet": {"target": pattern}}
        run_id, todo = _open_run(store, pattern_device(pattern), fp, settings, cells, resume)
        run = TargetRun(pattern, pattern_device(pattern), run_id, None, todo, len(cells))
        report.runs.append(run)
        for cell in todo:
            why = f"not measured: no worker for target {pattern} (none within {opts.worker_timeout:g} s)"
            report.outcomes.append((run.name, _store_status(store, run, cell, "not_measured", why)))
        store.finish_run(run_id)
    infos = _fingerprints(client, targets, opts.worker_timeout)
    for t in targets:
        info = infos.get(t.resource)
        if info is None:  # its worker left between discovery and now
            fp, options = {"fleet_resource": t.resource, "fleet_note": "no worker"}, {}
        else:
            fp, options = info["fingerprint"], info["options"]
        settings = {**run_settings(spec, timing, options, guard), "fleet": {"target": t.resource}}
        run_id, todo = _open_run(store, t.device, fp, settings, cells, resume)
        report.runs.append(TargetRun(t.short, t.device, run_id, t.resource, todo, len(cells)))
    _measure(client, store, report, timing, opts, progress, as_completed, guard)
    for run in report.runs:
        store.finish_run(run.run_id)
    return report


def _fingerprints(client, targets: list[Target], timeout: float) -> dict[str, dict[str, Any]]:
    """Each target's worker fingerprint (resource -> fingerprint_task's dict); missing when it did not answer."""
    from distributed import wait

    futures = {t.resource: client.submit(fleet_worker.fingerprint_task, t.resource, resources={t.resource: 1},
                                         pure=False, key=f"zoobench-fp-{uuid.uuid4().hex}") for t in targets}
    wait(list(futures.values()), timeout=timeout) if futures else None
    out = {}
    for resource, fut in futures.items():
        if fut.status == "finished":
            out[resource] = fut.result()
        else:
            fut.cancel()
    return out


def _measure(client, store, report: FleetReport, timing: TimingSettings, opts: FleetOptions, progress: bool,
             as_completed, guard: GuardSettings | None = None) -> None:
    from tqdm import tqdm

    guard_dict = guard.to_dict() if guard is not None and guard.enabled else None
    live = [r for r in report.runs if r.resource is not None]
    pending: dict[str, tuple[Any, TargetRun, Cell]] = {}
    for run in live:
        for cell in run.todo:
            key = f"zoobench-cell-{uuid.uuid4().hex}"
            fut = client.submit(fleet_worker.measure_task, run.resource, cell.to_dict(), timing.to_dict(),
                                guard_dict, run.run_id, resources={run.resource: 1}, pure=False, key=key)
            pending[key] = (fut, run, cell)
    total = sum(r.cells_total for r in report.runs)
    bar = tqdm(total=total, initial=total - len(pending), desc="bench run --cluster", unit="cell", file=sys.stderr,
               disable=None if progress else True, dynamic_ncols=True)
    ac = as_completed([f for f, _, _ in pending.values()], with_results=False)
    missing_since: dict[str, float] = {}
    next_check = time.monotonic() + CHECK_S
    with bar:
        while pending:
            batch = ac.next_batch(block=False)
            for fut in batch:
                entry = pending.pop(fut.key, None)
                if entry is None:  # already stored (not_measured when its target lost every worker)
                    continue
                _, run, cell = entry
                report.outcomes.append((run.name, _store_result(store, run, cell, fut)))
                bar.update(1)
            if batch:
                bar.set_postfix_str("  ".join(f"{r.name} {r.done}/{len(r.todo)}" for r in live), refresh=False)
            elif time.monotonic() >= next_check:
                next_check = time.monotonic() + CHECK_S
                _give_up_orphans(client, store, report, pending, missing_since, opts.worker_timeout, bar)
            else:
                time.sleep(POLL_S)


def _store_result(store: ResultStore, run: TargetRun, cell: Cell, fut) -> CellOutcome:
    """Store what a finished future holds: the worker's outcome, `lost` (KilledWorker) or `error`."""
    from distributed import KilledWorker

    if fut.status == "finished":
        from bench import guard_store

        result = fut.result()
        for reading in result.get("guard_readings", ()):  # before the result: the series leads to the cell
            guard_store.add_reading(store, run.run_id, reading)
        outcome = result["outcome"]
        store_outcome(store, run.run_id, outcome)
        run.done += 1
        return outcome
    exc = fut.exception() if fut.status == "error" else None
    if isinstance(exc, KilledWorker):
        return _store_status(store, run, cell, "lost",
                             f"lost: the worker measuring it died, on every retry Dask allowed ({exc})"[:300])
    text = f"{type(exc).__name__}: {exc}" if exc is not None else f"future {fut.status}"
    return _store_status(store, run, cell, "error", f"fleet: {text}"[:300])


def _give_up_orphans(client, store, report: FleetReport, pending: dict, missing_since: dict[str, float],
                     timeout: float, bar) -> None:
    """Store the pending cells of targets that have had no worker for `timeout` s: the one a dying worker
    was running as `lost`, the others `not_measured`; cancel their tasks."""
    have = advertised(client)
    now = time.monotonic()
    for run in report.runs:
        if run.resource is None or run.resource in have:
            missing_since.pop(run.resource, None)
            continue
        since = missing_since.setdefault(run.resource, now)
        if now - since < timeout:
            continue
        keys = [k for k, (_, r, _) in pending.items() if r is run]
        began = _started(client)
        for key in keys:
            fut, _, cell = pending.pop(key)
            fut.cancel()
            if key in began:
                status, why = "lost", (f"lost: its worker died while measuring it and no worker for target "
                                       f"{run.name} came back within {timeout:g} s")
            else:
                status, why = "not_measured", f"not measured: no worker for target {run.name} (left; none for {timeout:g} s)"
            report.outcomes.append((run.name, _store_status(store, run, cell, status, why)))
            bar.update(1)


def _started(client) -> set[str]:
    """Keys of the cell tasks that began measuring on some worker (their START_TOPIC events)."""
    try:
        return {str(msg.get("key")) for _, msg in client.get_events(fleet_worker.START_TOPIC)}
    except Exception:  # noqa: BLE001 - only lost vs not_measured depends on it
        return set()
