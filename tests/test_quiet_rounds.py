"""Quiet rounds (bench.quiet_rounds) and how the claim study uses them."""
from __future__ import annotations

import itertools
from dataclasses import replace
from statistics import median

import numpy as np
import pytest

from bench.quiet_rounds import QuietRounds, quiet_rounds, state_index
from bench.timing import STOP_CI, measure_interleaved

FAST_MS = (1.0, 0.6, 0.55, 0.35, 0.34)  # e.g. standard, P4, P64, PC, DWC+PWC in their fast state
SLOW_BY = (1.15, 1.5, 1.45, 1.4, 1.3)  # a slow state slows them unequally (as on the VM)


def group(rounds: int, slow_rounds: set[int], seed: int = 0) -> list[list[float]]:
    """samples[i][r] of an interleaved group: 1 % noise, op i times SLOW_BY[i] in `slow_rounds`."""
    rng = np.random.default_rng(seed)
    return [[t * (s if r in slow_rounds else 1.0) * (1 + 0.01 * rng.standard_normal()) for r in range(rounds)]
            for t, s in zip(FAST_MS, SLOW_BY)]


def slow_stretches(rounds: int, every: int, length: int) -> set[int]:
    return {r for r in range(rounds) if r % every < length}


def test_slow_rounds_are_set_aside_and_the_fast_ratio_comes_back():
    slow = slow_stretches(300, 50, 30)  # 60 % of the time slow, in stretches as on the VM
    s = group(300, slow)
    q = quiet_rounds(s)
    assert set(q.kept) == set(range(300)) - slow and q.taken == 300 and not q.widened
    true = FAST_MS[2] / FAST_MS[0]
    all_rounds = median(s[2]) / median(s[0])
    quiet = median(q.select(s[2])) / median(q.select(s[0]))
    assert abs(all_rounds / true - 1) > 0.15  # the mixture moves the ratio ...
    assert quiet == pytest.approx(true, rel=0.01)  # ... the quiet rounds do not
    assert sorted(q.select(s[0]) + q.set_aside(s[0])) == sorted(s[0])  # a partition: nothing lost


def test_quiet_ratio_does_not_depend_on_how_much_of_the_time_was_slow():
    true = FAST_MS[1] / FAST_MS[0]
    for frac_slow, seed in ((0.1, 1), (0.4, 2), (0.7, 3)):
        slow = slow_stretches(400, 40, int(40 * frac_slow))
        s = group(400, slow, seed)
        q = quiet_rounds(s)
        assert median(q.select(s[1])) / median(q.select(s[0])) == pytest.approx(true, rel=0.01), frac_slow


def test_state_index_is_one_in_the_fast_state_and_shows_the_slow_one():
    s = group(100, slow_stretches(100, 20, 5))
    idx = state_index(s)
    assert median(idx[r] for r in range(100) if r % 20 >= 5) == pytest.approx(1.0, abs=0.02)
    assert min(idx[r] for r in range(100) if r % 20 < 5) > 1.25


def test_too_few_operators_or_rounds_keep_everything():
    s = group(100, slow_stretches(100, 20, 10))
    two = quiet_rounds(s[:2])  # the index would be the compared pair's own noise
    assert two.kept == tuple(range(100)) and two.tolerance is None
    few = quiet_rounds([x[:8] for x in s], min_kept=10)
    assert few.kept == tuple(range(8))
    off = quiet_rounds(s, tolerance=None)
    assert off.kept == tuple(range(100)) and "no quiet-round selection" in off.describe()


def test_too_few_quiet_rounds_widens_to_the_least_slow():
    rounds = 60
    ramp = [[t * (1 + 0.01 * r) for r in range(rounds)] for t in FAST_MS]  # steadily slower: few within 5 %
    q = quiet_rounds(ramp, min_kept=20)
    assert q.widened and q.kept == tuple(range(20)) and "too few" in q.describe()


