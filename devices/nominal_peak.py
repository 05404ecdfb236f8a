"""The nominal peak FLOP/s of the host CPU from its ISA flags and clock (/proc/cpuinfo).

FMA lanes of the widest ISA in the flags (AVX-512: 16 fp32 lanes, AVX2+FMA: 8) x 2 FLOPs per FMA
x 2 FMA units per core (an assumption: some parts have one AVX-512 unit) x cores in use x the
maximum clock. bf16 with avx512_bf16 doubles the lanes; AMX (amx_bf16) is 1024 bf16 FLOPs per
cycle per core. The targets that run on the host CPU (cpu, mobile on the host runtime) compare
their measured ceilings with it.
"""
from __future__ import annotations

from pathlib import Path

FMA_UNITS_ASSUMED = 2


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

