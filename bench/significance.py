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


# Above this many resampled values per side the resamples are drawn in row blocks, so pooled
# samples (e.g. `bench regress` rounds: 10^4+ samples) do not allocate n_boot x n arrays at once.
_MAX_BOOT_ELEMENTS = 8_000_000


def _bootstrap_medians(rng: np.random.Generator, x: np.ndarray, n_boot: int) -> np.ndarray:
    """Medians of `n_boot` resamples (with replacement) of `x`, memory-bounded for large inputs."""
    if n_boot * x.size <= _MAX_BOOT_ELEMENTS:
        return np.median(rng.choice(x, size=(n_boot, x.size), replace=True), axis=1)
    rows = max(1, _MAX_BOOT_ELEMENTS // x.size)
    return np.concatenate([np.median(rng.choice(x, size=(min(rows, n_boot - i), x.size), replace=True), axis=1)
                           for i in range(0, n_boot, rows)])


def bootstrap_ratio_ci(a: Sequence[float], b: Sequence[float], confidence: float = 0.95, n_boot: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of median(b) / median(a) (seeded: same samples, same CI)."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    ma = _bootstrap_medians(rng, xa, n_boot)
    mb = _bootstrap_medians(rng, xb, n_boot)
    ratios = mb / ma
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(ratios, [alpha, 1 - alpha])
    return float(lo), float(hi)


def compare_samples(a: Sequence[float], b: Sequence[float], confidence: float = 0.95, seed: int = 0,
                    n_boot: int = 2000) -> RatioTest:
    """Ratio of medians b/a with a bootstrap CI (`n_boot` resamples) and a two-sided Mann-Whitney U p-value."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least two samples on each side")
    ratio = float(np.median(b) / np.median(a))
    lo, hi = bootstrap_ratio_ci(a, b, confidence, n_boot=n_boot, seed=seed)
    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return RatioTest(ratio=ratio, ci_low=lo, ci_high=hi, p_value=p, n_a=len(a), n_b=len(b))


def _round_bootstrap_medians(rng: np.random.Generator, groups: Sequence[np.ndarray], picks: np.ndarray) -> np.ndarray:
    """Median of each two-level resample: row i of `picks` names the groups, each resampled within.

    Vectorised (a Python loop per resample cost ~0.3 s per cell pair in the report's history view):
    every picked group gets `max size` uniform draws, those past its own size are masked as NaN, and
    each row's median is taken over what remains, which is the same resample the loop drew.
    """
    sizes = np.array([g.size for g in groups])
    flat = np.concatenate(groups)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    width = int(sizes.max())
    out = np.empty(len(picks))
    rows_per_chunk = max(1, 2_000_000 // max(1, picks.shape[1] * width))  # bounds memory on large inputs
    for start in range(0, len(picks), rows_per_chunk):
        chunk = picks[start:start + rows_per_chunk]
        n = sizes[chunk][:, :, None]  # (rows, slots, 1)
        draws = np.floor(rng.random((len(chunk), chunk.shape[1], width)) * n).astype(np.int64)
        values = flat[np.minimum(offsets[chunk][:, :, None] + draws, flat.size - 1)]
        if (sizes == width).all():  # the usual case: equal groups, nothing to mask (nanmedian is ~3x slower)
            out[start:start + len(chunk)] = np.median(values.reshape(len(chunk), -1), axis=1)
            continue
        values = np.where(np.arange(width)[None, None, :] < n, values, np.nan)
        out[start:start + len(chunk)] = np.nanmedian(values.reshape(len(chunk), -1), axis=1)
    return out


def grouped_bootstrap_ratio_ci(a_groups: Sequence[Sequence[float]], b_groups: Sequence[Sequence[float]],
                               confidence: float = 0.95, n_boot: int = 1000, seed: int = 0,
                               paired: bool = True) -> tuple[float, float]:
    """Two-level (hierarchical) percentile bootstrap CI of median(B) / median(A) for samples taken in groups.

    Samples from one process (one `bench regress` round) share that process's luck (memory
    layout, the machine's state), so they are not independent draws. Resampling the groups
    first and then the samples within each carries the between-group spread into the CI,
    which the flat bootstrap of `bootstrap_ratio_ci` would miss. With `paired` (and as many
    groups on each side), group i of A and group i of B were measured together, so the same
    groups are drawn for both: what the machine did during a round cancels in the ratio.
    """
    ga = [np.asarray(g, dtype=float) for g in a_groups]
    gb = [np.asarray(g, dtype=float) for g in b_groups]
    if not ga or not gb or any(g.size == 0 for g in ga + gb):
        raise ValueError("need non-empty groups on each side")
    rng = np.random.default_rng(seed)
    picks_a = rng.integers(0, len(ga), size=(n_boot, len(ga)))
    picks_b = picks_a if paired and len(ga) == len(gb) else rng.integers(0, len(gb), size=(n_boot, len(gb)))
    ratios = _round_bootstrap_medians(rng, gb, picks_b) / _round_bootstrap_medians(rng, ga, picks_a)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(ratios, [alpha, 1 - alpha])
    return float(lo), float(hi)
