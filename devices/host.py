"""Host facts: the CPU, memory, OS and software of this machine, shared by every device's fingerprint.

Collected with psutil, platform and torch. Fields that cannot be read (frequency governor in a
container) are None rather than guessed. Device-specific fields (GPU, phone) belong to the
device modules.
"""
from __future__ import annotations

import platform
import re
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
ARM_MACHINES = ("aarch64", "arm64", "armv7l", "armv8l")


def _read_text(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


@lru_cache(maxsize=1)
def cpu_model_name() -> str:
    """Human CPU model name ('AMD EPYC 7763 ...'), from /proc/cpuinfo where available."""
    info = _read_text("/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", info, re.MULTILINE)
        if m:
            return m.group(1).strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def is_arm(machine: str | None = None) -> bool:
    """True when `machine` (default: this host's platform.machine()) is an ARM architecture."""
    return (machine or platform.machine()).lower() in ARM_MACHINES


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The project's current git commit (with '-dirty' if the tree has changes), or None."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def onednn_version() -> str | None:
    """oneDNN (MKL-DNN) version torch was built with, parsed from torch's build config."""
    import torch

    m = re.search(r"MKL-DNN v([\w.]+)", torch.__config__.show())
    return m.group(1) if m else None


def _cpu_frequency_mhz() -> dict[str, float | None]:
    import psutil

    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, FileNotFoundError):
        freq = None
    if freq is None:
        return {"cpu_freq_mhz": None, "cpu_freq_max_mhz": None}
    return {"cpu_freq_mhz": round(freq.current, 1) or None, "cpu_freq_max_mhz": round(freq.max, 1) or None}


def host_fingerprint() -> dict[str, Any]:
    """CPU, memory, OS, Python and torch facts of this host (no device-specific fields)."""
    import psutil
    import torch

    from devices.allocator import malloc_state

    fp: dict[str, Any] = {
        "cpu_model": cpu_model_name(),
        "arch": platform.machine(),
        "cores_physical": psutil.cpu_count(logical=False),
        "cores_logical": psutil.cpu_count(logical=True),
        "cpu_governor": _read_text("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onednn": onednn_version(),
        "git_commit": git_commit(),
        "malloc": malloc_state(),
    }
    fp.update(_cpu_frequency_mhz())
    return fp


def is_arm_arch(arch: str | None) -> bool:
    """True when a recorded architecture string names ARM (never consults this host; None -> False)."""
    return bool(arch) and str(arch).lower() in ARM_MACHINES
