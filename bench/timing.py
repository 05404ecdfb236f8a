"""The timing core: warm up until steady, then sample until the median is precise.

Protocol (DESIGN.md, "Timing core"):

1. Warm-up is not a fixed count. CPU eager oneDNN, cuDNN autotuning and XNNPACK's first
   calls are several times slower than the steady state, for a model-dependent number of
   calls. We call the model until the median of the last `warmup_window` calls is no longer
   faster than the median of the window before (within `warmup_tol`), capped by
   `warmup_cap` calls and `warmup_max_time_s` seconds. The count and the times are kept.
2. Sampling stops as soon as both bounds of the 95 % distribution-free CI of the median lie
   within `ci_target` of the median, or when `max_time_s` of sampling or `max_iters`
   samples is reached. `min_samples` is a floor for every rule but `max_iters`: a model
   slower than the time cap still gets that many samples. The reason is recorded.

A timer is any callable that runs `fn` once and returns its latency in milliseconds; the
device supplies it (perf_counter_ns on CPU, CUDA events on GPU). `clock` is only used for the
time caps and can be faked in tests, as can the timer.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Callable, Sequence

from bench.stats import LatencyStats, median_ci, summarize
from devices.timer import Timer, perf_counter_timer  # noqa: F401 - defined beside the devices that supply timers

Clock = Callable[[], float]

STOP_CI = "ci_target"
STOP_TIME = "max_time"
STOP_ITERS = "max_iters"


@dataclass
class Measurement:
    """Raw result of timing one callable."""

    samples_ms: list[float]
    warmup_ms: list[float]
    stop_reason: str
    warmup_steady: bool  # False when warm-up ended on its cap rather than by settling
    elapsed_s: float  # sampling phase only
    ci_target: float
    confidence: float = 0.95
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def warmup_iters(self) -> int:
        """Number of warm-up calls made before sampling."""
        return len(self.warmup_ms)

    @property
    def stats(self) -> LatencyStats:
        """Summary statistics of the samples."""
        return summarize(self.samples_ms, self.confidence)


class SteadyDetector:
    """Decides when warm-up is over: the latest window is no faster than the one before."""

    def __init__(self, window: int = 3, tol: float = 0.05) -> None:
        if window < 1:
            raise ValueError("warm-up window must be >= 1")
        self.window, self.tol = window, tol
        self.times: list[float] = []

    def add(self, ms: float) -> bool:
        """Record one warm-up latency; True once the model is steady."""
        self.times.append(ms)
        w = self.window
        if len(self.times) < 2 * w:
            return False
        recent, before = median(self.times[-w:]), median(self.times[-2 * w:-w])
        return recent >= (1.0 - self.tol) * before


def ci_within(samples: Sequence[float], ci_target: float, confidence: float = 0.95) -> bool:
    """True when both CI bounds of the median lie within `ci_target` (relative) of the median."""
    med = median(samples)
    if med <= 0:
        return False
    lo, hi = median_ci(samples, confidence)
    return max(med - lo, hi - med) <= ci_target * med


def _next_check(n: int) -> int:
    # Re-checking the CI every sample costs a sort per call; every ~5 % more samples is enough.
    return n + max(1, n // 20)


def round_order(n: int, round_index: int) -> list[int]:
    """Call order of `n` callables in one interleaved round: rotated by one position per round.

    A callable that always goes first runs on a machine state the others never see (caches
    and branch predictors left by the previous round's last call, a frequency step at the
    round boundary): the HetConv claim study measured the same dense conv 7-9 % faster when
    it always led. Rotating gives every callable every position equally often (with two:
    A B, B A, A B, ... i.e. ABBA), deterministically, so a rerun repeats the same schedule.
    """
    shift = round_index % n if n else 0
    return list(range(shift, n)) + list(range(shift))


def measure(fn: Callable[[], Any], *, max_time_s: float = 5.0, warmup_max_time_s: float = 5.0,
            **kwargs: Any) -> Measurement:
    """Warm `fn` up until steady, then sample it until the median is precise or a cap is hit.

    `max_time_s` bounds the sampling phase (once `min_samples` are taken) and
    `warmup_max_time_s` the warm-up; both are checked between calls, so a single call longer
    than the cap still completes. The loop is `measure_interleaved`'s with one callable; the
    other keyword arguments (timer, ci_target, confidence, max_iters, min_samples, warmup_cap,
    warmup_window, warmup_tol, clock) are the same.
    """
    (m,) = measure_interleaved([fn], max_time_s=max_time_s, warmup_max_time_s=warmup_max_time_s, **kwargs)
    return m


def measure_interleaved(
    fns: Sequence[Callable[[], Any]],
    *,
    timer: Timer = perf_counter_timer,
    ci_target: float = 0.01,
    confidence: float = 0.95,
    max_time_s: float = 10.0,
    max_iters: int = 2000,
    min_samples: int = 20,
    warmup_cap: int = 100,
    warmup_max_time_s: float = 10.0,
    warmup_window: int = 3,
    warmup_tol: float = 0.05,
    clock: Clock = time.perf_counter,
    min_time_s: float = 0.0,
) -> list[Measurement]:
    """Time several callables in rounds, each callable once per round, so that drift hits all alike.

    The order within a round rotates (`round_order`: A B C, B C A, C A B, ...), so no callable
    is always first. Warm-up runs in rounds too, until every callable is steady (or
    `warmup_cap` rounds or `warmup_max_time_s`). Sampling runs in rounds until every
    callable's median CI is within `ci_target`, or `max_time_s` (for all of them together,
    once `min_samples` rounds are done) or `max_iters` rounds. `min_time_s` keeps the CI rule
    from stopping sampling before that many seconds (a group that should span several machine
    states, see bench.quiet_rounds); `max_time_s` and `max_iters` still cap it. Returns one
    Measurement per callable, in the order given. With one callable this is `measure`.
    """
    if not fns:
        return []
    if min_samples < 1 or max_iters < min_samples:
        raise ValueError(f"need 1 <= min_samples <= max_iters, got {min_samples}, {max_iters}")
    n_fns = len(fns)
    detectors = [SteadyDetector(warmup_window, warmup_tol) for _ in fns]
    steady = [False] * n_fns
    start = clock()
    rounds = 0
    while not all(steady) and rounds < warmup_cap and clock() - start < warmup_max_time_s:
        for i in round_order(n_fns, rounds):
            steady[i] = detectors[i].add(timer(fns[i])) or steady[i]
        rounds += 1
    samples: list[list[float]] = [[] for _ in fns]
    start = clock()
    check_at = min_samples
    reason = STOP_ITERS
    while len(samples[0]) < max_iters:
        for i in round_order(n_fns, len(samples[0])):
            samples[i].append(timer(fns[i]))
        n = len(samples[0])
        if n >= check_at and clock() - start >= min_time_s:
            if all(ci_within(s, ci_target, confidence) for s in samples):
                reason = STOP_CI
                break
            check_at = _next_check(n)
        if n >= min_samples and clock() - start >= max_time_s:
            reason = STOP_TIME if n < max_iters else STOP_ITERS
            break
    elapsed = clock() - start
    return [Measurement(samples_ms=s, warmup_ms=d.times, stop_reason=reason, warmup_steady=st, elapsed_s=elapsed,
                        ci_target=ci_target, confidence=confidence)
            for s, d, st in zip(samples, detectors, steady)]
