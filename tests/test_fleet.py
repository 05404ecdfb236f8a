"""The fleet (bench worker / bench cluster local / bench run --cluster): loopback only, bounded in time.

Each cluster test starts real processes (a Dask scheduler and `bench worker`s on 127.0.0.1) and runs
the driver through `bench.cli.main`, as a user would; every wait has a deadline.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.fleet.resources import Target, matches, parse_patterns, parse_resource, resource_name, safe_label

REPO = Path(__file__).resolve().parent.parent
# a tiny grid: enough samples for a p50, as little time as the timing core allows
FAST = ["--max-time", "0.05", "--warmup-max-time", "0.05", "--min-samples", "5", "--max-iters", "30",
        "--no-progress", "--format", "json"]


def _rows(db: Path, sql: str, *args) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# --- resource names and patterns (no Dask needed) -------------------------------------------

def test_resource_names_are_safe_and_round_trip():
    name = resource_name("cuda", "NVIDIA H200 (CUDA 12.8)", "")
    assert name == "zoobench:cuda:NVIDIA-H200-CUDA-12.8"
    assert parse_resource(name) == Target(name, "cuda", "NVIDIA-H200-CUDA-12.8")
    assert resource_name("cpu", "AMD EPYC (x86_64)", "-w1").endswith("x86_64-w1")
    assert parse_resource("GPU") is None and parse_resource("other:cpu:x") is None
    assert safe_label("  ") == "unknown"


def test_target_patterns():
    assert parse_patterns("cuda:*, cpu") == ("cuda:*", "cpu:*")
    cpu = parse_resource("zoobench:cpu:AMD-EPYC-x86_64-w0")
    assert matches("cpu:*", cpu) and matches("cpu:*-w0", cpu) and not matches("cuda:*", cpu)
    with pytest.raises(Exception, match="--targets"):
        parse_patterns("cpu:*,,cuda:*")


# --- errors that need no cluster --------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scheduler_down_is_one_line_exit_2(tmp_path, capfd):
    pytest.importorskip("distributed", reason="the fleet needs Dask distributed (pip install -e '.[fleet]')")
    start = time.monotonic()
    code = main(["run", "--cluster", f"tcp://127.0.0.1:{_free_port()}", "--targets", "cpu:*", "--models",
                 "resnet20_cifar", "--connect-timeout", "1", "--db", str(tmp_path / "r.sqlite"), *FAST])
    err = capfd.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "cannot reach the scheduler" in err, err
    assert time.monotonic() - start < 20


def test_cluster_options_are_checked(tmp_path, capsys):
    assert main(["run", "--cluster", "tcp://127.0.0.1:1", "--device", "cpu", "--targets", "cpu:*"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert main(["run", "--cluster", "tcp://127.0.0.1:1"]) == 2
    assert "--targets" in capsys.readouterr().err
    assert main(["run", "--models", "resnet20_cifar"]) == 2
    assert "--device is required" in capsys.readouterr().err


# --- real local clusters ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_targets():
    """A scheduler and two workers with distinct labels (two targets) on 127.0.0.1."""
    pytest.importorskip("distributed", reason="the fleet needs Dask distributed (pip install -e '.[fleet]')")
    from bench.fleet.local import LocalFleet

    with LocalFleet(2, distinct=True, start_timeout=90) as fleet:
        yield fleet


def test_two_targets_every_cell_lands_once_with_its_target(two_targets, tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    args = ["run", "--cluster", two_targets.address, "--targets", "cpu:*", "--models", "resnet20_cifar",
            "--batch", "1,2", "--db", str(db), *FAST]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    runs = _rows(db, "SELECT run_id, target, fingerprint, settings FROM runs")
    assert len(runs) == 2  # one run per target
    resources = set()
    for run_id, target, fp, settings in runs:
        fp, settings = json.loads(fp), json.loads(settings)
        assert target == "cpu"
        # the run's fingerprint is the worker's own, and names the target the driver routed to
        assert fp["fleet_resource"] == settings["fleet"]["target"]
        resources.add(fp["fleet_resource"])
        cells = _rows(db, "SELECT cell_key, status, extra FROM results WHERE run_id=?", run_id)
        assert sorted(json.loads(k)["batch"] for k, _, _ in cells) == [1, 2]  # each cell once
        assert {s for _, s, _ in cells} == {"ok"}
        # the guard (on by default) ran on the worker: its flag is in each cell, its series in the run
        assert "guard" in settings and all("contended" in json.loads(e) for _, _, e in cells)
        series = [json.loads(r) for (r,) in _rows(db, "SELECT reading FROM guard_calibration WHERE run_id=? "
                                                     "ORDER BY idx", run_id)]
        assert series and series[0]["label"] == "baseline"
        assert sum(r["label"] == "baseline" for r in series) == 1  # one baseline per run, not per cell
    assert len(resources) == 2 and all(r.endswith(("-w0", "-w1")) for r in resources)
    assert len(printed) == 4 and {r["status"] for r in printed} == {"ok"}
    # --resume: everything is stored, nothing is measured again
    assert main([*args, "--resume"]) == 0
    capsys.readouterr()
    assert len(_rows(db, "SELECT result_id FROM results")) == 4
    assert len(_rows(db, "SELECT run_id FROM runs")) == 2


def test_target_without_worker_is_reported_not_hung(two_targets, tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    start = time.monotonic()
    code = main(["run", "--cluster", two_targets.address, "--targets", "cuda:*", "--models", "resnet20_cifar",
                 "--worker-timeout", "1", "--db", str(db), *FAST])
    assert code == 0
    assert time.monotonic() - start < 30
    rows = _rows(db, "SELECT r.status, r.message, u.target FROM results r JOIN runs u USING (run_id)")
    assert len(rows) == 1
    status, message, target = rows[0]
    assert status == "not_measured" and target == "cuda"
    assert message.startswith("not measured: no worker for target cuda:*")
    capsys.readouterr()


def test_threads_are_checked_on_the_worker(two_targets, tmp_path, capsys):
    # more threads than any core count here: the driver does not refuse them, each worker stores them
    # unsupported with its reason (the workers run on this host, so its core count is theirs)
    too_many = (os.cpu_count() or 1) + 1
    db = tmp_path / "r.sqlite"
    assert main(["run", "--cluster", two_targets.address, "--targets", "cpu:*-w0", "--models", "resnet20_cifar",
                 "--threads", f"1,{too_many}", "--db", str(db), *FAST]) == 0
    capsys.readouterr()
    rows = {json.loads(k)["threads"]: (status, msg) for k, status, msg in
            _rows(db, "SELECT cell_key, status, message FROM results")}
    assert rows[1][0] == "ok"
    assert rows[too_many][0] == "unsupported" and "exceeds" in rows[too_many][1]


def _wait_for_first_result(db, timeout_s: float = 120) -> None:
    """Until the driver has stored one result in `db` (the sweep is under way), or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if _rows(db, "SELECT count(*) FROM results")[0][0] >= 1:
                return
        except sqlite3.OperationalError:  # the driver has not created the tables yet
            pass
        time.sleep(0.1)


