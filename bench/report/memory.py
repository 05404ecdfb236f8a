"""Peak memory of a result row, read from its `extra` (where `bench run` stores it per target).

The figure is `peak_mem_mb` (MiB, 2^20 bytes) whatever the target; how it was measured is in
`peak_mem_method` beside it (CPU: allocator peak; CUDA: max_memory_allocated; mobile: the .pte's
memory-planned buffers), see docs/profiling.md.
"""
from __future__ import annotations

import json
import math
from typing import Any


def row_extra(row: Any) -> dict[str, Any]:
    """A result row's `extra` as a dict ({} when absent or unreadable)."""
    value = row.get("extra") if hasattr(row, "get") else None
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def peak_mem_mib(row: Any) -> float | None:
    """The row's peak memory in MiB, or None when it was not measured."""
    value = row_extra(row).get("peak_mem_mb")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)
