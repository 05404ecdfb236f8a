"""Resident-set high-water mark of this process around one call (Linux), for targets whose runtime
allocates outside torch's allocator (the ExecuTorch runtime and XNNPACK).

Writing "5" to /proc/self/clear_refs resets the kernel's VmHWM to the current RSS (Linux >= 4.0;
no privileges needed for one's own process), so VmHWM after the call minus VmRSS before it is
the most memory the call added at any moment, in pages actually touched.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def rss_high_water_delta(fn: Callable[[], Any]) -> tuple[int | None, str]:
    """(bytes the RSS rose above its level before `fn` at its highest during `fn`, "") or (None, why)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_kb("VmRSS")
    except OSError as exc:
        return None, f"RSS high-water mark not resettable here ({type(exc).__name__}: {exc})"
    result = fn()
    del result
    return max(0, _status_kb("VmHWM") - before) * 1024, ""
