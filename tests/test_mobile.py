"""Mobile target: executor_runner parsing, adb command lines, availability, numerics, labels."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from bench.errors import BenchError
from bench.grid import Cell
from bench.runner import TimingSettings, run_cell
from devices import mobile
from devices.base import Device, NumericsCheck, Prepared
from devices.mobile import AdbRunner, MobileDevice, parse_executor_runner_output

# What an Android build of examples/portable/executor_runner prints with --num_executions=10
# (log format of ET_LOG: level, timestamp, file:line). Written for this test, values invented.
RUNNER_LOG = """\
I 00:00:00.000612 executorch:executor_runner.cpp:82] Model file /data/local/tmp/zoobench/m.pte is loaded.
I 00:00:00.000650 executorch:executor_runner.cpp:91] Using method forward
I 00:00:00.000671 executorch:executor_runner.cpp:138] Setting up planned buffer 0, size 2359296.
I 00:00:00.013224 executorch:executor_runner.cpp:161] Method loaded.
I 00:00:00.013470 executorch:executor_runner.cpp:171] Inputs prepared.
I 00:00:00.412117 executorch:executor_runner.cpp:180] Model executed successfully 10 time(s) in 398.412000 ms.
I 00:00:00.412164 executorch:executor_runner.cpp:184] 1 outputs:
Output 0: tensor(sizes=[1, 10], [0.0123, -0.2, ...])
"""

FAST = TimingSettings(max_time_s=0.05, min_samples=5, max_iters=50, warmup_cap=10, warmup_max_time_s=0.05)
REPO = Path(__file__).resolve().parent.parent
has_executorch = pytest.mark.skipif(mobile.executorch_version() is None, reason="executorch not installed")


def test_parse_runner_timing_line():
    (t,) = parse_executor_runner_output(RUNNER_LOG)
    assert t.executions == 10 and t.total_ms == pytest.approx(398.412)
    assert t.per_execution_ms == pytest.approx(39.8412)


def test_parse_several_blocks_and_missing_timing():
    two = RUNNER_LOG + RUNNER_LOG.replace("10 time(s) in 398.412000", "5 time(s) in 100.5")
    assert [t.executions for t in parse_executor_runner_output(two)] == [10, 5]
    with pytest.raises(ValueError, match="no 'Model executed successfully"):
        parse_executor_runner_output("I 00:00:00.1 executorch:executor_runner.cpp:180] Model executed successfully.")


def test_adb_runner_command_line_and_parsing(monkeypatch):
    seen = []

    def fake_run(cmd, capture_output, text, timeout):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout=RUNNER_LOG, stderr="")

    monkeypatch.setattr(mobile.subprocess, "run", fake_run)
    runner = AdbRunner(Path("/x/executor_runner"), serial="abc123", executions_per_block=10)
    ms = runner.run_block("/data/local/tmp/zoobench/m.pte", threads=4)
    assert ms == pytest.approx(39.8412)
    cmd = seen[-1]
    assert cmd[:3] == ["adb", "-s", "abc123"] and "--num_executions=10" in cmd and "--cpu_threads=4" in cmd
    assert "--model_path=/data/local/tmp/zoobench/m.pte" in cmd


def test_adb_runner_missing_binary_is_unavailable(tmp_path):
    ok, reason = AdbRunner(tmp_path / "nope", adb="definitely-not-adb").available()
    assert not ok and "not found" in reason


def test_missing_executorch_exits_2(monkeypatch, tmp_path, capsys):
    from bench.cli import main

    monkeypatch.setattr(mobile, "executorch_version", lambda: None)
    ok, reason = MobileDevice().available()
    assert not ok and "executorch is not installed" in reason
    db = tmp_path / "r.sqlite"
    assert main(["run", "--device", "mobile", "--models", "resnet20_cifar", "--db", str(db)]) == 2
    assert "executorch is not installed" in capsys.readouterr().err
    assert not db.exists()


class MismatchDevice(Device):
    """Prepares a callable whose numerics check failed (as a bad .pte would)."""

    name = "mobile"

    def available(self):
        return True, ""

    def fingerprint(self, threads=None):
        return {}

    def prepare(self, model, example, **kw):
        return Prepared(run=lambda: None, numerics=NumericsCheck(rel_err=3e-2, tolerance=1e-4))


def test_numerics_mismatch_is_stored_as_such_and_still_timed():
    out = run_cell(MismatchDevice(), Cell("resnet20_cifar", 1, "fp32", "nchw", None, 1), FAST)
    assert out.status == "numerics_mismatch" and "3.00e-02" in out.message
    assert out.measurement is not None and out.info["numerics_rel_err"] == pytest.approx(3e-2)


@has_executorch
def test_mobile_refuses_what_it_cannot_export():
    from devices.base import UnsupportedCell

    dev = MobileDevice()
    for kw in ({"dtype": "fp16"}, {"layout": "nhwc"}, {"compile": True}):
        with pytest.raises(UnsupportedCell):
            dev.prepare(nn.Identity(), torch.zeros(1, 3, 4, 4), **kw)


@has_executorch
@pytest.mark.slow  # loads the executorch runtime (several seconds)
def test_mobile_fingerprint_says_where_it_ran():
    fp = MobileDevice().fingerprint()
    assert fp["runtime"] == "executorch python runtime on host" and fp["executorch"]
    assert fp["host_is_arm"] == (fp["arch"] in ("aarch64", "arm64"))


@has_executorch
@pytest.mark.slow
def test_export_small_model_matches_eager_and_times():
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, groups=4, padding=1),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()
    x = torch.randn(1, 3, 16, 16)
    prep = MobileDevice().prepare(model, x, threads=1)
    assert prep.numerics is not None and prep.numerics.ok and prep.numerics.rel_err <= 1e-4
    assert prep.info["pte_bytes"] > 0
    out = prep()[0]
    assert torch.allclose(out, model(x), rtol=1e-4, atol=1e-5)
    from bench.timing import measure

    m = measure(prep, max_time_s=0.1, min_samples=5)
    assert m.stats.p50_ms > 0



class FakeMethod:
    """Stands in for a loaded .pte method: runs the eager model (so numerics match)."""

    def __init__(self, model):
        self.model = model

    def execute(self, inputs):
        with torch.inference_mode():
            return [self.model(inputs[0])]


def test_cleanup_restores_the_xnnpack_thread_pool(monkeypatch):
    """prepare(threads=N) resizes ExecuTorch's process-wide pool; cleanup puts the earlier size back
    (export and runtime faked: this checks the device's bookkeeping, not executorch)."""
    pool = {"size": 3}
    resized = []

    def fake_set(threads):
        if threads is not None:
            pool["size"] = int(threads)
            resized.append(int(threads))
        return pool["size"]

    model = nn.Conv2d(3, 4, 3)
    monkeypatch.setattr(mobile, "xnnpack_threads", lambda: pool["size"])
    monkeypatch.setattr(mobile, "set_xnnpack_threads", fake_set)
    monkeypatch.setattr(mobile, "export_pte", lambda m, x: b"pte")
    monkeypatch.setattr(mobile, "load_pte_method", lambda pte: (object(), FakeMethod(model)))
    dev = MobileDevice()
    for threads in (1, 2):  # two prepares before one cleanup (a group of models): the first size is kept
        prep = dev.prepare(model, torch.zeros(1, 3, 8, 8), threads=threads)
        assert prep.info["threads"] == threads == pool["size"]
    dev.cleanup()
    assert pool["size"] == 3 and resized == [1, 2, 3]
    dev.cleanup()  # nothing prepared since: no resize
    assert resized == [1, 2, 3]
    dev.prepare(model, torch.zeros(1, 3, 8, 8))  # no threads asked: the pool is left alone
    dev.cleanup()
    assert pool["size"] == 3 and resized == [1, 2, 3]


@has_executorch
@pytest.mark.slow  # loads the executorch runtime and exports a model
def test_cleanup_restores_the_real_xnnpack_thread_pool():
    before = mobile.xnnpack_threads()
    other = 1 if before != 1 else 2
    dev = MobileDevice()
    try:
        prep = dev.prepare(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), torch.randn(1, 3, 8, 8), threads=other)
        assert prep.info["threads"] == other == mobile.xnnpack_threads()
    finally:
        dev.cleanup()
    assert mobile.xnnpack_threads() == before

