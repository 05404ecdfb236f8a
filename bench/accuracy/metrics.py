"""Accuracy statistics: exact binomial intervals and the exact McNemar test (scipy)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Proportion:
    """`k` successes out of `n` with an exact (Clopper-Pearson) two-sided interval, as fractions."""

    k: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        """k / n (0 when n is 0)."""
        return self.k / self.n if self.n else 0.0

    def percent_text(self) -> str:
        """'91.23 % [90.10, 92.30] (n=1797)'."""
        return f"{100 * self.value:.2f} % [{100 * self.low:.2f}, {100 * self.high:.2f}] (n={self.n})"


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> Proportion:
    """Exact two-sided interval for a binomial proportion (beta quantiles; 0 and 1 at the ends)."""
    from scipy.stats import beta

    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    alpha = 1.0 - confidence
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return Proportion(int(k), int(n), low, high)


@dataclass(frozen=True)
class McNemar:
    """Paired comparison of two classifiers on the same images.

    `only_a`: images A gets right and B wrong; `only_b`: the reverse. The exact test is a
    two-sided binomial test of `only_a` out of `only_a + only_b` against 1/2.
    """

    n: int
    correct_a: int
    correct_b: int
    only_a: int
    only_b: int
    p_value: float

    @property
    def difference(self) -> float:
        """top-1 of A minus top-1 of B, as a fraction."""
        return (self.correct_a - self.correct_b) / self.n if self.n else 0.0


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """Exact McNemar test of two boolean per-image correctness vectors over the same images."""
    from scipy.stats import binomtest

    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired vectors differ in length: {a.shape} vs {b.shape}")
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else float(binomtest(only_a, discordant, 0.5).pvalue)
    return McNemar(int(a.size), int(a.sum()), int(b.sum()), only_a, only_b, min(p, 1.0))


def topk_correct(topk: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per image: is the label among the first `k` predicted classes (`topk` is N x K, best first)?"""
    topk = np.asarray(topk)
    return np.any(topk[:, :k] == np.asarray(labels)[:, None], axis=1)
