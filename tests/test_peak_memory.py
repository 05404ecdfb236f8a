"""Peak memory per cell on the mobile (ExecuTorch) and CUDA targets: the fields `bench run` stores."""
import pytest
import torch
import torch.nn as nn

from devices.rss import rss_high_water_delta


# In a fresh interpreter, as the mobile probe runs it: inside the test process, memory freed by earlier
# tests can still be resident (an allocator keeping it), so a new tensor may not raise the RSS at all
# (seen on a fresh CI clone: delta 0 after the rest of the suite).
RSS_PROBE = """
import torch
from devices.rss import rss_high_water_delta
delta, why = rss_high_water_delta(lambda: torch.ones(SIZE // 4))  # every page written
print(delta if delta is not None else "skip " + why)
"""


def test_rss_high_water_delta_sees_a_touched_allocation():
    import subprocess
    import sys
    from pathlib import Path

    size = 64 * 2**20
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", RSS_PROBE.replace("SIZE", str(size))], cwd=repo, text=True,
                         capture_output=True, env={**__import__("os").environ, "PYTHONPATH": str(repo)}, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    line = out.stdout.strip().splitlines()[-1]
    if line.startswith("skip "):
        pytest.skip(line[5:])
    assert int(line) >= 0.9 * size


@pytest.mark.slow  # exports and lowers an ExecuTorch program, then starts a fresh interpreter for the RSS probe
@pytest.mark.skipif(__import__("devices.mobile", fromlist=["x"]).executorch_version() is None,
                    reason="executorch not installed")
def test_mobile_planned_memory_matches_the_pte_and_rss_is_repeatable():
    from devices.mobile import MobileDevice

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16 * 16, 10)).eval()
    device = MobileDevice()
    prepared = device.prepare(model, torch.randn(1, 3, 16, 16), threads=1)
    try:
        figures = [device.peak_memory(prepared.run) for _ in range(3)]
        meta = prepared.run.method.metadata
        # the runtime's own account of the method's planned inputs and outputs, read independently of the .pte parser
        io_bytes = sum(meta.input_tensor_meta(i).nbytes() for i in range(meta.num_inputs())
                       if meta.input_tensor_meta(i).is_memory_planned())
        io_bytes += sum(meta.output_tensor_meta(i).nbytes() for i in range(meta.num_outputs())
                        if meta.output_tensor_meta(i).is_memory_planned())
    finally:
        device.cleanup()
    planned = figures[0]["planned_mem_mb"] * 2**20
    assert planned > 0 and planned >= io_bytes - 2**20 * 0.001  # rounding to 1e-3 MiB
    assert all(f["planned_mem_mb"] == figures[0]["planned_mem_mb"] for f in figures)
    rss = [f["rss_hwm_delta_mb"] for f in figures]
    assert min(rss) > 0 and max(rss) <= 1.05 * min(rss) + 0.5  # within 5 % (plus half a MiB of page noise)
    assert figures[0]["peak_mem_mb"] == rss[0] and "fresh" in figures[0]["peak_mem_method"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_peak_memory_reports_allocated_and_reserved():
    from devices.cuda import CudaDevice

    device = CudaDevice()
    x = torch.randn(8, 64, 56, 56)
    prepared = device.prepare(nn.Conv2d(64, 64, 3, padding=1), x)
    try:
        mem = device.peak_memory(prepared.run)
    finally:
        device.cleanup()
    out_mib = x.numel() * 4 / 2**20  # the conv's output, alive at the end of the call
    assert mem["peak_mem_mb"] >= out_mib and mem["peak_mem_reserved_mb"] >= mem["peak_mem_mb"]
    assert "max_memory_allocated" in mem["peak_mem_method"]
