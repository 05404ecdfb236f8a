"""Is one latency distribution really different from another?

Two tools, used together: the Mann-Whitney U test on the raw samples (does one tend to be
larger?) and a percentile-bootstrap CI of the ratio of medians (by how much?). Both are
distribution-free, which latency samples need (skewed, often bimodal).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.stats import mannwhitneyu


@dataclass(frozen=True)
class RatioTest:
    """Comparison of B against A: ratio = median(B) / median(A) (> 1: B slower)."""

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    n_a: int
    n_b: int

    def significant(self, alpha: float = 0.01) -> bool:
        """Both tests agree there is a difference: MWU p < alpha and the ratio CI excludes 1."""
        return self.p_value < alpha and (self.ci_low > 1.0 or self.ci_high < 1.0)


def bootstrap_ratio_ci(a: Sequence[float], b: Sequence[float], confidence: float = 0.95, n_boot: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of median(b) / median(a) (seeded: same samples, same CI)."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    ma = np.median(rng.choice(xa, size=(n_boot, xa.size), replace=True), axis=1)
    mb = np.median(rng.choice(xb, size=(n_boot, xb.size), replace=True), axis=1)
    ratios = mb / ma
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(ratios, [alpha, 1 - alpha])
    return float(lo), float(hi)


def compare_samples(a: Sequence[float], b: Sequence[float], confidence: float = 0.95, seed: int = 0) -> RatioTest:
    """Ratio of medians b/a with a bootstrap CI and a two-sided Mann-Whitney U p-value."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least two samples on each side")
    ratio = float(np.median(b) / np.median(a))
    lo, hi = bootstrap_ratio_ci(a, b, confidence, seed=seed)
    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return RatioTest(ratio=ratio, ci_low=lo, ci_high=hi, p_value=p, n_a=len(a), n_b=len(b))
