"""CPU target: torch eager (optionally torch.compile) on x86 or aarch64, timed with perf_counter_ns."""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator

import torch
import torch.nn as nn

from devices.base import Device, Prepared, TargetText, UnsupportedCell, fingerprint_text, check_dtype_layout
from devices.ceiling_kernels import CeilingKernel, torch_kernels
from devices.host import host_fingerprint, is_arm_arch
from devices.nominal_peak import nominal_peak


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op thread count (when given) and return the count in effect.

    Process-wide and not undone: for callers that own the process's thread setting (a claim
    study). `CpuDevice` restores the previous count after each cell itself.
    """
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


PEAK_MEM_METHOD = ("torch CPU allocator: peak of live bytes allocated during one forward pass (torch.profiler "
                   "profile_memory, per-op allocations in time order), above what was held before; weights excluded")


@contextmanager
def quiet_profiler(**kwargs: Any) -> Iterator[Any]:
    """torch.profiler.profile(**kwargs) (default: the CPU activity only), without the native log lines that
    kineto writes to stderr on start and stop ('profiler_start', 'gpuGetDeviceCount failed' on a
    machine without a GPU): they would interleave with the command's own one-line messages."""
    from torch.profiler import ProfilerActivity, profile

    kwargs.setdefault("activities", [ProfilerActivity.CPU])
    prof = profile(**kwargs)
    with _native_stderr_silenced():
        prof.__enter__()
    try:
        yield prof
    finally:
        with _native_stderr_silenced():
            prof.__exit__(None, None, None)


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def allocator_peak_bytes(run) -> int:
    """Peak bytes held by torch's CPU allocator during one call of `run`, above the level before it.

    torch keeps no CPU allocator statistics, and the RSS high-water mark stops moving once malloc
    has cached a first call's pages, so the allocations are read from the profiler's memory
    records instead: each op's own net allocation at its start time, summed in time order. The
    same call allocates the same tensors, so the figure repeats exactly; temporaries an op
    frees before it returns are not seen (an under-estimate by at most one op's scratch).
    """
    with quiet_profiler(profile_memory=True) as prof:
        out = run()
    del out
    deltas = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage)
    level = peak = 0
    for _, delta in deltas:
        level += delta
        peak = max(peak, level)
    return peak


class CpuDevice(Device):
    """torch eager on the host CPU; threads explicit and recorded.

    `prepare(threads=N)` sets torch's thread count for the cell; `cleanup()` puts back the count
    that was in effect before the first `prepare` since the last cleanup.
    """

    name = "cpu"
    title = "CPU"
    # a class default rather than __init__ state, so subclasses need not call super().__init__()
    _threads_before: int | None = None

    @classmethod
    def provenance(cls, fp: dict[str, Any], arch: str | None = None, machine: str | None = None) -> TargetText:
        """'CPU: torch eager on <cpu> (<arch>)'."""
        arch = arch or str(fp.get("arch") or "unknown")
        hardware = fingerprint_text(fp, "cpu_model", "cpu")
        return TargetText(title=f"CPU: torch eager on {hardware or machine or cls.label(fp)} ({arch})",
                          hardware=hardware, is_arm=is_arm_arch(arch), folder_arch=arch)

    def available(self) -> tuple[bool, str]:
        """Always available."""
        return True, ""

    def fingerprint(self, threads: int | None = None) -> dict[str, Any]:
        """Host facts plus torch's CPU backend settings and the thread count (reads only)."""
        fp = host_fingerprint()
        fp.update(device="cpu", backend="torch eager", threads=threads or torch.get_num_threads(),
                  interop_threads=torch.get_num_interop_threads(),
                  mkldnn_enabled=bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled))
        return fp

    def prepare(self, model: nn.Module, example: torch.Tensor, *, dtype: str = "fp32", layout: str = "nchw",
                threads: int | None = None, compile: bool = False) -> Prepared:
        """Convert dtype/layout, set threads (until cleanup), optionally torch.compile (compiled once here,
        untimed)."""
        tdtype, fmt = check_dtype_layout(dtype, layout)
        if threads is not None and threads < 1:
            raise UnsupportedCell(f"threads must be >= 1, got {threads}")
        if threads is not None and self._threads_before is None:
            self._threads_before = torch.get_num_threads()
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

    def peak_memory(self, run) -> dict[str, Any]:
        """Allocator peak of one call (`allocator_peak_bytes`), in MB (2^20 bytes), with the method."""
        return {"peak_mem_mb": round(allocator_peak_bytes(run) / 2**20, 3), "peak_mem_method": PEAK_MEM_METHOD}

    def cleanup(self) -> None:
        """Restore the thread count that was in effect before this cell's prepare."""
        if self._threads_before is not None:
            torch.set_num_threads(self._threads_before)
            self._threads_before = None

    def ceiling_kernels(self, threads: int, dtype: str, **sizes: Any) -> Iterator[CeilingKernel]:
        """torch GEMM, 3x3 conv, copy and triad on the host (`devices.ceiling_kernels.torch_kernels`) at
        `threads` intra-op threads; torch's thread count is put back when the iterator closes."""
        from devices.base import DTYPES

        before = torch.get_num_threads()
        try:
            torch.set_num_threads(threads)
            yield from torch_kernels(torch.device("cpu"), DTYPES[dtype], **sizes)
        finally:
            torch.set_num_threads(before)

    def ceilings_method(self) -> str:
        """How the host's ceilings are measured."""
        return ("torch on the host CPU: 2048^3 GEMM and 3x3 256-channel conv at 56x56 batch 4 (peak: the better), "
                "256 MiB copy and triad (bandwidth: the better), best of 5 calls (perf_counter)")

    def nominal_peak(self, threads: int, dtype: str) -> tuple[float | None, str]:
        """The host CPU's ISA peak at `threads` cores (`devices.nominal_peak`)."""
        return nominal_peak(threads, dtype)
