"""Sample size that reaches a decision: add rounds to an interleaved group while a pair is undecided.

A group's fresh measurement gets its planned rounds first. Then, up to `looks` times in all, every
pair the verdicts depend on (candidate index, reference index) is tested (`pair_outcome`): decided
"faster"/"slower" beyond the practical margin, "equivalent" within it, or "undecided". While a pair is
undecided and looks remain, the group gets more rounds (`growth` times the rounds so far), capped by
`max_rounds` rounds in all and `max_time_s` seconds of extension.

Honest sequential testing: each look tests at `alpha / looks` (Bonferroni over a fixed, small number
of looks). Whichever look a pair stops at, the chance that any of its looks calls a false "faster"
or "slower" is at most `alpha`, as for one fixed-size test at `alpha`; the equivalence test uses the
same split. The verdict is computed on the final samples with the same `alpha / looks`, i.e. it is the
last look's test, never a fresh test at the full alpha.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from statistics import median
from typing import Callable, Sequence

from bench.claims.verdicts import ALPHA, PRACTICAL_MARGIN, UNDECIDED, pair_outcome

STOP_DECIDED, STOP_LOOKS, STOP_ROUNDS, STOP_TIME = "decided", "looks used", "rounds cap", "time cap"
MIN_EXTENSION = 2  # an extension of fewer rounds than this cannot change a decision: stop instead
ROUND_MARGIN = 1.25  # slack for rounds slower than the median round when sizing an extension

# (rounds, seconds budget) -> new samples (ms) per callable of the group, in the group's order
Measure = Callable[[int, float], Sequence[Sequence[float]]]
# every round's samples per callable -> the samples a look tests (same callables, maybe fewer rounds)
Select = Callable[[Sequence[Sequence[float]]], Sequence[Sequence[float]]]


@dataclass
class SequentialResult:
    """The group's samples after the last look, how many looks were taken and why it stopped."""

    samples: list[list[float]]
    looks: int
    stop: str
    outcomes: list[str]  # per pair, at the last look
    extension_s: float = 0.0

    def note(self) -> str:
        """Evidence note when a pair stayed undecided ("" when every pair was decided)."""
        if self.stop == STOP_DECIDED:
            return ""
        return (f"{len(self.samples[0]) if self.samples else 0} rounds over {self.looks} looks, stopped on the "
                f"{self.stop} with {self.outcomes.count(UNDECIDED)} pair(s) undecided")


def look_alpha(alpha: float, looks: int) -> float:
    """The significance level of each look: `alpha` split evenly over at most `looks` looks (Bonferroni)."""
    if looks < 1:
        raise ValueError(f"looks must be >= 1, got {looks}")
    return alpha / looks


def pair_outcomes(samples: Sequence[Sequence[float]], pairs: Sequence[tuple[int, int]], alpha: float,
                  margin: float = PRACTICAL_MARGIN) -> list[str]:
    """Outcome of each (candidate index, reference index) pair at significance level `alpha`."""
    return [pair_outcome(samples[c], samples[r], alpha, margin).outcome for c, r in pairs]


def extend_until_decided(first: Sequence[Sequence[float]], pairs: Sequence[tuple[int, int]], measure: Measure, *,
                         looks: int, max_rounds: int, max_time_s: float, growth: float = 4.0,
                         alpha: float = ALPHA, margin: float = PRACTICAL_MARGIN,
                         clock: Callable[[], float] = time.perf_counter,
                         select: Select | None = None) -> SequentialResult:
    """Look at the pairs; while one is undecided, measure more rounds and look again (see module docstring).

    `first` holds the planned rounds' samples (ms) per callable; `measure(rounds, budget_s)` takes
    `rounds` more interleaved rounds. An extension brings the rounds to `growth` times the rounds so
    far, shrunk to fit what is left of `max_time_s` (from the round time the samples show) and of
    `max_rounds`. `select` (all rounds' samples -> the samples a look tests, e.g. the quiet rounds of
    bench.quiet_rounds) is applied before every look; the result holds every round.
    """
    start = clock()
    samples = [list(s) for s in first]
    a = look_alpha(alpha, looks)
    for look in range(1, looks + 1):
        outcomes = pair_outcomes(select(samples) if select else samples, pairs, a, margin)
        stop = ""
        if UNDECIDED not in outcomes:
            stop = STOP_DECIDED
        elif look == looks:
            stop = STOP_LOOKS
        else:
            n = len(samples[0])
            left_s = max_time_s - (clock() - start)
            round_s = sum(median(s) for s in samples) / 1000
            fit = int(left_s / (round_s * ROUND_MARGIN)) if round_s > 0 else n
            extra = min(int(n * (growth - 1)), max_rounds - n, fit)
            if max_rounds - n < MIN_EXTENSION:
                stop = STOP_ROUNDS
            elif extra < MIN_EXTENSION:
                stop = STOP_TIME
            else:
                for s, new in zip(samples, measure(extra, left_s)):
                    s.extend(new)
        if stop:
            return SequentialResult(samples, look, stop, outcomes, clock() - start)
    raise AssertionError("unreachable: the last look always stops")
