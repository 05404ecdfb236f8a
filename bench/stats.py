"""Summary statistics of latency samples: percentiles and a distribution-free CI of the median.

Latency distributions are skewed and often multi-modal (frequency steps, page faults, a
neighbour's job), so the suite reports the median and gives its 95 % confidence interval from
order statistics, which assumes nothing about the shape: the number of samples below the true
median is Binomial(n, 1/2), so a pair of order statistics (x_(l), x_(n-l+1)) covers the
median with probability 1 - 2 * P(B <= l - 1).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
from scipy.stats import binom


@dataclass(frozen=True)
class LatencyStats:
    """Summary of per-iteration latencies in milliseconds."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    iqr_ms: float
    ci_low_ms: float
    ci_high_ms: float
    samples: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict (column name -> value)."""
        return asdict(self)

    @property
    def ci_halfwidth_rel(self) -> float:
        """Largest distance from the median to a CI bound, relative to the median."""
        if self.p50_ms <= 0:
            return math.inf
        return max(self.p50_ms - self.ci_low_ms, self.ci_high_ms - self.p50_ms) / self.p50_ms


@lru_cache(maxsize=8192)  # the stop rule asks for the same n repeatedly; scipy calls cost ~0.5 ms
def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int]:
    """1-based ranks (l, u) of the order statistics bounding the median's CI for `n` samples.

    l is the largest rank with 2 * P(Binomial(n, 1/2) <= l - 1) <= 1 - confidence and
    u = n - l + 1 (symmetric). When n is too small for any such pair (n < 6 at 95 %),
    (1, n) is returned: the sample range, whose coverage is then below `confidence`.
    """
    if n < 1:
        raise ValueError("median_ci needs at least one sample")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    alpha_half = (1.0 - confidence) / 2.0
    # binom.ppf gives the smallest k with cdf(k) >= q; step back while the tail is too heavy
    k = int(binom.ppf(alpha_half, n, 0.5))
    while k >= 0 and binom.cdf(k, n, 0.5) > alpha_half:
        k -= 1
    lower = k + 1  # rank l satisfies cdf(l - 1) <= alpha/2
    if lower < 1:
        return 1, n
    return lower, n - lower + 1


def median_ci(samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval (low, high) of the median of `samples`.

    Uses binomial order statistics (see `median_ci_ranks`); no normality is assumed.
    """
    xs = np.sort(np.asarray(samples, dtype=float))
    lo, hi = median_ci_ranks(len(xs), confidence)
    return float(xs[lo - 1]), float(xs[hi - 1])


def summarize(samples_ms: Sequence[float], confidence: float = 0.95) -> LatencyStats:
    """Percentiles (linear interpolation), mean, IQR and the median's CI of `samples_ms`."""
    xs = np.asarray(samples_ms, dtype=float)
    if xs.size == 0:
        raise ValueError("summarize needs at least one sample")
    p25, p50, p75, p90, p99 = np.percentile(xs, [25, 50, 75, 90, 99])
    lo, hi = median_ci(xs, confidence)
    return LatencyStats(p50_ms=float(p50), p90_ms=float(p90), p99_ms=float(p99), mean_ms=float(xs.mean()),
                        iqr_ms=float(p75 - p25), ci_low_ms=lo, ci_high_ms=hi, samples=int(xs.size))
