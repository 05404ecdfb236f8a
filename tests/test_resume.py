"""A killed run loses at most the cell in flight; --resume finishes it with no duplicate."""
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.grid import GridSpec
from bench.runner import TimingSettings, run_grid
from bench.store import ResultStore
from devices.base import Prepared
from devices.cpu import CpuDevice

REPO = Path(__file__).resolve().parent.parent
FAST = TimingSettings(max_time_s=0.02, min_samples=5, max_iters=50, warmup_cap=10, warmup_max_time_s=0.02)


class InterruptingDevice(CpuDevice):
    """CPU device that raises KeyboardInterrupt (as Ctrl-C would) when preparing the n-th cell."""

    def __init__(self, interrupt_at):
        self.calls, self.interrupt_at = 0, interrupt_at

    def prepare(self, model, example, **kw):
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        return Prepared(run=lambda: None)


def _rows(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT result_id, run_id, cell_key, batch FROM results ORDER BY result_id").fetchall()
    finally:
        con.close()


def _count(db):
    try:
        return len(_rows(db))
    except sqlite3.OperationalError:  # the writer has not created its tables yet
        return 0


def test_interrupted_grid_resumes_without_duplicates(tmp_path):
    db = tmp_path / "r.sqlite"
    spec = GridSpec(models=("resnet20_cifar",), batches=(1, 2, 3, 4), threads=(1,))
    with ResultStore(db) as store, pytest.raises(KeyboardInterrupt):
        run_grid(store, InterruptingDevice(interrupt_at=3), spec, FAST, progress=False)
    before = _rows(db)
    assert [r[3] for r in before] == [1, 2]  # the two finished cells survived, the third was in flight
    with ResultStore(db) as store:
        report = run_grid(store, InterruptingDevice(interrupt_at=0), spec, FAST, resume=True, progress=False)
    after = _rows(db)
    assert report.resumed and report.cells_skipped == 2 and report.run_id == before[0][1]
    assert after[:2] == before  # untouched
    assert sorted(r[3] for r in after) == [1, 2, 3, 4]
    assert len({r[2] for r in after}) == len(after) == 4 and {r[1] for r in after} == {report.run_id}


def test_resume_with_other_settings_starts_a_new_run(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as store:
        first = run_grid(store, InterruptingDevice(0), GridSpec(models=("resnet20_cifar",), threads=(1,)), FAST,
                         progress=False)
        second = run_grid(store, InterruptingDevice(0), GridSpec(models=("resnet20_cifar",), batches=(2,),
                                                                  threads=(1,)), FAST, resume=True, progress=False)
    assert not second.resumed and second.run_id != first.run_id
    assert "nothing to resume" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_subprocess_then_resume(tmp_path):
    db = tmp_path / "r.sqlite"
    batches = [1, 2, 3, 4, 5, 6]
    cmd = [sys.executable, "-m", "bench.cli", "run", "--device", "cpu", "--models", "resnet20_cifar",
           "--batch", ",".join(map(str, batches)), "--threads", "1", "--max-time", "0.5", "--min-samples", "5",
           "--warmup-max-time", "0.1", "--db", str(db), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"bench run ended before it could be killed: {proc.stderr.read().decode()[-500:]}")
            if db.exists() and _count(db) >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no results appeared within the deadline")
        os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up: the harshest interruption
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    killed = _rows(db)
    assert 2 <= len(killed) < len(batches), "the kill did not land mid-grid"

    done = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-500:]
    final = _rows(db)
    assert final[:len(killed)] == killed  # nothing already stored was rewritten
    assert sorted(r[3] for r in final) == batches  # no lost cell
    assert len({r[2] for r in final}) == len(final) == len(batches)  # no duplicate
    assert {r[1] for r in final} == {killed[0][1]}  # one run, continued


def test_claim_refuses_a_live_writer_and_takes_over_a_dead_one(tmp_path):
    """The writer row of a live process blocks a second writer (naming it); a dead one's is taken over."""
    from bench.store import RunBusyError

    db = tmp_path / "r.sqlite"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with ResultStore(db) as store:
            store.conn.execute("INSERT INTO run_writers VALUES ('R1', ?, ?, '2026-01-01T00:00:00+00:00')",
                               (sleeper.pid, socket.gethostname()))
            store.conn.commit()
            with pytest.raises(RunBusyError, match=f"process {sleeper.pid} on this host"):
                store.claim_run("R1")
            sleeper.kill()
            sleeper.wait(timeout=30)
            store.claim_run("R1")  # the writer died (a killed run): its row is taken over
            row = store.conn.execute("SELECT pid FROM run_writers WHERE run_id='R1'").fetchone()
            assert row == (os.getpid(),)
            store.release_run("R1")
            assert store.conn.execute("SELECT count(*) FROM run_writers").fetchone() == (0,)
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait(timeout=30)


def test_concurrent_resume_is_refused_and_every_cell_is_stored_once(tmp_path, monkeypatch):
    """`bench run --resume` started while another process writes the same run: exit 2 with one line
    naming that process; the first process measures every cell, each stored exactly once."""
    import bench.runner
    from bench.cli import main

    db = tmp_path / "r.sqlite"
    batches = [1, 2, 3]
    argv = ["run", "--device", "cpu", "--models", "resnet20_cifar", "--batch", ",".join(map(str, batches)),
            "--threads", "1", "--max-time", "0.05", "--min-samples", "3", "--warmup-max-time", "0.05",
            "--no-guard", "--db", str(db), "--no-progress", "--resume"]
    second: list[subprocess.CompletedProcess] = []
    real_run_cell = bench.runner.run_cell

    def run_cell_then_start_a_second_writer(*args, **kwargs):
        outcome = real_run_cell(*args, **kwargs)
        if not second:  # while this process is mid-run (first cell measured, not yet stored)
            second.append(subprocess.run([sys.executable, "-m", "bench.cli", *argv], cwd=REPO,
                                         capture_output=True, text=True, timeout=300))
        return outcome

    monkeypatch.setattr(bench.runner, "run_cell", run_cell_then_start_a_second_writer)
    assert main(argv) == 0
    done = second[0]
    assert done.returncode == 2, done.stderr[-500:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"process {os.getpid()}" in lines[0], done.stderr
    rows = _rows(db)
    assert sorted(r[3] for r in rows) == batches  # every cell, once, by the first writer
    assert len({r[1] for r in rows}) == 1
    with ResultStore(db) as store:
        assert store.run_info(rows[0][1])["finished_at"] is not None
        assert store.conn.execute("SELECT count(*) FROM run_writers").fetchone() == (0,)  # released
