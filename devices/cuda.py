"""CUDA target: CUDA events per iteration, cuDNN autotuning, fp16/bf16, optional CUDA-graph replay.

Not exercised by the test suite on CPU-only machines (tests skip with a reason); written to
be run on a GPU box, whose results are exported to JSON and merged (`bench export/import`).
"""
from __future__ import annotations

import argparse
import subprocess
import time
import warnings
from typing import Any, Iterator

import torch
import torch.nn as nn

from devices.base import Device, OptionAdder, Prepared, TargetText, UnsupportedCell, check_dtype_layout, fingerprint_text
from devices.ceiling_kernels import CeilingKernel, torch_kernels
from devices.host import host_fingerprint

# ceiling kernels on a GPU: large enough that one call takes milliseconds on a current part
CUDA_CEILING_SIZES: dict[str, Any] = dict(gemm_n=8192, conv_shape=(32, 256, 56, 56), stream_elements=2**28)


def _driver_version() -> str | None:
    """NVIDIA driver version via nvidia-smi (torch has no public API for it), or None."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def precision_settings() -> dict[str, Any]:
    """cuDNN benchmark and TF32 flags in effect (old and new torch spellings where they exist)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch >= 2.9 deprecates allow_tf32 in favour of fp32_precision
        settings: dict[str, Any] = {
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        }
        conv = getattr(torch.backends.cudnn, "conv", None)
        if conv is not None and hasattr(conv, "fp32_precision"):
            settings["cudnn_conv_fp32_precision"] = conv.fp32_precision
        if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
            settings["matmul_fp32_precision"] = torch.backends.cuda.matmul.fp32_precision
    return settings


CUDA_PEAK_METHOD = ("torch CUDA caching allocator: max_memory_allocated during one forward pass above what was "
                    "allocated before it (weights excluded); max_memory_reserved beside it as peak_mem_reserved_mb")


class CudaEventTimer:
    """Times one call with a pair of CUDA events, after draining the queue (synchronize)."""

    def __init__(self) -> None:
        self.start = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)

    def __call__(self, fn) -> float:
        torch.cuda.synchronize()
        self.start.record()
        fn()
        self.end.record()
        self.end.synchronize()
        return float(self.start.elapsed_time(self.end))