def test_get_device_mobile_unavailable_message(monkeypatch):
    from devices.registry import get_device

    monkeypatch.setattr(mobile, "executorch_version", lambda: None)
    with pytest.raises(BenchError, match="device 'arm' is not available: executorch is not installed"):
        get_device("arm")


@has_executorch
@pytest.mark.slow  # exports a .pte and loads the executorch runtime
def test_mobile_calibration_kernel_runs_a_pte_on_executorch_and_is_exported_once(monkeypatch):
    from bench.guard import kernel_factory_for

    exports = []
    real = mobile.export_pte
    monkeypatch.setattr(mobile, "export_pte", lambda m, x: exports.append(type(m).__name__) or real(m, x))
    monkeypatch.setattr(mobile, "_calibration_pte", {})
    dev = MobileDevice()
    kernel = kernel_factory_for("mobile", dev)(1, "fp32")
    first, second = kernel(), kernel()
    assert first > 0 and second > 0
    # the guard uses the device's own kernel, and a second kernel (another threads key) reuses the export
    kernel_factory_for("mobile", dev)(2, "fp32")()
    assert exports == ["Linear"]
    # adb mode measures a phone: the guard falls back to the host GEMM there
    assert MobileDevice(adb_runner=object()).calibration_kernel(1, "fp32") is None


