"""What a fleet worker process runs: its device, set up once, and the two tasks the driver submits.

A `bench worker` process owns one device (one target). `configure` builds it and computes the
target's fingerprint and resource name once; `fingerprint_task` hands both to the driver, which starts
the target's run with them; `measure_task` measures one cell through the runner's own per-cell
function (`bench.runner.run_cell`: build, deploy form, prepare, the device's timing core), so a cell
measured through the fleet is measured exactly as `bench run` measures it. Tasks return plain dicts
of picklable values (the outcome is the runner's `CellOutcome` dataclass).

The contention guard (`bench.guard`) runs here, on the host being measured: the worker keeps one
Guard per driver run (baseline taken once, before that run's first cell on this worker), guards each
cell through `run_cell`, and returns the readings with the cell; the driver, the only writer, stores
them in the run's calibration series. A cell whose threads exceed this host's cores is `unsupported`
here, since only the worker knows its cores.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any

from bench.fleet.resources import resource_name


@dataclass
class WorkerState:
    """The one device this process measures on, with its fingerprint and resource name."""

    device: Any
    fingerprint: dict[str, Any]
    resource: str
    threads: int
    guard_key: tuple | None = None  # (driver run id, guard settings) of `guard`
    guard: Any = None
    readings: list = field(default_factory=list)  # guard readings not yet handed to the driver


_STATE: WorkerState | None = None


def device_options(device: str, gpu: int | None) -> dict[str, Any]:
    """Constructor options of `device` for a worker: the GPU index on cuda, nothing elsewhere."""
    from bench.errors import BenchError

    if gpu is not None and device != "cuda":
        raise BenchError("--gpu needs --device cuda")
    return {"index": gpu} if device == "cuda" and gpu is not None else {}


def configure(device: str, *, threads: int = 1, gpu: int | None = None, label_suffix: str = "") -> WorkerState:
    """Build and check the device (DeviceError when it cannot run here), set torch's intra-op threads
    for every cell this process measures, and compute the fingerprint and the resource name."""
    import torch

    from devices.registry import canonical_name, device_class, checked, machine_label

    name = canonical_name(device)
    dev = checked(device_class(name)(**device_options(name, gpu)), device)
    torch.set_num_threads(threads)  # cells without --threads run with this count, recorded in the fingerprint
    fp = dict(dev.fingerprint(threads=threads))
    resource = resource_name(name, machine_label(name, fp), label_suffix)
    # which worker measured is provenance the report can show; never matched by a comparison
    fp.update(fleet_resource=resource, fleet_host=socket.gethostname())
    _costs()  # the runner and the cost table load now, before the worker advertises itself, not in the first cell
    global _STATE
    _STATE = WorkerState(device=dev, fingerprint=fp, resource=resource, threads=threads)
    return _STATE


def _state(resource: str) -> WorkerState:
    if _STATE is None:
        raise RuntimeError("this Dask worker is not a zoobench worker (start it with `bench worker`)")
    if _STATE.resource != resource:  # a mis-routed task must fail loudly, never be timed on the wrong device
        raise RuntimeError(f"task for {resource} reached the worker of {_STATE.resource}")
    return _STATE


def fingerprint_task(resource: str) -> dict[str, Any]:
    """{'resource', 'device', 'fingerprint', 'options', 'pid'} of this worker's target."""
    state = _state(resource)
    return {"resource": state.resource, "device": state.device.name, "fingerprint": dict(state.fingerprint),
            "options": state.device.recorded_options(), "pid": os.getpid()}


def measure_task(resource: str, cell: dict[str, Any], timing: dict[str, Any], guard: dict[str, Any] | None = None,
                 run_id: str | None = None) -> dict[str, Any]:
    """Measure one cell on this worker's device: {'outcome': CellOutcome, 'resource', 'pid', 'task_s',
    'guard_readings': [bench.guard.Reading]}.

    `guard` is the run's GuardSettings as a dict (None or disabled: unguarded) and `run_id` the driver's
    run it belongs to: the first guarded cell of a run on this worker takes the baseline. Failures of the
    cell (unsupported, OOM, errors) are the outcome's status, as in `bench run`.
    """
    from bench.cell import Cell
    from bench.runner import TimingSettings, run_cell

    import time

    state = _state(resource)
    _announce_start()
    start = time.perf_counter()
    the_cell = Cell.from_mapping(cell)
    why = threads_unsupported(the_cell.threads)
    if why:
        outcome = _unsupported(the_cell, why)
    else:
        guard_ = _guard(state, guard, run_id)
        if guard_ is not None:
            guard_.baseline(the_cell.threads, the_cell.dtype)  # once per run and kernel key: Guard keeps it
        outcome = run_cell(state.device, the_cell, TimingSettings(**timing), costs=_costs(), guard=guard_)
    readings, state.readings = state.readings, []
    # the task's own wall time: round trip minus this is what the fleet adds per cell (benchmarks/fleet_check.py)
    return {"outcome": outcome, "resource": state.resource, "pid": os.getpid(),
            "task_s": time.perf_counter() - start, "guard_readings": readings}


def threads_unsupported(threads: int | None) -> str:
    """Why a cell's threads cannot be measured on this host ('' when they can): more than its cores."""
    from bench.grid import threads_over_cores

    return threads_over_cores(threads) if threads else ""


def _unsupported(cell, why: str):
    from bench.runner import CellOutcome
    from zoo.registry import get_meta

    return CellOutcome(cell=cell, status="unsupported", message=why, family=get_meta(cell.model).family,
                       impl=cell.impl)


def kernels_for(device) -> Any:
    """The calibration kernel factory for this worker's device (tests replace it with a fake)."""
    from bench.guard import kernel_factory_for

    # on the worker's own GPU (--gpu), not whichever one is current
    return kernel_factory_for(device.name, device, getattr(device, "index", None) if device.name == "cuda" else None)


def _guard(state: WorkerState, settings: dict[str, Any] | None, run_id: str | None):
    """This run's Guard on this worker (None when the guard is off); a new run gets a new Guard and baseline."""
    from bench.guard import Guard, GuardSettings

    if not settings or not settings.get("enabled", True):
        return None
    key = (run_id, tuple(sorted(settings.items())))
    if state.guard_key != key:
        state.guard = Guard(GuardSettings(**settings), kernels_for(state.device),
                            host_bound=state.device.name != "cuda", on_reading=lambda r: state.readings.append(r))
        state.guard_key = key
    return state.guard


START_TOPIC = "zoobench-cell-start"


def _announce_start() -> None:
    """Tell the scheduler this cell's task started measuring (an event on START_TOPIC): when the
    worker dies, the driver tells the cell it was running (`lost`) from those it never began."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # called outside a Dask worker (tests call the task in-process): nobody to tell
        return
    worker.log_event(START_TOPIC, {"key": str(worker.get_current_task())})


_COSTS = None


def _costs():
    """One CostLookup per process: the declared table is read once, counted costs are cached per model."""
    global _COSTS
    if _COSTS is None:
        from bench.runner import CostLookup

        _COSTS = CostLookup()
    return _COSTS
