"""The fleet keeps the contention guard and the threads check: a worker guards each cell on its own
host and hands the readings back; the driver stores them in the run's calibration series; a cell whose
threads exceed the worker's cores is stored `unsupported`. In-process (no cluster): fake kernels."""
from __future__ import annotations

import itertools
import json
import os

import pytest

from bench import guard_store
from bench.cell import Cell
from bench.fleet import driver as fleet_driver
from bench.fleet import worker as fleet_worker
from bench.guard import GuardSettings
from bench.runner import TimingSettings
from bench.store import ResultStore
from devices.base import Prepared
from devices.cpu import CpuDevice

QUIET_MS = 1.0
SETTINGS = GuardSettings(retries=1, pause_s=0.0, check_blocks=1, baseline_readings=3, baseline_gap_s=0.0)
SLOW_MS = QUIET_MS * (1 + 2 * SETTINGS.tolerance)  # well beyond the tolerance
FAST = TimingSettings(max_time_s=0.02, min_samples=5, max_iters=50, warmup_cap=10, warmup_max_time_s=0.02)
RESOURCE = "zoobench:cpu:test-host"


class NullDevice(CpuDevice):
    """A CPU device whose prepared model does nothing (the guard, not the model, is under test)."""

    def __init__(self):
        pass

    def prepare(self, model, example, **kw):
        return Prepared(run=lambda: None)


class FakeKernels:
    """Calibration kernels of a pretend machine: `times` is consumed across every kernel it makes."""

    def __init__(self, times):
        self.times = iter(times)
        self.made = 0

    def __call__(self, threads, dtype):
        self.made += 1
        return lambda: next(self.times)


@pytest.fixture
def worker_state(monkeypatch):
    state = fleet_worker.WorkerState(device=NullDevice(), fingerprint={}, resource=RESOURCE, threads=1)
    monkeypatch.setattr(fleet_worker, "_STATE", state)
    return state


def _task(cell: Cell, guard: GuardSettings | None, run_id: str | None = "run-a") -> dict:
    return fleet_worker.measure_task(RESOURCE, cell.to_dict(), FAST.to_dict(),
                                     guard.to_dict() if guard else None, run_id)


def test_worker_guards_each_cell_and_returns_its_readings(worker_state, monkeypatch):
    # quiet baseline (3 calls), then the machine slows down for good: every check is contended
    kernels = FakeKernels(itertools.chain([QUIET_MS] * 3, itertools.repeat(SLOW_MS)))
    monkeypatch.setattr(fleet_worker, "kernels_for", lambda device: kernels)
    cell = Cell("resnet20_cifar", threads=1)
    first = _task(cell, SETTINGS)
    assert first["outcome"].status == "ok"
    assert first["outcome"].info["contended"] is True  # the flag travels in the outcome, as in `bench run`
    labels = [r.label for r in first["guard_readings"]]
    assert labels[0] == "baseline" and len(labels) > 1
    assert any(r.contended for r in first["guard_readings"][1:])
    # the next cell of the same run reuses the baseline: its readings are only its own checks
    second = _task(cell, SETTINGS)
    assert second["guard_readings"] and all(r.label != "baseline" for r in second["guard_readings"])
    assert kernels.made == 1
    # another driver run gets its own Guard and baseline on this worker
    third = _task(cell, SETTINGS, run_id="run-b")
    assert third["guard_readings"][0].label == "baseline" and kernels.made == 2


def test_worker_without_guard_takes_no_readings(worker_state, monkeypatch):
    def no_kernels(device):
        raise AssertionError("the guard is off: no calibration kernel may be built")

    monkeypatch.setattr(fleet_worker, "kernels_for", no_kernels)
    for guard in (None, GuardSettings(enabled=False)):
        out = _task(Cell("resnet20_cifar", threads=1), guard)
        assert out["outcome"].status == "ok" and out["guard_readings"] == []
        assert "contended" not in out["outcome"].info