@pytest.mark.slow
def test_killed_worker_loses_and_duplicates_nothing(tmp_path):
    """kill -9 of one of two workers of the same target mid-sweep: every cell lands once, all ok."""
    pytest.importorskip("distributed", reason="the fleet needs Dask distributed (pip install -e '.[fleet]')")
    from bench.fleet.local import LocalFleet

    db = tmp_path / "r.sqlite"
    models = "resnet20_cifar,resnet32_cifar"
    batches = "1,2,3,4"
    n_cells = 2 * 4
    with LocalFleet(2, distinct=False, start_timeout=90) as fleet:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        driver = subprocess.Popen(
            [sys.executable, "-m", "bench", "run", "--cluster", fleet.address, "--targets", "cpu:*",
             "--models", models, "--batch", batches, "--db", str(db), "--max-time", "0.3", "--warmup-max-time",
             "0.1", "--no-progress", "--format", "json"], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        _wait_for_first_result(db)  # kill a worker once the sweep is under way
        os.kill(fleet.workers[0].pid, signal.SIGKILL)
        out, err = driver.communicate(timeout=180)
    assert driver.returncode == 0, err[-2000:]
    rows = _rows(db, "SELECT cell_key, status FROM results")
    assert len(rows) == n_cells and len({k for k, _ in rows}) == n_cells  # nothing lost, nothing twice
    assert {s for _, s in rows} == {"ok"}
    assert len(json.loads(out)) == n_cells


@pytest.mark.slow
def test_target_that_loses_its_only_worker_is_reported_not_hung(tmp_path):
    """kill -9 of the only worker of one target mid-sweep: the other target finishes, the orphaned
    target's cells are stored lost (the one in flight) / not_measured within the timeout."""
    pytest.importorskip("distributed", reason="the fleet needs Dask distributed (pip install -e '.[fleet]')")
    from bench.fleet.local import LocalFleet

    db = tmp_path / "r.sqlite"
    n_cells = 6
    with LocalFleet(2, distinct=True, start_timeout=90) as fleet:
        driver = subprocess.Popen(
            [sys.executable, "-m", "bench", "run", "--cluster", fleet.address, "--targets", "cpu:*", "--models",
             "resnet20_cifar,resnet32_cifar", "--batch", "1,2,3", "--db", str(db), "--max-time", "0.3",
             "--warmup-max-time", "0.1", "--worker-timeout", "2", "--no-progress", "--format", "json"],
            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for_first_result(db)
        os.kill(fleet.workers[0].pid, signal.SIGKILL)
        _, err = driver.communicate(timeout=180)
    assert driver.returncode == 0, err[-2000:]
    rows = _rows(db, "SELECT json_extract(u.fingerprint, '$.fleet_resource'), r.cell_key, r.status, r.message "
                     "FROM results r JOIN runs u USING (run_id)")
    by_target: dict[str, list[tuple[str, str, str]]] = {}
    for resource, key, status, message in rows:
        by_target.setdefault(resource, []).append((key, status, message))
    killed = next(r for r in by_target if r.endswith("-w0"))
    alive = next(r for r in by_target if r.endswith("-w1"))
    assert {s for _, s, _ in by_target[alive]} == {"ok"} and len(by_target[alive]) == n_cells
    assert len({k for k, _, _ in by_target[killed]}) == len(by_target[killed]) == n_cells  # once each
    orphaned = [(s, m) for _, s, m in by_target[killed] if s != "ok"]
    assert orphaned and all(s in ("lost", "not_measured") for s, _ in orphaned)
    assert all("no worker for target" in m for _, m in orphaned)
    # only the cell the worker was measuring when it died is lost; the ones it never began are not_measured
    assert [s for s, _ in orphaned].count("lost") <= 1


@pytest.mark.slow
def test_cluster_local_prints_its_loopback_address_and_stops_on_ctrl_c():
    pytest.importorskip("distributed", reason="the fleet needs Dask distributed (pip install -e '.[fleet]')")
    proc = subprocess.Popen([sys.executable, "-m", "bench", "cluster", "local", "--workers", "1"],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # bounded by the fleet's own start timeout
        assert line.startswith("scheduler tcp://127.0.0.1:"), line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