def test_ragged_group_is_refused():
    with pytest.raises(ValueError):
        quiet_rounds([[1.0, 1.0], [1.0], [1.0, 1.0]])


def test_describe_counts_rounds():
    assert QuietRounds((0, 2), 5, 0.05).describe().startswith("2 of 5 rounds kept (quiet: within 5% of")


def test_min_time_keeps_sampling_past_a_met_ci():
    now = [0.0]

    def timer(fn):
        now[0] += 0.01  # every call 'takes' 10 ms of the fake clock
        return 1.0

    kw = dict(timer=timer, clock=lambda: now[0], ci_target=0.5, min_samples=5, max_time_s=10.0, warmup_cap=0)
    (early,) = measure_interleaved([lambda: None], **kw)
    assert len(early.samples_ms) == 5 and early.stop_reason == STOP_CI
    now[0] = 0.0
    (held,) = measure_interleaved([lambda: None], min_time_s=1.0, **kw)
    assert held.stop_reason == STOP_CI and 99 <= len(held.samples_ms) <= 101  # ~1 s of 10-ms calls


class SlowStateDevice:
    """Each prepared op 'takes' its FAST_MS; rounds in slow stretches take SLOW_BY longer (per op)."""

    name = "fake"
    extra_hetconv_impls = ()

    def __init__(self, n_ops: int, slow_every: int = 30, slow_len: int = 18):
        self.calls = itertools.count()
        self.n_ops, self.every, self.len = n_ops, slow_every, slow_len
        self.rng = np.random.default_rng(7)

    def timer(self):
        def time_one(fn):
            i = fn()
            rnd = next(self.calls) // self.n_ops
            slow = SLOW_BY[i] if rnd % self.every < self.len else 1.0
            return FAST_MS[i] * slow * (1 + 0.01 * self.rng.standard_normal())
        return time_one


@pytest.mark.parametrize("tolerance", [0.05, None])
def test_study_groups_use_their_quiet_rounds(tolerance):
    from bench.claims.hetconv_config import QUICK
    from bench.claims.hetconv_study import _time_planned

    cfg = replace(QUICK, min_samples=200, group_max_time_s=1e9, group_min_time_s=0.0, ci_target=0.0,
                  warmup_max_time_s=0.0, quiet_tolerance=tolerance, max_rounds=200)
    fns = [(lambda i=i: i) for i in range(len(FAST_MS))]
    meas, _ = _time_planned(SlowStateDevice(len(fns)), fns, cfg, round_s=1e-6)
    ratio = median(meas[1].samples_ms) / median(meas[0].samples_ms)
    true = FAST_MS[1] / FAST_MS[0]
    if tolerance is None:  # every round: the slow 60 % of the time drags the ratio away from the fast state's
        assert abs(ratio / true - 1) > 0.1 and len(meas[0].samples_ms) == meas[0].extra["rounds_taken"]
        return
    assert ratio == pytest.approx(true, rel=0.01)
    m = meas[0]
    assert m.extra["rounds_kept"] == len(m.samples_ms) < m.extra["rounds_taken"]
    assert len(m.samples_ms) + len(m.extra["set_aside_ms"]) == m.extra["rounds_taken"]  # stored, not dropped
    assert min(m.extra["set_aside_ms"]) > max(m.samples_ms)


def test_sequential_looks_test_the_selected_rounds():
    from bench.claims.sequential import STOP_DECIDED, extend_until_decided

    s = group(200, slow_stretches(200, 20, 12), seed=4)
    calls = []

    def more(rounds, budget_s):
        calls.append(rounds)
        return [[1.0] * rounds for _ in s]

    seq = extend_until_decided(s, [(1, 0)], more, looks=3, max_rounds=1000, max_time_s=60,
                               select=lambda x: [quiet_rounds(x).select(v) for v in x])
    assert seq.stop == STOP_DECIDED and seq.looks == 1 and not calls
    assert len(seq.samples[0]) == 200  # the result keeps every round