def _capture_graph(model: nn.Module, x: torch.Tensor):
    """Capture one forward pass in a CUDA graph; returns the replay callable."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    # warm-up on a side stream so cuDNN autotuning and lazy allocations happen before capture
    with torch.cuda.stream(side), torch.inference_mode():
        for _ in range(3):
            model(x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        static_out = model(x)
    return graph.replay, static_out


class CudaFlags:
    """Process-wide torch CUDA flags a cell needs, set for the cell and restored after it.

    `apply()` remembers the values in effect at the first call and sets the wanted ones;
    `restore()` puts the remembered values back. Only `torch.backends` attributes are touched,
    so this works (and is tested) without a GPU.
    """

    def __init__(self, cudnn_benchmark: bool = True) -> None:
        self.wanted = {"cudnn_benchmark": cudnn_benchmark}
        self._saved: dict[str, Any] | None = None

    def apply(self) -> None:
        """Set the wanted flags, remembering the current ones unless already remembered."""
        if self._saved is None:
            self._saved = {"cudnn_benchmark": torch.backends.cudnn.benchmark}
        torch.backends.cudnn.benchmark = self.wanted["cudnn_benchmark"]

    def restore(self) -> None:
        """Put back the flags in effect before `apply` (nothing when none are remembered)."""
        if self._saved is not None:
            torch.backends.cudnn.benchmark = self._saved["cudnn_benchmark"]
            self._saved = None


class CudaDevice(Device):
    """torch on one CUDA GPU. `cuda_graph=True` times graph replay instead of eager launches.

    `prepare` switches cuDNN autotuning on for the cell; `cleanup` restores the previous setting.
    """

    name = "cuda"
    title = "CUDA"
    extra_hetconv_impls = ("grouped_streams",)

    def __init__(self, cuda_graph: bool = False, index: int = 0) -> None:
        self.cuda_graph = cuda_graph
        self.index = index
        self.flags = CudaFlags(cudnn_benchmark=True)

    @classmethod
    def label(cls, fp: dict[str, Any]) -> str:
        """'<GPU> (CUDA <version>)'; the host CPU when the fingerprint names no GPU."""
        if fp.get("gpu_name"):
            return f"{fp['gpu_name']} (CUDA {fp.get('cuda_version') or '?'})"
        return super().label(fp)

    @classmethod
    def provenance(cls, fp: dict[str, Any], arch: str | None = None, machine: str | None = None) -> TargetText:
        """'CUDA: torch on <GPU>'; report folders are named by the GPU alone."""
        base = super().provenance(fp, arch, machine)
        gpu = fingerprint_text(fp, "gpu_name", "gpu")
        hardware = gpu or base.hardware
        return TargetText(title=f"CUDA: torch on {hardware or machine or cls.label(fp)}", hardware=hardware,
                          is_arm=base.is_arm, folder_arch=None)

    @classmethod
    def add_options(cls, parser: OptionAdder) -> None:
        """--cuda-graph."""
        parser.add_argument("--cuda-graph", action="store_true", help="cuda: time CUDA-graph replay instead of eager")

    @classmethod
    def from_options(cls, args: argparse.Namespace) -> CudaDevice:
        """CudaDevice(cuda_graph=--cuda-graph)."""
        return cls(cuda_graph=bool(args.cuda_graph))

    def recorded_options(self) -> dict[str, Any]:
        """{'cuda_graph': True} when graphs are replayed, else {}."""
        return {"cuda_graph": True} if self.cuda_graph else {}

    def available(self) -> tuple[bool, str]:
        """CUDA needs a visible device and a CUDA build of torch."""
        if not torch.cuda.is_available():
            built = torch.version.cuda or "none (CPU-only build)"
            return False, (f"CUDA is not available on this machine (torch.cuda.is_available() is False; "
                           f"torch {torch.__version__}, CUDA build {built})")
        return True, ""

    def fingerprint(self, threads: int | None = None) -> dict[str, Any]:
        """Host facts plus GPU name, capability, driver, CUDA/cuDNN versions and precision flags.

        Reads only. `cudnn_benchmark` records what `prepare` sets for every cell, not the
        process's current value, so the record matches the runs.
        """
        fp = host_fingerprint()
        props = torch.cuda.get_device_properties(self.index)
        fp.update(device="cuda", backend="torch eager" + (" + CUDA graph" if self.cuda_graph else ""),
                  gpu_name=props.name, gpu_capability=f"{props.major}.{props.minor}",
                  gpu_memory_gb=round(props.total_memory / 2**30, 1), gpu_count=torch.cuda.device_count(),
                  driver_version=_driver_version(), cuda_version=torch.version.cuda,
                  cudnn_version=torch.backends.cudnn.version(), cuda_graph=self.cuda_graph,
                  threads=threads or torch.get_num_threads())
        fp.update(precision_settings())
        fp["cudnn_benchmark"] = self.flags.wanted["cudnn_benchmark"]
        return fp

    def timer(self):
        """CUDA-event timer (device time of the call, queue drained first)."""
        return CudaEventTimer()

    def is_oom(self, exc: BaseException) -> bool:
        """torch.cuda.OutOfMemoryError or an allocator 'out of memory' message."""
        return isinstance(exc, torch.cuda.OutOfMemoryError) or super().is_oom(exc)

    def peak_memory(self, run) -> dict[str, Any]:
        """Peak of one call on this GPU: `max_memory_allocated` above the bytes allocated before it
        (`peak_mem_mb`: activations and workspaces, weights excluded) and `max_memory_reserved` (the
        caching allocator's whole pool, weights included: `peak_mem_reserved_mb`); MB = 2^20 bytes."""
        torch.cuda.synchronize(self.index)
        torch.cuda.reset_peak_memory_stats(self.index)
        before = torch.cuda.memory_allocated(self.index)
        out = run()
        torch.cuda.synchronize(self.index)
        del out
        allocated = torch.cuda.max_memory_allocated(self.index) - before
        reserved = torch.cuda.max_memory_reserved(self.index)
        return {"peak_mem_mb": round(allocated / 2**20, 3), "peak_mem_reserved_mb": round(reserved / 2**20, 3),
                "peak_mem_method": CUDA_PEAK_METHOD}

    def cleanup(self) -> None:
        """Restore the cuDNN flags and free cached blocks so one cell's OOM does not poison the next."""
        self.flags.restore()
        torch.cuda.empty_cache()

    def prepare(self, model: nn.Module, example: torch.Tensor, *, dtype: str = "fp32", layout: str = "nchw",
                threads: int | None = None, compile: bool = False) -> Prepared:
        """Move to the GPU in dtype/layout; optionally compile and/or capture a CUDA graph."""
        tdtype, fmt = check_dtype_layout(dtype, layout)
        if tdtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            raise UnsupportedCell("bf16 is not supported on this GPU")
        self.flags.apply()
        dev = torch.device("cuda", self.index)
        model = model.eval().to(device=dev, dtype=tdtype, memory_format=fmt)
        x = example.to(device=dev, dtype=tdtype).contiguous(memory_format=fmt)
        info: dict[str, Any] = {"cuda_graph": self.cuda_graph}
        if compile:
            model = torch.compile(model)
            t0 = time.perf_counter()
            with torch.inference_mode():
                model(x)
            torch.cuda.synchronize()
            info["compile_s"] = round(time.perf_counter() - t0, 3)
        if self.cuda_graph:
            try:
                replay, static_out = _capture_graph(model, x)
            except RuntimeError as exc:
                if self.is_oom(exc):
                    raise
                raise UnsupportedCell(f"CUDA graph capture failed: {str(exc).splitlines()[0]}") from None

            def run_graph() -> Any:
                replay()
                return static_out  # the graph writes into this buffer on every replay

            return Prepared(run=run_graph, info=info)

        def run() -> Any:
            with torch.inference_mode():
                return model(x)

        return Prepared(run=run, info=info)

    def ceiling_kernels(self, threads: int, dtype: str, **sizes: Any) -> Iterator[CeilingKernel]:
        """torch GEMM, 3x3 conv, copy and triad on this GPU (`devices.ceiling_kernels.torch_kernels`), sized
        for a GPU (`CUDA_CEILING_SIZES`, each call milliseconds long so launch cost does not count) and
        timed by `timer()` (CUDA events after a synchronize). cuDNN autotuning is on as in the cells."""
        from devices.base import DTYPES

        self.flags.apply()
        try:
            yield from torch_kernels(torch.device("cuda", self.index), DTYPES[dtype],
                                     **{**CUDA_CEILING_SIZES, **sizes})
        finally:
            self.flags.restore()
            torch.cuda.empty_cache()

    def ceilings_method(self) -> str:
        """How the GPU's ceilings are measured."""
        n, shape = CUDA_CEILING_SIZES["gemm_n"], CUDA_CEILING_SIZES["conv_shape"]
        mib = CUDA_CEILING_SIZES["stream_elements"] * 4 // 2**20
        return (f"torch on the GPU: {n}^3 GEMM and 3x3 {shape[1]}-channel conv at {shape[2]}x{shape[3]} batch "
                f"{shape[0]} (peak: the better), {mib} MiB (fp32) device copy and triad (bandwidth: the better), "
                "best of 5 calls timed with CUDA events; TF32 as the process has it (see the fingerprint)")
