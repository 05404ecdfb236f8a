"""Pinning glibc malloc's thresholds, so a measuring process's allocator does not depend on its history.

glibc moves two thresholds as a process runs: freeing a large mmap'ed block raises the mmap
threshold (up to 32 MiB) and with it the heap trim threshold. Which path a 128 KiB activation
then takes (fresh mmap pages, heap, trimmed-and-regrown heap) depends on what the process
allocated before. Measured here (docs/contention.md, "Process state: the allocator"): a C128 H16 batch-1 HetConv P4
layer took 0.397 ms in a fresh process and 0.514 ms after the same process had run batch-32
layers (+30 %; DWC+PWC +37 %), while with both thresholds pinned it took 0.372 and 0.380 ms.
So a sweep's numbers depended on the order of its cases; pinning makes them not.

`pin_malloc()` is called once at the start of every `bench` command (`bench.cli.main`) and its outcome
is recorded in the host fingerprint (`malloc`). ZOOBENCH_MALLOC=default leaves glibc alone (to
reproduce old behaviour). On a libc without `mallopt` (macOS, musl) nothing is pinned and the
fingerprint says so.
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