def test_worker_refuses_threads_beyond_its_cores(worker_state, monkeypatch):
    monkeypatch.setattr(fleet_worker, "kernels_for", lambda device: pytest.fail("an unsupported cell is not guarded"))
    too_many = (os.cpu_count() or 1) + 1
    out = _task(Cell("resnet20_cifar", threads=too_many), SETTINGS)
    assert out["outcome"].status == "unsupported"
    assert f"{too_many} exceeds" in out["outcome"].message and "core" in out["outcome"].message
    assert out["guard_readings"] == []


class DoneFuture:
    """What the driver reads of a finished Dask future."""

    status = "finished"

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def test_driver_stores_worker_readings_in_the_runs_series(worker_state, monkeypatch, tmp_path):
    kernels = FakeKernels(itertools.chain([QUIET_MS] * 3, itertools.repeat(SLOW_MS)))
    monkeypatch.setattr(fleet_worker, "kernels_for", lambda device: kernels)
    cell = Cell("resnet20_cifar", threads=1)
    with ResultStore(tmp_path / "r.sqlite") as store:
        run_id = store.start_run("cpu", {}, {})
        run = fleet_driver.TargetRun("cpu:test-host", "cpu", run_id, RESOURCE, [cell], 1)
        result = _task(cell, SETTINGS, run_id)
        outcome = fleet_driver._store_result(store, run, cell, DoneFuture(result))
        stored = guard_store.series(store, run_id)
        extra = store.results_frame(run_id)["extra"].iloc[0]
    assert outcome.status == "ok" and run.done == 1
    assert [r["label"] for r in stored] == [r.label for r in result["guard_readings"]]
    assert stored[0]["label"] == "baseline" and any(r["contended"] for r in stored)
    extra = extra if isinstance(extra, dict) else json.loads(extra)
    assert extra["contended"] is True


def test_cluster_threads_are_not_checked_against_the_drivers_cores():
    from argparse import Namespace

    from bench.commands.run_cmd import build_grid
    from bench.errors import BenchError

    too_many = (os.cpu_count() or 1) + 1
    args = Namespace(batch="1", dtype="fp32", layout="nchw", impl=None, threads=str(too_many), models="resnet20_cifar",
                     compile=False, variants=None)
    assert build_grid(args, lambda: None, check_cores=False).threads == (too_many,)
    with pytest.raises(BenchError, match="exceeds"):
        build_grid(args, lambda: None)


def test_fleet_and_direct_runs_of_one_machine_compare(monkeypatch):
    """A run measured through a `bench worker` and one measured directly on the same machine have
    fingerprints that differ only in the fleet's provenance fields (and jitter): `bench compare` matches them."""
    import torch

    from bench.compare import CellData, RunData, compare_runs
    from bench.load import run_load_fields

    monkeypatch.setattr(fleet_worker, "_STATE", None)
    monkeypatch.setattr(fleet_worker, "_costs", lambda: None)  # the cost table is not under test
    before = torch.get_num_threads()
    try:
        fleet_fp = fleet_worker.configure("cpu", threads=1, label_suffix="w0").fingerprint
    finally:
        torch.set_num_threads(before)
    direct_fp = {**CpuDevice().fingerprint(threads=1), **run_load_fields()}  # as `bench run` stores it
    assert "fleet_resource" in fleet_fp and "fleet_host" in fleet_fp

    def run(label, fp):
        one = CellData(Cell("resnet20_cifar", threads=1), status="ok", samples_ms=[1.0, 1.1, 0.9, 1.0, 1.05])
        return RunData(label=label, run_ids=[label], target="cpu", fingerprint=fp, git_commit=fp.get("git_commit"),
                       created_at="2026-01-01T00:00:00+00:00", cells={one.key(): one})

    result = compare_runs(run("direct", direct_fp), run("fleet", fleet_fp))
    assert result.fingerprint.ok and not result.forced
    assert {"fleet_resource", "fleet_host"} <= set(result.fingerprint.jittered)
