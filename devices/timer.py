"""What a device's timer is: a callable that runs `fn` once and returns its latency in ms.

Lives beside the devices (which supply timers) so that `devices` need not import `bench`;
`bench.timing` re-exports both names.
"""
from __future__ import annotations

import time
from typing import Any, Callable

Timer = Callable[[Callable[[], Any]], float]


def perf_counter_timer(fn: Callable[[], Any]) -> float:
    """Run `fn` once and return its wall time in ms (time.perf_counter_ns, host clock)."""
    t0 = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t0) / 1e6
