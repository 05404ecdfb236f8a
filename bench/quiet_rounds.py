"""Quiet rounds: which rounds of an interleaved group ran while the machine was in its fast state.

An interleaved group times every operator once per round (bench.timing.measure_interleaved), so one
round sees one machine state. On the project's development VM the state switches every 0.25-2 s
between a fast level and levels 10-100 % slower (a co-tenant the VM cannot see), and the slow states
do not slow every operator alike: at C128 H16 batch 1 a standard 3x3 conv slowed ~15 % while HetConv
P64 slowed ~40 %, so the ratio of medians over all rounds moved with the fraction of time the group
happened to spend slow (P64/standard 0.52-0.64 between 3-s windows of one process; see
docs/contention.md for the measurement).

The rule: each operator's times are scaled by its own 10th percentile over the group's rounds; a
round's *state index* is the median of its operators' scaled times (robust to one operator's own
noise); a round is quiet when its index is within `tolerance` of 1. Ratios computed on the quiet
rounds describe the hardware in its fast state, and reproduced within ~3 % between windows where
all-round ratios moved 20 %. The rounds set aside are kept (stored with the cell), never dropped
silently. With fewer than `MIN_OPERATORS` operators the index would be the operators' own noise, so
every round is kept; when fewer than `min_kept` rounds are quiet, the `min_kept` rounds with the
lowest index are kept and the selection says it was widened.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Sequence

QUIET_TOLERANCE = 0.05  # a round within 5 % of the group's fast level is quiet
REFERENCE_QUANTILE = 0.10  # each operator's fast level: its 10th percentile over the group's rounds
MIN_OPERATORS = 3  # below this the state index is the compared operators' own noise


@dataclass(frozen=True)
class QuietRounds:
    """The rounds of one group kept as quiet (indices, in time order) out of `taken`."""

    kept: tuple[int, ...]
    taken: int
    tolerance: float | None  # None: no selection (too few operators or rounds, or turned off)
    widened: bool = False  # fewer than min_kept rounds were quiet: the lowest-index ones were kept

    def select(self, samples: Sequence[float]) -> list[float]:
        """One operator's samples of the kept rounds."""
        return [samples[i] for i in self.kept]

    def set_aside(self, samples: Sequence[float]) -> list[float]:
        """One operator's samples of the rounds not kept."""
        keep = set(self.kept)
        return [s for i, s in enumerate(samples) if i not in keep]

    def describe(self) -> str:
        """E.g. '137 of 462 rounds quiet (within 5 % of the group's fast level)'."""
        if self.tolerance is None:
            return f"all {self.taken} rounds kept (no quiet-round selection)"
        how = "fewest slow: too few within" if self.widened else "quiet: within"
        return f"{len(self.kept)} of {self.taken} rounds kept ({how} {self.tolerance:.0%} of the group's fast level)"


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default), without numpy."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def state_index(samples: Sequence[Sequence[float]]) -> list[float]:
    """Per round: the median over operators of the time scaled by that operator's fast level."""
    refs = [_quantile(s, REFERENCE_QUANTILE) for s in samples]
    rounds = len(samples[0])
    return [median(s[r] / ref if ref > 0 else 1.0 for s, ref in zip(samples, refs)) for r in range(rounds)]


def quiet_rounds(samples: Sequence[Sequence[float]], tolerance: float | None = QUIET_TOLERANCE,
                 min_kept: int = 10) -> QuietRounds:
    """Which rounds of an interleaved group (samples[i][r]: operator i, round r) ran in the fast state."""
    taken = len(samples[0]) if samples else 0
    if any(len(s) != taken for s in samples):
        raise ValueError("every operator of an interleaved group needs one sample per round")
    if tolerance is None or len(samples) < MIN_OPERATORS or taken <= min_kept:
        return QuietRounds(tuple(range(taken)), taken, None)
    index = state_index(samples)
    kept = [r for r, v in enumerate(index) if v <= 1 + tolerance]
    if len(kept) >= min_kept:
        return QuietRounds(tuple(kept), taken, tolerance)
    lowest = sorted(range(taken), key=lambda r: index[r])[:min_kept]
    return QuietRounds(tuple(sorted(lowest)), taken, tolerance, widened=True)
