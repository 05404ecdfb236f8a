"""Warm-up and stop rules of the timing core, made deterministic with a fake timer and clock."""
import itertools
import random

import pytest

from bench.timing import (STOP_CI, STOP_ITERS, STOP_TIME, SteadyDetector, ci_within, measure,
                          measure_interleaved, perf_counter_timer, round_order)


class FakeTime:
    """A timer that 'runs' calls with scripted latencies and advances a fake clock by them."""

    def __init__(self, latencies_ms, overhead_s=0.0):
        self.latencies = iter(latencies_ms)
        self.now = 0.0
        self.calls = 0
        self.overhead_s = overhead_s

    def timer(self, fn):
        fn()
        self.calls += 1
        ms = next(self.latencies)
        self.now += ms / 1e3 + self.overhead_s
        return ms

    def clock(self):
        return self.now


def noop():
    return None


def test_warmup_stops_when_steady_not_at_fixed_count():
    # the MobileNetV2 pattern from the issue: three slow first calls, then steady
    ft = FakeTime(itertools.chain([1700.0, 800.0, 900.0], itertools.repeat(40.0)))
    m = measure(noop, timer=ft.timer, clock=ft.clock, min_samples=10, warmup_window=3)
    assert m.warmup_steady
    assert m.warmup_ms[:3] == [1700.0, 800.0, 900.0]
    # steady once the median of the last 3 calls is no faster than that of the 3 before:
    # [900, 40, 40] -> [40, 40, 40] (medians 40 and 40) at call 8
    assert m.warmup_iters == 8
    assert all(s == 40.0 for s in m.samples_ms)


def test_longer_warmup_for_a_slower_settling_model():
    slow = [500.0, 400.0, 300.0, 200.0, 100.0, 80.0, 60.0]
    ft = FakeTime(itertools.chain(slow, itertools.repeat(40.0)))
    m = measure(noop, timer=ft.timer, clock=ft.clock, min_samples=10)
    assert m.warmup_steady and m.warmup_iters > len(slow)
    assert min(m.samples_ms) == 40.0


def test_warmup_cap_hit_when_never_steady():
    ft = FakeTime(1000.0 / (i + 1) for i in itertools.count())  # always getting faster
    m = measure(noop, timer=ft.timer, clock=ft.clock, warmup_cap=15, warmup_max_time_s=1e9, min_samples=5,
                max_iters=5)
    assert not m.warmup_steady and m.warmup_iters == 15


def test_warmup_time_cap():
    ft = FakeTime(itertools.chain([100.0 / (i + 1) for i in range(1000)], itertools.repeat(1.0)))
    m = measure(noop, timer=ft.timer, clock=ft.clock, warmup_cap=1000, warmup_max_time_s=0.2, min_samples=5,
                max_iters=5)
    assert not m.warmup_steady
    assert sum(m.warmup_ms) >= 200.0 and m.warmup_iters < 1000


def test_stops_on_ci_target_after_min_samples():
    ft = FakeTime(itertools.repeat(10.0))
    m = measure(noop, timer=ft.timer, clock=ft.clock, min_samples=20, ci_target=0.01)
    assert m.stop_reason == STOP_CI
    assert len(m.samples_ms) == 20


def test_noisy_samples_hit_the_iteration_cap():
    ft = FakeTime(itertools.cycle([10.0, 20.0]))  # median CI never within 1 %
    m = measure(noop, timer=ft.timer, clock=ft.clock, warmup_cap=6, min_samples=10, max_iters=300,
                max_time_s=1e9)
    assert m.stop_reason == STOP_ITERS
    assert len(m.samples_ms) == 300


def test_noisy_samples_hit_the_time_cap():
    ft = FakeTime(itertools.cycle([10.0, 20.0]))
    m = measure(noop, timer=ft.timer, clock=ft.clock, warmup_cap=6, min_samples=10, max_iters=10**6,
                max_time_s=1.5)
    assert m.stop_reason == STOP_TIME
    assert 1.5 <= m.elapsed_s < 1.5 + 0.021  # stops at the first call past the cap
    assert len(m.samples_ms) == 100  # 1.5 s of alternating 10/20 ms calls


