"""CPU target: torch eager (optionally torch.compile) on x86 or aarch64, timed with perf_counter_ns."""
from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn as nn

from bench.fingerprint import host_fingerprint
from devices.base import Device, Prepared, UnsupportedCell, check_dtype_layout


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op thread count (when given) and return the count in effect."""
    if threads is not None:
        if threads < 1:
            raise UnsupportedCell(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def _inference_callable(model: nn.Module, x: torch.Tensor):
    def run() -> Any:
        # inference_mode per call: the callable must be correct on its own, whoever times it
        with torch.inference_mode():
            return model(x)

    return run


class CpuDevice(Device):
    """torch eager on the host CPU; threads explicit and recorded."""

    name = "cpu"

    def available(self) -> tuple[bool, str]:
        """Always available."""
        return True, ""

    def fingerprint(self, threads: int | None = None) -> dict[str, Any]:
        """Host facts plus torch's CPU backend settings and the thread count."""
        fp = host_fingerprint()
        fp.update(device="cpu", backend="torch eager", threads=threads or torch.get_num_threads(),
                  interop_threads=torch.get_num_interop_threads(),
                  mkldnn_enabled=bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled))
        return fp

    def prepare(self, model: nn.Module, example: torch.Tensor, *, dtype: str = "fp32", layout: str = "nchw",
                threads: int | None = None, compile: bool = False) -> Prepared:
        """Convert dtype/layout, set threads, optionally torch.compile (compiled once here, untimed)."""
        tdtype, fmt = check_dtype_layout(dtype, layout)
        used_threads = set_threads(threads)
        model = model.eval().to(dtype=tdtype, memory_format=fmt)
        x = example.to(dtype=tdtype).contiguous(memory_format=fmt)
        info: dict[str, Any] = {"threads": used_threads}
        if compile:
            model = torch.compile(model)
        run = _inference_callable(model, x)
        if compile:
            t0 = time.perf_counter()
            run()  # the first call compiles; keep it out of warm-up statistics
            info["compile_s"] = round(time.perf_counter() - t0, 3)
        return Prepared(run=run, info=info)
