"""`bench ceilings` on every target: the measuring logic through a device's own kernels (a fake
device), the mobile target's ExecuTorch kernels (slow tier), and the cuda path's behaviour without
a GPU (one line, exit 2) plus its kernel-time attribution checked on fake profiler events."""
from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest
import torch

from bench.cli import main
from bench.profiling.attribution import ITER_PREFIX, LAYER_PREFIX, charge_events
from bench.profiling.ceilings import ceilings_for
from bench.store import ResultStore
from devices.ceiling_kernels import CeilingKernel
from devices.cpu import CpuDevice
from devices.mobile import executorch_version

TINY = dict(gemm_n=64, conv_shape=(1, 8, 8, 8), stream_elements=4096)


class KernelCountingDevice(CpuDevice):
    """A device whose ceiling kernels are two small torch ops; counts how often they are built and
    whether the iterator was closed (where a real device restores its thread pool)."""

    name = "fakeceil"

    def __init__(self) -> None:
        self.built = 0
        self.closed = 0

    def ceiling_kernels(self, threads, dtype, **sizes):
        self.built += 1
        a = torch.randn(128, 128)
        src, dst = torch.ones(1 << 16), torch.empty(1 << 16)
        try:
            yield CeilingKernel("gemm", "flop", 2 * 128**3, lambda: torch.mm(a, a))
            yield CeilingKernel("copy", "byte", 2 * src.numel() * 4, lambda: dst.copy_(src))
        finally:
            self.closed += 1

    def nominal_peak(self, threads, dtype):
        return None, "fake device"


def test_ceilings_from_a_device_kernel_are_positive_stored_and_cached(tmp_path):
    device = KernelCountingDevice()
    with ResultStore(tmp_path / "r.sqlite") as store:
        first, cached = ceilings_for(store, device, 1, "fp32", reps=2)
        assert not cached and device.built == 1 and device.closed == 1
        assert first.gemm_gflops > 0 and first.copy_gbs > 0 and first.conv_gflops is None
        assert (first.peak_gflops, first.bandwidth_gbs) == (first.gemm_gflops, first.copy_gbs)
        assert first.target == "fakeceil" and first.threads == 1 and first.nominal_ratio is None
        again, cached = ceilings_for(store, device, 1, "fp32", reps=2)
        assert cached and device.built == 1  # the second call does not measure again
        assert again.to_dict() == first.to_dict()
        _, cached = ceilings_for(store, device, 2, "fp32", reps=2)
        assert not cached and device.built == 2  # another thread count is another entry
    rows = sqlite3.connect(tmp_path / "r.sqlite").execute("SELECT target, threads FROM ceilings").fetchall()
    assert sorted(rows) == [("fakeceil", 1), ("fakeceil", 2)]  # the cpu's table, same shape


def test_a_kernel_set_without_a_bandwidth_figure_is_refused(tmp_path):
    from bench.errors import BenchError

    class FlopsOnly(KernelCountingDevice):
        def ceiling_kernels(self, threads, dtype, **sizes):
            yield CeilingKernel("gemm", "flop", 2.0, lambda: None)

    with ResultStore(tmp_path / "r.sqlite") as store, pytest.raises(BenchError, match="byte figure"):
        ceilings_for(store, FlopsOnly(), 1, "fp32", reps=1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message; this machine has CUDA")
@pytest.mark.parametrize("args", [["ceilings", "--device", "cuda"], ["profile", "resnet20_cifar", "--device", "cuda"]])
def test_cuda_without_a_gpu_is_one_line_exit_2(capsys, tmp_path, args):
    assert main(args + ["--db", str(tmp_path / "r.sqlite")]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and "CUDA is not available" in out.err


@pytest.mark.skipif(executorch_version() is None, reason="executorch not installed")
def test_mobile_ceilings_at_fp16_exit_2_naming_fp32(capfd, tmp_path):
    assert main(["ceilings", "--device", "mobile", "--dtype", "fp16", "--db", str(tmp_path / "r.sqlite")]) == 2
    out = capfd.readouterr()
    # the last line is bench's; the ExecuTorch runtime's own native log lines on first load may precede it
    assert out.out == "" and out.err.strip().splitlines()[-1].startswith("bench: ") and "fp32" in out.err


def _ev(name, parent=None, cpu=0.0, dev=0.0, dev_total=0.0, cpu_total=0.0, device_type="DeviceType.CPU"):
    return SimpleNamespace(name=name, cpu_parent=parent, self_cpu_time_total=cpu, cpu_time_total=cpu_total,
                           self_device_time_total=dev, device_time_total=dev_total, device_type=device_type)


def test_cuda_attribution_charges_kernel_time_to_the_launching_layer():
    """Fake events shaped like torch.profiler's with CUDA activity: the conv op launched 300 us of
    kernels inside layer 'conv' (CPU self time 20 us); a device-side copy of the range is skipped."""
    it = _ev(f"{ITER_PREFIX}0", cpu=5.0, dev=0.0, dev_total=340.0, cpu_total=60.0)
    layer = _ev(f"{LAYER_PREFIX}conv", parent=it, cpu=10.0)
    op = _ev("aten::conv2d", parent=layer, cpu=20.0, dev=300.0)
    other = _ev("aten::add", parent=it, cpu=8.0, dev=40.0)
    gpu_copy = _ev(f"{ITER_PREFIX}0", cpu=999.0, dev_total=999.0, device_type="DeviceType.CUDA")
    events = [it, layer, op, other, gpu_copy]
    on_gpu = charge_events(events, ["conv"], total=1, skip=0, kernel_time=True)
    assert on_gpu.layer_ms == {"conv": pytest.approx(0.3)} and on_gpu.iter_ms == [pytest.approx(0.34)]
    assert on_gpu.unattributed_ms == pytest.approx(0.04)
    on_cpu = charge_events(events, ["conv"], total=1, skip=0)
    assert on_cpu.layer_ms == {"conv": pytest.approx(0.03)} and on_cpu.iter_ms == [pytest.approx(0.06)]


@pytest.mark.slow  # exports three ExecuTorch programs and runs them
@pytest.mark.skipif(executorch_version() is None, reason="executorch not installed")
def test_mobile_ceilings_run_on_executorch_and_cache_their_programs(tmp_path, monkeypatch):
    from devices.mobile import MobileDevice, xnnpack_threads
    from devices.mobile_ceilings import CACHE_ENV, cache_dir

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    device = MobileDevice()
    before = xnnpack_threads()
    with ResultStore(tmp_path / "r.sqlite") as store:
        first, cached = ceilings_for(store, device, 1, "fp32", reps=2, **TINY)
        assert not cached and first.target == "mobile" and first.threads == 1
        assert first.gemm_gflops > 0 and first.conv_gflops > 0 and first.add_gbs > 0
        assert first.copy_gbs is None and first.triad_gbs is None  # XNNPACK: an add, no copy or triad
        assert xnnpack_threads() == before  # the pool is put back
        programs = {p.name: p.stat().st_mtime_ns for p in cache_dir().glob("*.pte")}
        assert len(programs) == 3
        again, cached = ceilings_for(store, device, 1, "fp32", reps=2, **TINY)
        assert cached and again.to_dict() == first.to_dict()
        ceilings_for(store, device, 1, "fp32", remeasure=True, reps=2, **TINY)
        assert {p.name: p.stat().st_mtime_ns for p in cache_dir().glob("*.pte")} == programs  # not re-exported
