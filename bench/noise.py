"""The `noisy` flag: a measured cell whose sampling stopped on the time cap before its median's
confidence interval reached the target width.

Such a cell's p50 is a number, but not a precise one (seen on a busy machine: p50 123 ms with a
95 % CI of 60.8-1200 ms, where a quiet run measured 3.7 ms). It is derived from the stop reason
the store already keeps per cell, so old databases get the flag too. Displays mark it; reports
never use a noisy cell as a call-out or a labelled finding.
"""
from __future__ import annotations

from typing import Any

from bench.timing import STOP_TIME

NOISY_MARK = "noisy"


def is_noisy(status: Any, stop_reason: Any) -> bool:
    """True for a measured ('ok') cell that stopped on the time cap without reaching its CI target."""
    return status == "ok" and stop_reason == STOP_TIME
