"""Pareto fronts for "higher benefit, lower cost" (accuracy vs latency, accuracy vs MACs).

A point is on the front (non-dominated) when no other point dominates it. Two modes:

- strict (`ci_ties=False`): `a` dominates `b` when `a.benefit >= b.benefit` and
  `a.cost <= b.cost` with at least one of the two strict. Exact duplicates do not dominate each
  other, so both stay on the front.
- CI ties (`ci_ties=True`): costs are compared through their confidence intervals. `a` is
  *significantly faster* than `b` when `a.cost_high < b.cost_low`; if the intervals overlap the
  costs are a tie. `a` dominates `b` when `a.benefit >= b.benefit`, `b` is not significantly
  faster than `a`, and either `a` is significantly faster or `a.benefit > b.benefit`. So a
  point whose speed advantage is within measurement noise no longer survives against a more
  accurate neighbour, and a point that is only insignificantly slower than an equally accurate
  one is not pushed off the front. A point without an interval uses `[cost, cost]`.

Neither relation has cycles (benefit never rises along a chain of dominations, and among
equal benefits "significantly faster" is a strict order), so the front of a non-empty input is
never empty. The comparison is pairwise, O(n^2): reports hold tens of points, not thousands.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Iterable


@dataclass(frozen=True)
class FrontPoint:
    """One candidate: higher `benefit` is better, lower `cost` is better.

    `cost_low` / `cost_high` bound the cost's confidence interval (used only with ci_ties).
    """

    key: Hashable
    benefit: float
    cost: float
    cost_low: float | None = None
    cost_high: float | None = None

    def interval(self) -> tuple[float, float]:
        """The cost interval, falling back to the point value where a bound is missing."""
        low = self.cost if self.cost_low is None or _is_nan(self.cost_low) else self.cost_low
        high = self.cost if self.cost_high is None or _is_nan(self.cost_high) else self.cost_high
        return min(low, self.cost), max(high, self.cost)


def _is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _check(points: list[FrontPoint]) -> None:
    seen: set[Hashable] = set()
    for p in points:
        if _is_nan(float(p.benefit)) or _is_nan(float(p.cost)):
            raise ValueError(f"point {p.key!r} has a NaN benefit or cost; drop it before computing a front")
        if p.key in seen:
            raise ValueError(f"duplicate point key {p.key!r}")
        seen.add(p.key)


def dominates(a: FrontPoint, b: FrontPoint, *, ci_ties: bool = False) -> bool:
    """Whether `a` dominates `b` under the chosen mode (see the module docstring)."""
    if a.benefit < b.benefit:
        return False
    if not ci_ties:
        return a.cost <= b.cost and (a.cost < b.cost or a.benefit > b.benefit)
    a_low, a_high = a.interval()
    b_low, b_high = b.interval()
    a_faster = a_high < b_low
    b_faster = b_high < a_low
    if b_faster:
        return False
    return a_faster or a.benefit > b.benefit


def non_dominated(points: Iterable[FrontPoint], *, ci_ties: bool = False) -> list[Hashable]:
    """Keys of the non-dominated points, ordered by cost then benefit (the front's drawing order).

    Raises ValueError on NaN values or duplicate keys; an empty input gives an empty list.
    """
    pts = list(points)
    _check(pts)
    front = [p for p in pts if not any(dominates(q, p, ci_ties=ci_ties) for q in pts if q is not p)]
    front.sort(key=lambda p: (p.cost, p.benefit))
    return [p.key for p in front]