@has_executorch
@pytest.mark.slow  # exports a .pte and runs the executorch runtime in a fresh process
def test_mobile_calibration_kernel_survives_the_pool_being_replaced_between_cells():
    # a --threads 1 cell resizes ExecuTorch's pool in prepare and back in cleanup; the guard's kernel,
    # loaded before, used to execute XNNPACK runtimes bound to the destroyed pool and crash (segfault)
    code = ("from devices import mobile\n"
            "kernel = mobile.pte_calibration_kernel(1)\n"
            "before = mobile.set_xnnpack_threads(None)\n"
            "kernel()\n"
            "for size in (2, 1, 3):\n"
            "    g = mobile.pool_resets()\n"
            "    mobile.set_xnnpack_threads(size)  # a cell's prepare / cleanup\n"
            "    assert mobile.pool_resets() == g + (size != 1)\n"
            "    assert kernel() > 0\n"
            "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), (done.returncode, done.stderr[-1500:])


@has_executorch
def test_calibration_kernel_reloads_its_program_after_the_pool_is_resized(monkeypatch):
    """A method keeps the thread pool it was loaded with; after a resize (a cell's prepare or cleanup
    between guard readings) the guard's kernel must load its program again, not run on the freed pool
    (`bench run --device mobile --threads 1` corrupted the heap before)."""
    loads = []
    real_load = mobile.load_pte_method

    def counting_load(pte):
        loads.append(mobile.xnnpack_threads())
        return real_load(pte)

    monkeypatch.setattr(mobile, "load_pte_method", counting_load)
    before = mobile.xnnpack_threads()
    other = 2 if before != 2 else 3
    try:
        kernel = mobile.pte_calibration_kernel(1, reps=1)
        assert kernel() > 0 and loads == [1]  # loaded after the pool got the run's size
        assert kernel() > 0 and loads == [1]  # same pool: no reload
        mobile.set_xnnpack_threads(other)  # what a cell's cleanup does
        assert kernel() > 0 and loads == [1, 1]  # resized back to 1, then reloaded on the new pool
    finally:
        mobile.set_xnnpack_threads(before)
