"""Verdict logic of the HetConv claim study, separate from measuring so it can be tested on
synthetic samples.

A verdict says "supported" or "refuted" only when the evidence is statistically significant
in every case it covers (Mann-Whitney U p < alpha AND the bootstrap CI of the ratio of medians
excludes 1); significant evidence both ways is "mixed"; no significant difference anywhere is
"inconclusive"; nothing measured is "not measured".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median
from typing import Sequence

from itertools import permutations

import numpy as np
from scipy.stats import rankdata

from bench.significance import compare_samples

SUPPORTED, REFUTED, MIXED, INCONCLUSIVE, NOT_MEASURED = "supported", "refuted", "mixed", "inconclusive", "not measured"
ALPHA = 0.01


@dataclass(frozen=True)
class Timed:
    """Latency samples of one operator on one case (shape and batch)."""

    case: str  # e.g. "C256 H8 b1"
    label: str
    macs: int
    samples_ms: tuple[float, ...]
    note: str = ""  # why the samples may be too few for a verdict (shown when a pair is not significant)

    @property
    def p50(self) -> float:
        """Median latency, ms."""
        return median(self.samples_ms)


@dataclass
class Verdict:
    """One row of the verdict table."""

    claim: str
    measured: str
    verdict: str
    evidence: list[str] = field(default_factory=list)
    # effect sizes behind the verdict: "case: candidate / reference" -> ratio of medians (repeats compare them)
    ratios: dict[str, float] = field(default_factory=dict)


def pair_ratios(pairs: Sequence[tuple[Timed, Timed]]) -> dict[str, float]:
    """Ratio of medians (candidate / reference) per compared pair, keyed "case: candidate / reference"."""
    return {f"{c.case}: {c.label} / {r.label}": c.p50 / r.p50 for c, r in pairs if r.p50 > 0}


def faster_verdict(pairs: Sequence[tuple[Timed, Timed]], alpha: float = ALPHA) -> tuple[str, list[str]]:
    """Is the first of each (candidate, reference) pair faster than the second?

    supported: significantly faster in every pair; refuted: significantly slower in every pair;
    mixed: significant both ways, or significant in some pairs only; inconclusive: never significant.
    """
    if not pairs:
        return NOT_MEASURED, []
    faster = slower = 0
    lines = []
    for cand, ref in pairs:
        t = compare_samples(ref.samples_ms, cand.samples_ms)  # ratio = cand / ref
        sig = t.significant(alpha)
        if sig and t.ratio < 1:
            faster += 1
        elif sig and t.ratio > 1:
            slower += 1
        why = "; ".join(dict.fromkeys(n for n in (cand.note, ref.note) if n))
        lines.append(f"{cand.case}: {cand.label} {cand.p50:.4g} ms vs {ref.label} {ref.p50:.4g} ms, "
                     f"ratio {t.ratio:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}], p={t.p_value:.2g}"
                     f"{'' if sig else ' (not significant' + (f': {why}' if why else '') + ')'}")
    n = len(pairs)
    return _tally(n, faster, slower, lines,
                  f"faster in {faster}/{n}, slower in {slower}/{n} cases (significant at p<{alpha})")


def _tally(n: int, pro: int, con: int, lines: list[str], mixed_summary: str) -> tuple[str, list[str]]:
    """Verdict from counts of significant cases for (`pro`) and against (`con`) out of `n`."""
    if pro == n:
        return SUPPORTED, lines
    if con == n:
        return REFUTED, lines
    if pro == 0 and con == 0:
        return INCONCLUSIVE, lines
    return MIXED, [mixed_summary] + lines


def spearman_exact(x: Sequence[float], y: Sequence[float], max_exact: int = 8, n_random: int = 20000,
                   seed: int = 0) -> tuple[float, float]:
    """Spearman's rho with a two-sided permutation p-value: exact over all n! orderings for
    n <= `max_exact`, else from `n_random` seeded random permutations.

    The t-approximation scipy uses by default reports p = 0 for a perfect order of 3 points,
    where the exact chance of that order is 1/6 each way.
    """
    rx = rankdata(x) - (len(x) + 1) / 2
    ry = rankdata(y) - (len(y) + 1) / 2
    denom = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    if denom == 0:
        return 0.0, 1.0
    rho = float((rx * ry).sum() / denom)
    if len(ry) <= max_exact:
        perms = np.array(list(permutations(ry)))
    else:
        rng = np.random.default_rng(seed)
        perms = np.array([rng.permutation(ry) for _ in range(n_random)])
    null = perms @ rx / denom
    p = float(np.mean(np.abs(null) >= abs(rho) - 1e-12))
    return rho, p


def trend_verdict(series: dict[str, list[tuple[int, float]]], alpha: float = 0.05) -> tuple[str, list[str]]:
    """Does the value grow with the key (e.g. speed-up with P) in each case?

    `series` maps a case to (key, value) points. Per case: Spearman rho and its p-value.
    supported: rho > 0 significant in every case; refuted: rho < 0 significant in every case.
    """
    if not series:
        return NOT_MEASURED, []
    up = down = 0
    lines = []
    for case, pts in series.items():
        if len(pts) < 3:
            lines.append(f"{case}: fewer than 3 points")
            continue
        keys, vals = zip(*sorted(pts))
        rho, p = spearman_exact(keys, vals)
        sig = p < alpha
        up += sig and rho > 0
        down += sig and rho < 0
        lines.append(f"{case}: rho={rho:+.2f} p={p:.2g} speed-ups " + ", ".join(f"P{k}:{v:.2f}x" for k, v in zip(keys, vals)))
    n = len(series)
    return _tally(n, up, down, lines, f"grows in {up}/{n}, shrinks in {down}/{n} cases (significant at p<{alpha})")


def exact_verdict(checks: Sequence[tuple[str, float, float]], rel_tol: float = 1e-9) -> tuple[str, list[str]]:
    """(what, expected, got) triples: supported when all equal within rel_tol, else refuted."""
    if not checks:
        return NOT_MEASURED, []
    bad = [c for c in checks if abs(c[2] - c[1]) > rel_tol * max(abs(c[1]), 1e-30)]
    lines = [f"{w}: formula {e:.6g}, counted {g:.6g}" for w, e, g in checks]
    return (REFUTED if bad else SUPPORTED), lines
