"""Devices: registry, CPU prepare/fingerprint, labels that never call x86 'ARM', runner statuses."""
import pytest
import torch
import torch.nn as nn

from bench.errors import BenchError
from bench.fingerprint import machine_label
from bench.grid import Cell
from bench.runner import TimingSettings, run_cell
from devices.base import Device, Prepared, UnsupportedCell, relative_error
from devices.cpu import CpuDevice
from devices.registry import get_device

FAST = TimingSettings(max_time_s=0.05, min_samples=5, max_iters=50, warmup_cap=10, warmup_max_time_s=0.05)


def test_registry_names_and_alias():
    assert get_device("cpu").name == "cpu"
    assert get_device("arm", check_available=False).name == "mobile"
    assert get_device("MOBILE", check_available=False).name == "mobile"


def test_unknown_device_is_a_bench_error():
    with pytest.raises(BenchError, match="unknown device 'tpu'.*cpu, cuda, mobile"):
        get_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message; this machine has CUDA")
def test_cuda_unavailable_is_a_clear_bench_error():
    with pytest.raises(BenchError, match="device 'cuda' is not available: CUDA is not available"):
        get_device("cuda")


def test_cpu_fingerprint_has_the_comparison_fields():
    fp = CpuDevice().fingerprint(threads=1)
    for key in ("cpu_model", "arch", "cores_logical", "memory_gb", "os", "python", "torch", "onednn",
                "git_commit", "threads", "cpu_governor", "cpu_freq_mhz"):
        assert key in fp
    assert fp["threads"] == 1 and fp["device"] == "cpu"


def test_cpu_prepare_sets_threads_and_matches_eager_in_channels_last():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1)).eval()
    x = torch.randn(2, 3, 8, 8)
    ref = model(x).detach()
    old = torch.get_num_threads()
    try:
        prep = CpuDevice().prepare(model, x, layout="nhwc", threads=1)
        assert torch.get_num_threads() == 1 and prep.info["threads"] == 1
        out = prep()
        assert out.is_contiguous(memory_format=torch.channels_last)
        assert relative_error(out, ref) < 1e-5
        assert not torch.is_grad_enabled() or not out.requires_grad
    finally:
        torch.set_num_threads(old)


def test_cpu_prepare_bf16_and_bad_values():
    model = nn.Conv2d(3, 4, 3).eval()
    prep = CpuDevice().prepare(model, torch.randn(1, 3, 8, 8), dtype="bf16")
    assert prep().dtype == torch.bfloat16
    with pytest.raises(UnsupportedCell):
        CpuDevice().prepare(model, torch.randn(1, 3, 8, 8), dtype="fp64")
    with pytest.raises(UnsupportedCell):
        CpuDevice().prepare(model, torch.randn(1, 3, 8, 8), threads=0)


def test_mobile_label_on_x86_says_host_not_arm():
    fp = {"cpu_model": "AMD EPYC", "arch": "x86_64"}
    label = machine_label("mobile", fp)
    assert "XNNPACK on host x86_64" in label and "ARM" not in label


@pytest.mark.parametrize("arch", ["aarch64", "arm64"])
def test_mobile_label_on_arm_host_says_arm(arch):
    assert machine_label("mobile", {"cpu_model": "Cortex-A76", "arch": arch}).startswith("XNNPACK on ARM")


def test_cpu_and_cuda_labels():
    assert machine_label("cpu", {"cpu_model": "Xeon", "arch": "x86_64"}) == "Xeon (x86_64)"
    assert machine_label("cuda", {"gpu_name": "H100", "cuda_version": "13.0"}) == "H100 (CUDA 13.0)"


class ScriptedDevice(Device):
    """A device whose prepare() behaves as told: ok, unsupported, oom or error."""

    name = "fake"

    def __init__(self, behaviour):
        self.behaviour = behaviour

    def available(self):
        return True, ""

    def fingerprint(self, threads=None):
        return {"cpu_model": "fake", "arch": "x86_64"}

    def prepare(self, model, example, *, dtype="fp32", layout="nchw", threads=None, compile=False):
        if self.behaviour == "unsupported":
            raise UnsupportedCell("fake device cannot do fp16")
        if self.behaviour == "oom":
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        if self.behaviour == "error":
            raise KeyError("boom")
        return Prepared(run=lambda: None)


@pytest.mark.parametrize("behaviour, status, text", [
    ("ok", "ok", ""), ("unsupported", "unsupported", "cannot do fp16"), ("oom", "oom", "out of memory"),
    ("error", "error", "KeyError")])
def test_run_cell_turns_failures_into_statuses(behaviour, status, text):
    cell = Cell("resnet20_cifar", 64, "fp32", "nchw", None, 1)
    out = run_cell(ScriptedDevice(behaviour), cell, FAST)
    assert out.status == status and text in out.message
    assert (out.measurement is not None) == (status == "ok")
    assert out.cell.batch == 64  # never shrunk


def test_run_cell_grouped_streams_unsupported_off_cuda():
    cell = Cell("vgg16_cifar_p4", 1, "fp32", "nchw", "grouped_streams", 1)
    out = run_cell(CpuDevice(), cell, FAST)
    assert out.status == "unsupported" and "CUDA" in out.message


def test_run_cell_records_the_impl_that_ran():
    out = run_cell(CpuDevice(), Cell("resnet56_cifar_p4", 1, "fp32", "nchw", "folded", 1), FAST)
    assert out.status == "ok" and out.impl == "folded"
    out = run_cell(CpuDevice(), Cell("resnet56_cifar_p4", 1, "fp32", "nchw", None, 1), FAST)
    assert out.impl == "grouped"  # the variant's own default, recorded


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
def test_cuda_prepare_fp16_and_event_timer():
    from devices.cuda import CudaDevice

    dev = CudaDevice()
    prep = dev.prepare(nn.Conv2d(3, 8, 3).eval(), torch.randn(1, 3, 32, 32), dtype="fp16", layout="nhwc")
    assert prep().dtype == torch.float16
    assert dev.timer()(prep) > 0
    fp = dev.fingerprint()
    assert fp["gpu_name"] and fp["cudnn_benchmark"] is True and "matmul_allow_tf32" in fp


@cuda
def test_cuda_graph_replay_matches_eager():
    from devices.cuda import CudaDevice

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).eval()
    x = torch.randn(1, 3, 16, 16)
    ref = model(x).detach()
    out = CudaDevice(cuda_graph=True).prepare(model, x)()
    assert relative_error(out, ref) < 1e-3
