"""How busy the machine was while a run or a cell was measured, and when two sides differ too much.

A CPU hog during one side of a comparison shows up as a slowdown of everything on that
side (a +370 % "regression" was reported under matching fingerprints). The fingerprint
cannot see it: the hardware is the same. So each run records the 1-minute load average at
its start (in its fingerprint, as a jitter field) and each cell the load average at its
start and the measuring process's CPU share while it was measured, warm-up included (CPU
seconds per wall second: about 1.0 for one busy thread that always had a core, lower when
it waited for one, above 1 with several intra-op threads). `bench compare` warns when the two sides differ materially (`load_warning`).

Both readings are cheap (`os.getloadavg`, `time.process_time`) and None where the OS has no
load average.
"""
from __future__ import annotations

import os
import time
from statistics import median
from typing import Any, Iterable

# Warn when the 1-minute load average per logical core differs by more than this between the
# sides: a quarter of the machine busy on one side and not on the other (0.5 on 2 cores, 2 on 8).
LOAD_PER_CORE_DIFF = 0.25
# ... or when the measuring process's CPU share differs by more than this fraction of the larger one.
CPU_SHARE_REL_DIFF = 0.10
# Process CPU time is accounted at scheduler-tick granularity on many kernels, so over a short
# window the share is noise (a 10 ms cell read 5.8 CPU-s per wall-s on a 2-core box): no reading
# below this window.
MIN_SHARE_WINDOW_S = 0.2
LOAD_RULE = (f"1-min load average per logical core differs by more than {LOAD_PER_CORE_DIFF:g}, or the "
             f"process's CPU share by more than {CPU_SHARE_REL_DIFF:.0%}")


def load_average_1m() -> float | None:
    """The 1-minute load average (runnable + waiting processes), or None where unavailable."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def run_load_fields() -> dict[str, Any]:
    """What a run records about the machine's load at its start (merged into its fingerprint)."""
    return {"load_avg_1m": load_average_1m()}


class CellLoad:
    """Context manager around one cell's measurement: load average at the start, CPU share during it."""

    def __enter__(self) -> "CellLoad":
        self.load_avg_1m = load_average_1m()
        self._cpu0, self._wall0 = time.process_time(), time.perf_counter()
        self.cpu_share: float | None = None
        return self

    def __exit__(self, *exc: Any) -> None:
        wall = time.perf_counter() - self._wall0
        if wall >= MIN_SHARE_WINDOW_S:
            self.cpu_share = round((time.process_time() - self._cpu0) / wall, 3)

    def fields(self) -> dict[str, Any]:
        """The readings as result fields (stored in the result's `extra`)."""
        return {"load_avg_1m": self.load_avg_1m, "cpu_share": self.cpu_share}


def _median(values: Iterable[float | None]) -> float | None:
    xs = [float(v) for v in values if v is not None]
    return median(xs) if xs else None


def load_warning(base_loads: Iterable[float | None], new_loads: Iterable[float | None],
                 base_shares: Iterable[float | None], new_shares: Iterable[float | None],
                 cores: int | None) -> str | None:
    """One line when the two sides ran under materially different load (`LOAD_RULE`), else None.

    Loads are compared as medians over the side's readings, per logical core (`cores`,
    1 when unknown); sides without readings (older runs) are not judged.
    """
    n = max(1, int(cores or 1))
    lb, ln = _median(base_loads), _median(new_loads)
    sb, sn = _median(base_shares), _median(new_shares)
    reasons = []
    if lb is not None and ln is not None and abs(ln - lb) / n > LOAD_PER_CORE_DIFF:
        reasons.append(f"1-min load average {lb:.2f} (BASE) vs {ln:.2f} (NEW) on {n} logical core(s)")
    if sb is not None and sn is not None and max(sb, sn) > 0 and abs(sn - sb) / max(sb, sn) > CPU_SHARE_REL_DIFF:
        reasons.append(f"process CPU share {sb:.2f} (BASE) vs {sn:.2f} (NEW)")
    if not reasons:
        return None
    return ("WARNING: the sides ran under different load (" + "; ".join(reasons) + f"; rule: {LOAD_RULE}): "
            "latency differences may be the machine's, not the code's")
