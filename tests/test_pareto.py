"""Pareto fronts on hand-made points: strict mode and CI-overlap-as-tie mode."""
import itertools
import random

import pytest

from bench.pareto import FrontPoint, dominates, non_dominated


def pts(*rows):
    """FrontPoints from (key, benefit, cost[, low, high]) tuples."""
    return [FrontPoint(*r) for r in rows]


def test_empty_input_gives_empty_front():
    assert non_dominated([]) == []
    assert non_dominated([], ci_ties=True) == []


def test_single_point_is_the_front():
    assert non_dominated(pts(("a", 90.0, 5.0))) == ["a"]
    assert non_dominated(pts(("a", 90.0, 5.0, 4.0, 6.0)), ci_ties=True) == ["a"]


def test_staircase_front_is_ordered_by_cost():
    points = pts(("slow_best", 94.0, 10.0), ("fast_worst", 90.0, 1.0), ("mid", 92.0, 4.0),
                 ("dominated", 91.0, 5.0), ("also_dominated", 89.0, 2.0))
    assert non_dominated(points) == ["fast_worst", "mid", "slow_best"]


def test_exact_duplicates_both_stay_on_the_front():
    points = pts(("a", 93.0, 2.0), ("b", 93.0, 2.0), ("c", 92.0, 3.0))
    assert non_dominated(points) == ["a", "b"]


def test_equal_cost_lower_benefit_is_dominated():
    points = pts(("a", 93.0, 2.0), ("b", 92.0, 2.0))
    assert non_dominated(points) == ["a"]


def test_equal_benefit_higher_cost_is_dominated():
    points = pts(("a", 93.0, 2.0), ("b", 93.0, 2.5))
    assert non_dominated(points) == ["a"]


def test_ci_tie_removes_insignificant_speed_advantage():
    # "fast" is nominally faster but its CI overlaps "accurate": a tie, and "accurate" wins on accuracy.
    points = pts(("fast", 92.0, 1.00, 0.95, 1.10), ("accurate", 94.0, 1.05, 1.00, 1.12))
    assert non_dominated(points) == ["fast", "accurate"]
    assert non_dominated(points, ci_ties=True) == ["accurate"]


def test_ci_tie_keeps_insignificantly_slower_point_with_equal_accuracy():
    points = pts(("a", 93.0, 1.00, 0.90, 1.10), ("b", 93.0, 1.05, 0.95, 1.15))
    assert non_dominated(points) == ["a"]
    assert non_dominated(points, ci_ties=True) == ["a", "b"]


def test_ci_tie_mode_still_respects_significant_differences():
    points = pts(("fast", 92.0, 1.0, 0.9, 1.1), ("slow", 94.0, 5.0, 4.8, 5.2), ("bad", 91.0, 6.0, 5.5, 6.5))
    assert non_dominated(points, ci_ties=True) == ["fast", "slow"]


def test_missing_interval_falls_back_to_point_cost():
    points = pts(("a", 92.0, 1.0, None, None), ("b", 94.0, 1.5, 1.4, 1.6))
    assert non_dominated(points, ci_ties=True) == ["a", "b"]
    points = pts(("a", 92.0, 1.45, None, None), ("b", 94.0, 1.5, 1.4, 1.6))
    assert non_dominated(points, ci_ties=True) == ["b"]


def test_nan_and_duplicate_keys_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        non_dominated(pts(("a", float("nan"), 1.0)))
    with pytest.raises(ValueError, match="duplicate"):
        non_dominated(pts(("a", 90.0, 1.0), ("a", 91.0, 2.0)))


def test_dominance_is_irreflexive():
    p = FrontPoint("a", 93.0, 2.0, 1.9, 2.1)
    assert not dominates(p, p)
    assert not dominates(p, p, ci_ties=True)


def brute_force_strict(points):
    """Independent definition: no other point is at least as good in both and better in one."""
    keep = []
    for p in points:
        beaten = any(q.benefit >= p.benefit and q.cost <= p.cost and (q.benefit, q.cost) != (p.benefit, p.cost)
                     for q in points)
        if not beaten:
            keep.append(p.key)
    return sorted(keep)


@pytest.mark.parametrize("seed", range(20))
def test_random_points_match_brute_force_and_front_is_never_empty(seed):
    rng = random.Random(seed)
    points = []
    for i in range(rng.randint(1, 25)):
        cost = round(rng.uniform(0.5, 20.0), 1)  # rounding makes ties and duplicates likely
        half = rng.uniform(0.0, 1.5)
        points.append(FrontPoint(i, float(rng.choice([90, 91, 92, 93, 94])), cost, cost - half, cost + half))
    assert sorted(non_dominated(points)) == brute_force_strict(points)
    tie_front = non_dominated(points, ci_ties=True)
    assert tie_front, "the CI-tie front of a non-empty input must not be empty"
    # every point off the tie front is dominated by some point (that is what "off the front" means)
    on = [p for p in points if p.key in tie_front]
    for p in points:
        if p.key not in tie_front:
            assert any(dominates(q, p, ci_ties=True) for q in points)
    # front members never dominate each other
    for a, b in itertools.permutations(on, 2):
        assert not dominates(a, b, ci_ties=True)
