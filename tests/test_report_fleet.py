"""`bench report` tells fleet targets apart: two workers with one hardware label (`bench cluster
local`'s -w0/-w1) are two machines, each with its own slice; a run measured directly keeps its label."""
from __future__ import annotations

import random

from bench.cell import Cell
from bench.cli import main
from bench.report.data import build_slices, fleet_machine, fleet_target_of
from bench.report.source import load_frames
from bench.stats import summarize
from bench.store import ResultStore
from devices.cpu import CpuDevice

MODELS = ("resnet20_cifar", "resnet32_cifar")


def _run(store: ResultStore, fingerprint: dict, seed: int) -> str:
    run_id = store.start_run("cpu", fingerprint, {"grid": {}})
    rng = random.Random(seed)
    for model in MODELS:
        samples = [rng.uniform(1.0, 1.2) for _ in range(20)]
        store.add_result(run_id, Cell(model, threads=1), summarize(samples), samples, family="resnet_cifar")
    store.finish_run(run_id)
    return run_id


def test_two_fleet_workers_of_one_machine_are_two_report_machines(tmp_path):
    fp = CpuDevice().fingerprint(threads=1)
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as store:
        direct = _run(store, fp, 0)
        w0 = _run(store, {**fp, "fleet_resource": "zoobench:cpu:Host-x86_64-w0", "fleet_host": "h"}, 1)
        w1 = _run(store, {**fp, "fleet_resource": "zoobench:cpu:Host-x86_64-w1", "fleet_host": "h"}, 2)
        plain = store.results_frame()["machine"].iloc[0]  # the store's own label: the same for all three
        assert set(store.results_frame()["machine"]) == {plain}
    results, runs = load_frames(db)
    by_run = results.groupby("run_id")["machine"].first()
    assert by_run[direct] == plain
    assert by_run[w0] != by_run[w1] and "w0" in by_run[w0] and "w1" in by_run[w1]
    assert all(by_run[r].startswith(plain) for r in (w0, w1))  # the hardware label stays readable
    assert dict(zip(runs["run_id"], runs["machine"])) == by_run.to_dict()  # runs and results agree
    slices = build_slices(results, runs)
    assert sorted(s.machine for s in slices) == sorted(by_run)
    for s in slices:
        assert len(s.rows) == len(MODELS) and set(s.rows["run_id"]) == {by_run[by_run == s.machine].index[0]}
    # `bench report` writes each machine's pages in a folder of its own (none overwrites another)
    out = tmp_path / "rep"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    folders = sorted(p.name for p in out.iterdir() if p.is_dir() and p.name != "views")  # views: cross-slice pages
    assert len(folders) == 3
    assert [f for f in folders if f.endswith("-w0")] and [f for f in folders if f.endswith("-w1")]


def test_fleet_target_round_trips_through_the_machine_label():
    machine = fleet_machine("AMD EPYC (x86_64)", {"fleet_resource": "zoobench:cpu:AMD-EPYC-x86_64-w0"})
    assert fleet_target_of(machine) == "cpu:AMD-EPYC-x86_64-w0"
    assert fleet_target_of("AMD EPYC (x86_64)") == ""
    assert fleet_machine("AMD EPYC (x86_64)", {}) == "AMD EPYC (x86_64)"
