"""Statistics on synthetic samples with known answers."""
import math
import random

import numpy as np
import pytest
from scipy.stats import binom

from bench.stats import median_ci, median_ci_ranks, summarize


@pytest.mark.parametrize("n, ranks", [(10, (2, 9)), (20, (6, 15)), (100, (40, 61))])
def test_median_ci_ranks_match_binomial_tables(n, ranks):
    # classic tables of order-statistic CIs for the median at 95 %
    assert median_ci_ranks(n, 0.95) == ranks


@pytest.mark.parametrize("n", [6, 7, 11, 30, 57, 200, 1000])
def test_ranks_are_the_tightest_pair_with_coverage(n):
    lo, hi = median_ci_ranks(n, 0.95)
    coverage = 1 - 2 * binom.cdf(lo - 1, n, 0.5)
    assert coverage >= 0.95
    assert hi == n - lo + 1
    tighter = 1 - 2 * binom.cdf(lo, n, 0.5)  # moving one rank inward must lose coverage
    assert tighter < 0.95


def test_too_few_samples_give_the_range():
    assert median_ci_ranks(5, 0.95) == (1, 5)
    assert median_ci([3.0, 1.0, 2.0]) == (1.0, 3.0)


def test_median_ci_on_shuffled_known_values():
    xs = list(range(1, 101))
    random.Random(0).shuffle(xs)
    assert median_ci(xs) == (40.0, 61.0)


def test_higher_confidence_is_wider():
    xs = list(range(1, 101))
    lo90, hi90 = median_ci(xs, 0.90)
    lo99, hi99 = median_ci(xs, 0.99)
    assert lo99 < lo90 and hi99 > hi90


def test_median_ci_covers_true_median_about_95_percent():
    rng = np.random.default_rng(1)
    trials, n = 2000, 25
    true_median = math.log(2)  # median of Exponential(1): skewed on purpose
    hits = 0
    for _ in range(trials):
        lo, hi = median_ci(rng.exponential(size=n))
        hits += lo <= true_median <= hi
    assert 0.94 <= hits / trials <= 0.995  # nominal coverage is >= 95 % (discrete, so a bit above)


def test_summarize_known_percentiles():
    s = summarize([float(x) for x in range(1, 101)])
    assert s.p50_ms == pytest.approx(50.5)
    assert s.p90_ms == pytest.approx(90.1)
    assert s.p99_ms == pytest.approx(99.01)
    assert s.mean_ms == pytest.approx(50.5)
    assert s.iqr_ms == pytest.approx(75.25 - 25.75)
    assert (s.ci_low_ms, s.ci_high_ms) == (40.0, 61.0)
    assert s.samples == 100


def test_summarize_constant_samples_have_zero_spread():
    s = summarize([2.0] * 30)
    assert s.p50_ms == s.p99_ms == s.ci_low_ms == s.ci_high_ms == 2.0
    assert s.iqr_ms == 0 and s.ci_halfwidth_rel == 0


def test_empty_and_bad_confidence_rejected():
    with pytest.raises(ValueError):
        summarize([])
    with pytest.raises(ValueError):
        median_ci([1.0, 2.0], confidence=1.0)
