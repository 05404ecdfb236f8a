"""Machine ceilings of a device: peak FLOP/s and memory bandwidth, measured on its own runtime.

Each device supplies its blocks of known work (`Device.ceiling_kernels`, `devices.ceiling_kernels`):
- cpu: torch on the host: a 2048^3 GEMM, a 3x3 256 -> 256 conv at 56 x 56 batch 4, a 256 MiB copy
  (2 x size bytes) and triad (a = b + 3 c, 3 x size bytes; write-allocate traffic not counted, as
  STREAM does);
- cuda: the same kernels in torch on the GPU (larger), timed with CUDA events after a synchronize;
- mobile: ExecuTorch XNNPACK programs on the host runtime (`devices.mobile_ceilings`): a GEMM, a
  dense 3x3 conv and a 256 MiB elementwise add, exported once and cached on disk.
Each is timed with the device's timer, best of `reps` calls after one untimed, at the thread count
and dtype in use. Peak FLOP/s is the best FLOP figure; bandwidth the best byte figure.

Nominal peak (`Device.nominal_peak`; for the host CPU `devices.nominal_peak`): FMA lanes x 2 x FMA
units x cores x max clock; the ratio measured / nominal is printed.
"""
from __future__ import annotations

import time
from contextlib import closing
from dataclasses import asdict, dataclass
from typing import Any

from devices.ceiling_kernels import CONV_SHAPE, GEMM_N, STREAM_ELEMENTS  # noqa: F401 - the published sizes
from devices.nominal_peak import nominal_peak  # noqa: F401 - re-exported: callers read it here

FIGURES = ("gemm_gflops", "conv_gflops", "copy_gbs", "triad_gbs", "add_gbs")


@dataclass
class Ceilings:
    """Measured ceilings (GFLOP/s, GB/s = 1e9 bytes/s; None where the target has no such kernel) and
    the nominal peak where known."""

    gemm_gflops: float | None
    conv_gflops: float | None
    copy_gbs: float | None
    triad_gbs: float | None
    threads: int
    dtype: str
    measured_s: float
    nominal_gflops: float | None = None
    nominal_basis: str = ""
    add_gbs: float | None = None  # an elementwise add, 3 x size bytes (mobile: XNNPACK has no triad)
    target: str = "cpu"
    method: str = ""  # how they were measured (`Device.ceilings_method`)

    @property
    def peak_gflops(self) -> float:
        """The best FLOP/s figure (GEMM or conv)."""
        return max(v for v in (self.gemm_gflops, self.conv_gflops) if v is not None)

    @property
    def bandwidth_gbs(self) -> float:
        """The best bandwidth figure (copy, triad or add)."""
        return max(v for v in (self.copy_gbs, self.triad_gbs, self.add_gbs) if v is not None)

    @property
    def nominal_ratio(self) -> float | None:
        """Measured peak / nominal peak (None when the nominal peak is unknown)."""
        return self.peak_gflops / self.nominal_gflops if self.nominal_gflops else None

    def to_dict(self) -> dict[str, Any]:
        """Fields plus the derived peak, bandwidth and ratio."""
        return {**asdict(self), "peak_gflops": self.peak_gflops, "bandwidth_gbs": self.bandwidth_gbs,
                "nominal_ratio": self.nominal_ratio}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Ceilings":
        """Inverse of `to_dict` (derived keys ignored; entries stored before `add_gbs` read as cpu)."""
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _best_s(timer, fn, reps: int) -> float:
    timer(fn)  # untimed: first-call packing, allocation, autotuning
    return min(timer(fn) for _ in range(reps)) / 1e3


def measure_ceilings(threads: int | None = None, dtype: str = "fp32", *, device=None, reps: int = 5,
                     **sizes: Any) -> Ceilings:
    """Measure `device`'s ceilings (default: the cpu device) at `threads` (default: the device's
    current count) and `dtype`. `sizes` go to the device's kernels (tests use small ones).

    BenchError when the dtype is unknown or the target measures no ceilings (e.g. a phone over adb).
    """
    from bench.errors import BenchError
    from devices.base import DTYPES

    if device is None:
        from devices.cpu import CpuDevice

        device = CpuDevice()
    if dtype not in DTYPES:
        raise BenchError(f"unknown dtype '{dtype}'; choose from {', '.join(DTYPES)}")
    from devices.base import UnsupportedCell

    used = threads or device.default_threads()
    try:
        kernels = device.ceiling_kernels(used, dtype, **sizes)
    except UnsupportedCell as exc:
        raise BenchError(f"no ceilings for {device.display_title()} at {dtype}: {exc}") from None
    if kernels is None:
        raise BenchError(f"no ceilings for {device.display_title()} here: {device.ceilings_method()}")
    timer = device.timer()
    start = time.perf_counter()
    figures: dict[str, float] = {}
    with closing(iter(kernels)) as it:  # closing restores what the kernels changed (thread pools)
        for k in it:
            figures[k.figure] = k.work / _best_s(timer, k.run, reps) / 1e9
            del k  # released before the next kernel is built and before closing resizes a thread pool
    unknown = set(figures) - set(FIGURES)
    if unknown or not any(f.endswith("gflops") for f in figures) or not any(f.endswith("gbs") for f in figures):
        raise BenchError(f"{device.name}'s ceiling kernels gave {sorted(figures)}: need a FLOP and a byte figure "
                         f"among {', '.join(FIGURES)}")
    nominal, basis = device.nominal_peak(used, dtype)
    return Ceilings(**{f: figures.get(f) for f in FIGURES}, threads=used, dtype=dtype,
                    measured_s=round(time.perf_counter() - start, 2), nominal_gflops=nominal, nominal_basis=basis,
                    target=device.name, method=device.ceilings_method())


def ceilings_for(store, device, threads: int | None = None, dtype: str = "fp32", *, remeasure: bool = False,
                 **sizes: Any) -> tuple[Ceilings, bool]:
    """(ceilings of `device` at `threads`/`dtype`, whether they came from the cache in `store`).

    Cached per machine (`storage.ceiling_key`): measured when absent or when `remeasure`, then stored.
    `sizes` go to `measure_ceilings` (tests use small ones).
    """
    from bench.profiling import storage
    from devices.registry import machine_label

    used = threads or device.default_threads()
    fp = device.fingerprint(threads=used)
    key = storage.ceiling_key(device.name, fp, used, dtype)
    if not remeasure:
        hit = storage.cached_ceilings(store, key)
        if hit is not None:
            return Ceilings.from_dict(hit), True
    figures = measure_ceilings(used, dtype, device=device, **sizes)
    storage.save_ceilings(store, key, device.name, machine_label(device.name, fp), figures.to_dict())
    return figures, False