def test_time_cap_still_gives_min_samples_for_slow_models():
    ft = FakeTime(itertools.cycle([900.0, 1100.0]))  # each call alone exceeds the time cap
    m = measure(noop, timer=ft.timer, clock=ft.clock, warmup_cap=6, min_samples=8, max_time_s=0.5)
    assert m.stop_reason == STOP_TIME and len(m.samples_ms) == 8


def test_looser_target_stops_earlier():
    def run(target):
        rng = random.Random(0)
        ft = FakeTime(10.0 + rng.uniform(-0.5, 0.5) for _ in itertools.count())
        return measure(noop, timer=ft.timer, clock=ft.clock, warmup_cap=6, min_samples=10, ci_target=target,
                       max_iters=2000, max_time_s=1e9)

    loose, tight = run(0.05), run(0.001)
    assert loose.stop_reason == STOP_CI
    assert tight.stop_reason == STOP_ITERS
    assert len(loose.samples_ms) < len(tight.samples_ms)


def test_ci_within_rule():
    assert ci_within([10.0] * 20, 0.01)
    assert not ci_within([10.0, 20.0] * 10, 0.01)
    assert ci_within([10.0, 10.05] * 10, 0.01)


def test_steady_detector_needs_two_windows():
    d = SteadyDetector(window=3, tol=0.05)
    assert [d.add(5.0) for _ in range(6)] == [False] * 5 + [True]


def test_bad_caps_rejected():
    with pytest.raises(ValueError):
        measure(noop, min_samples=10, max_iters=5)


def test_interleaved_rotates_the_order_and_returns_one_measurement_each():
    order = []
    fns = [lambda: order.append("A"), lambda: order.append("B")]
    ft = FakeTime(itertools.repeat(5.0))
    ms = measure_interleaved(fns, timer=ft.timer, clock=ft.clock, min_samples=10)
    assert len(ms) == 2
    # every round has each callable once; who goes first alternates (A B, B A, ...: ABBA)
    rounds = ["".join(order[i:i + 2]) for i in range(0, len(order), 2)]
    assert rounds[:4] == ["AB", "BA", "AB", "BA"]
    assert all(sorted(r) == ["A", "B"] for r in rounds)
    assert all(m.stop_reason == STOP_CI and len(m.samples_ms) == 10 for m in ms)


def test_interleaved_rotation_gives_every_callable_every_position():
    order = []
    fns = [lambda name=name: order.append(name) for name in "ABC"]
    ft = FakeTime(itertools.repeat(5.0))
    measure_interleaved(fns, timer=ft.timer, clock=ft.clock, warmup_cap=0, min_samples=9, max_iters=9)
    rounds = ["".join(order[i:i + 3]) for i in range(0, len(order), 3)]
    assert rounds[:3] == ["ABC", "BCA", "CAB"]
    firsts = [r[0] for r in rounds]
    assert len(rounds) == 9 and all(firsts.count(x) == 3 for x in "ABC")
    assert [round_order(3, i) for i in range(4)] == [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]


def test_interleaved_keeps_per_callable_latencies():
    # A always takes 1 ms, B always 3 ms, whatever its position in the round
    def timer(fn):
        return fn()

    a, b = measure_interleaved([lambda: 1.0, lambda: 3.0], timer=timer, clock=itertools.count().__next__,
                               min_samples=10)
    assert set(a.samples_ms) == {1.0} and set(b.samples_ms) == {3.0}
    assert a.stats.p50_ms == 1.0 and b.stats.p50_ms == 3.0


def test_measure_is_the_interleaved_loop_with_one_callable():
    def run(how):
        rng = random.Random(0)
        ft = FakeTime(itertools.chain([50.0, 30.0, 20.0], (10.0 + rng.uniform(-1, 1) for _ in itertools.count())))
        kw = dict(timer=ft.timer, clock=ft.clock, min_samples=10, max_time_s=1.0, warmup_max_time_s=1.0)
        return measure(noop, **kw) if how == "measure" else measure_interleaved([noop], **kw)[0]

    single, inter = run("measure"), run("interleaved")
    assert single.samples_ms == inter.samples_ms and single.warmup_ms == inter.warmup_ms
    assert single.stop_reason == inter.stop_reason


def test_perf_counter_timer_measures_real_time():
    import time

    ms = perf_counter_timer(lambda: time.sleep(0.01))
    assert ms >= 9.0
