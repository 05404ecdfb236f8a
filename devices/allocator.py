"""Pinning glibc malloc's thresholds: an experiment's tool, not applied by bench (measured: no effect).

glibc moves two thresholds as a process runs: freeing a large mmap'ed block raises the mmap
threshold (up to 32 MiB) and with it the heap trim threshold, so where a mid-sized activation
comes from can depend on what the process allocated before. A first experiment on this project's
VM read a C128 H16 batch-1 HetConv P4 layer at 0.397 ms in a fresh process and 0.514 ms after the
process had run batch-32 layers, and not with the thresholds pinned. It did not reproduce:
`benchmarks/allocator_history.py --rounds 8` (fresh processes, interleaved, quiet VM) gave
after/fresh medians of 0.97-0.99 with glibc's defaults and 1.01-1.02 pinned, each process
anywhere in 0.65-1.59, i.e. this VM's second-scale speed changes, not the allocator. So bench
does not pin; `pin_malloc()` stays for that benchmark, and the host fingerprint records the
state (`malloc`: "unpinned: pin_malloc() not called" in bench's processes).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

MMAP_THRESHOLD = 32 << 20  # glibc's own upper bound for the dynamic threshold: blocks below it come from the heap
TRIM_THRESHOLD = 1 << 30  # never give heap memory back mid-run (a trimmed heap re-faults its pages)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)
ENV = "ZOOBENCH_MALLOC"

_state = "unpinned: pin_malloc() not called"


def pin_malloc() -> str:
    """Fix glibc's mmap and trim thresholds for this process (idempotent); returns what was done."""
    global _state
    if os.environ.get(ENV, "").strip().lower() == "default":
        _state = f"glibc defaults ({ENV}=default)"
        return _state
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        _state = "unpinned: no mallopt in this libc"
        return _state
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    _state = (f"pinned: mmap_threshold={MMAP_THRESHOLD >> 20}MiB trim_threshold={TRIM_THRESHOLD >> 20}MiB" if ok
              else "unpinned: mallopt refused the thresholds")
    return _state


def malloc_state() -> str:
    """What `pin_malloc` did in this process (for the fingerprint)."""
    return _state
