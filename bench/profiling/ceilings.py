"""Machine ceilings on the CPU: peak FLOP/s and memory bandwidth, measured, and the nominal ISA peak.

Measured at the thread count and dtype in use, best of `reps` timed calls after one untimed:
- GEMM: an n x n x n matmul, 2 n^3 FLOPs;
- dense conv: a 3x3 conv, 256 -> 256 channels at 56 x 56, batch 4 (2 x MACs FLOPs);
- copy: dst.copy_(src), 2 x size bytes; triad: a = b + s * c, 3 x size bytes (write-allocate
  traffic not counted, as STREAM does). Arrays are 256 MiB, beyond any last-level cache here.
Peak FLOP/s is the better of GEMM and conv; bandwidth the better of copy and triad.

Nominal peak (`nominal_peak`): FMA lanes of the widest ISA in /proc/cpuinfo flags (AVX-512: 16
fp32 lanes, AVX2+FMA: 8) x 2 FLOPs per FMA x 2 FMA units per core (an assumption: some parts have
one AVX-512 unit) x cores in use x the maximum clock. bf16 with avx512_bf16 doubles the lanes;
AMX (amx_bf16) is 1024 bf16 FLOPs per cycle per core. A ratio measured / nominal is printed.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

GEMM_N = 2048
CONV_SHAPE = (4, 256, 56, 56)  # N, C, H, W; 3x3, C -> C channels, padding 1
STREAM_ELEMENTS = 2**26
FMA_UNITS_ASSUMED = 2


@dataclass
class Ceilings:
    """Measured ceilings (GFLOP/s, GB/s = 1e9 bytes/s) and the nominal peak where known."""

    gemm_gflops: float
    conv_gflops: float
    copy_gbs: float
    triad_gbs: float
    threads: int
    dtype: str
    measured_s: float
    nominal_gflops: float | None = None
    nominal_basis: str = ""

    @property
    def peak_gflops(self) -> float:
        """The better of the GEMM and conv figures."""
        return max(self.gemm_gflops, self.conv_gflops)

    @property
    def bandwidth_gbs(self) -> float:
        """The better of the copy and triad figures."""
        return max(self.copy_gbs, self.triad_gbs)

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
        """Inverse of `to_dict` (derived keys ignored)."""
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _best_s(fn: Callable[[], Any], reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_ceilings(threads: int | None = None, dtype: str = "fp32", *, gemm_n: int = GEMM_N,
                     conv_shape: tuple[int, int, int, int] = CONV_SHAPE, stream_elements: int = STREAM_ELEMENTS,
                     reps: int = 5) -> Ceilings:
    """Measure peak FLOP/s and bandwidth on this CPU (threads set for the call, then restored).

    The size arguments exist for tests; the defaults are the published figures' sizes.
    """
    import torch
    import torch.nn.functional as F

    from devices.base import DTYPES

    if dtype not in DTYPES:
        from bench.errors import BenchError
        raise BenchError(f"unknown dtype '{dtype}'; choose from {', '.join(DTYPES)}")
    tdtype = DTYPES[dtype]
    before = torch.get_num_threads()
    start = time.perf_counter()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        used = torch.get_num_threads()
        with torch.inference_mode():
            a = torch.randn(gemm_n, gemm_n).to(tdtype)
            b = torch.randn(gemm_n, gemm_n).to(tdtype)
            gemm = 2 * gemm_n**3 / _best_s(lambda: torch.mm(a, b), reps) / 1e9
            del a, b
            n, c, h, w = conv_shape
            x = torch.randn(n, c, h, w).to(tdtype)
            k = torch.randn(c, c, 3, 3).to(tdtype)
            conv = 2 * n * c * c * 9 * h * w / _best_s(lambda: F.conv2d(x, k, padding=1), reps) / 1e9
            del x, k
            src = torch.ones(stream_elements, dtype=tdtype)
            dst = torch.empty_like(src)
            size = src.numel() * src.element_size()
            copy = 2 * size / _best_s(lambda: dst.copy_(src), reps) / 1e9
            other = torch.ones_like(src)
            triad = 3 * size / _best_s(lambda: torch.add(src, other, alpha=3.0, out=dst), reps) / 1e9
            del src, dst, other
    finally:
        torch.set_num_threads(before)
    nominal, basis = nominal_peak(used, dtype)
    return Ceilings(gemm_gflops=gemm, conv_gflops=conv, copy_gbs=copy, triad_gbs=triad, threads=used, dtype=dtype,
                    measured_s=round(time.perf_counter() - start, 2), nominal_gflops=nominal, nominal_basis=basis)


def _cpu_flags(cpuinfo: str) -> set[str]:
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return set()


def _max_clock_ghz(cpuinfo: str) -> float | None:
    try:
        return int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1e6
    except (OSError, ValueError):
        pass
    for line in cpuinfo.splitlines():  # a VM often hides cpufreq: the current clock is the best figure left
        if line.startswith("cpu MHz"):
            return float(line.partition(":")[2]) / 1e3
    return None


def nominal_peak(cores: int, dtype: str = "fp32", cpuinfo: str | None = None) -> tuple[float | None, str]:
    """(nominal GFLOP/s, how it was derived) for `cores` cores from /proc/cpuinfo; (None, why) when the
    ISA or clock cannot be read (e.g. not x86 Linux)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None, "no /proc/cpuinfo"
    flags, ghz = _cpu_flags(cpuinfo), _max_clock_ghz(cpuinfo)
    if ghz is None:
        return None, "clock unknown"
    if dtype == "bf16" and "amx_bf16" in flags:
        per_cycle, isa = 1024, "AMX bf16 (1024 FLOP/cycle/core)"
    else:
        if "avx512f" in flags:
            lanes, isa = 16, "AVX-512"
        elif "avx2" in flags and "fma" in flags:
            lanes, isa = 8, "AVX2+FMA"
        else:
            return None, "no AVX2/AVX-512 FMA flags"
        if dtype == "bf16" and "avx512_bf16" in flags:
            lanes, isa = lanes * 2, isa + " bf16"
        elif dtype != "fp32":
            return None, f"no nominal figure for {dtype} on {isa}"
        per_cycle = lanes * 2 * FMA_UNITS_ASSUMED
        isa = f"{isa} ({lanes} lanes x 2 FLOP/FMA x {FMA_UNITS_ASSUMED} FMA units assumed)"
    return per_cycle * cores * ghz, f"{isa} x {cores} cores x {ghz:.2f} GHz"


def ceilings_for(store, device, threads: int | None = None, dtype: str = "fp32", *, remeasure: bool = False,
                 **sizes: Any) -> tuple[Ceilings, bool]:
    """(ceilings of `device` at `threads`/`dtype`, whether they came from the cache in `store`).

    Cached per machine (`storage.ceiling_key`): measured when absent or when `remeasure`, then stored.
    `sizes` go to `measure_ceilings` (tests use small ones).
    """
    import torch

    from bench.profiling import storage
    from devices.registry import machine_label

    used = threads or torch.get_num_threads()
    fp = device.fingerprint(threads=used)
    key = storage.ceiling_key(device.name, fp, used, dtype)
    if not remeasure:
        hit = storage.cached_ceilings(store, key)
        if hit is not None:
            return Ceilings.from_dict(hit), True
    figures = measure_ceilings(used, dtype, **sizes)
    storage.save_ceilings(store, key, device.name, machine_label(device.name, fp), figures.to_dict())
    return figures, False
