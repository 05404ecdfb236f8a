"""Pinning glibc malloc's thresholds in every bench process (`bench.cli.main` calls `pin_malloc`).

glibc moves two thresholds as a process runs: freeing a large mmap'ed block raises the mmap
threshold (up to 32 MiB) and with it the heap trim threshold (2x), and a heap whose free top
exceeds the trim threshold is given back to the OS, so the next call re-faults those pages. At
batch 32 a layer's activations are megabytes: with glibc's defaults every forward paid for that.
Measured on this project's VM (`benchmarks/allocator_b32.py`, fresh processes, defaults and pinned
interleaved, 3 each, C64 H32 batch 32, 1 thread): standard 3x3 conv 31.8-37.8 ms default vs
23.0-25.1 ms pinned, HetConv P4 [grouped] 46.4-60.1 vs 17.3-19.7, DWC+PWC 20.4-27.5 vs 8.1-10.2:
the allocator, not the operator, decided whether HetConv beat the standard conv there. At batch 1
(sub-MiB activations) `benchmarks/allocator_history.py` found no effect of the process's history
(after/fresh 0.97-0.99 default, 1.01-1.02 pinned), which is why bench briefly stopped pinning
(6ef78b1, wrong for large activations; the claim study of a218b85 ran unpinned).

Pinned: mmap threshold 32 MiB (glibc's own maximum for the dynamic threshold) and trim threshold
1 GiB, so memory freed by one call is reused by the next. `ZOOBENCH_MALLOC=default` keeps glibc's
defaults (to measure them); the host fingerprint records the state (`malloc`).
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
