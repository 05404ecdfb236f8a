"""Verdict logic of the HetConv claim study, separate from measuring so it can be tested on
synthetic samples.

Every speed claim of the study is directional: "the candidate is faster than the reference"
(HetConv P4 than a standard conv, PC than DWC+PWC, ...). Per pair (`pair_outcome`) the samples
say "faster", "slower", "equivalent" or "undecided": faster/slower need statistically
significant evidence (Mann-Whitney U p < alpha AND the bootstrap CI of the ratio of medians
excludes 1) AND an effect beyond a practical margin (`PRACTICAL_MARGIN`, 2 %: the bootstrap 95 %
CI of the ratio lies entirely beyond 1/1.02 or 1.02); "equivalent" when the (1 - 2 alpha) CI lies
inside [1/1.02, 1.02] (two one-sided tests).

A claim (`faster_verdict`) asks one thing of each pair: is the candidate faster by more than the
margin? "for" = shown faster; "against" = a speed-up beyond the margin is ruled out (the lower
end of the (1 - 2 alpha) CI is at or above 1/1.02: one one-sided test at alpha; slower and
equivalent pairs are against, and so is a pair 2-3 % slower whose CI still reaches into the
band); else undecided. supported: for in every pair; refuted: for in none and against in at
least one (each claim speaks of every case it covers, so a counterexample refutes it; the
evidence says how many pairs were against, slower, within the margin, or undecided);
equivalent: every pair within ±2 %; mixed: for in some pairs, not in others; inconclusive:
none decided; not measured: nothing measured.

Why the margin: a significant 1 % difference is real on that machine that day, but it flips
sides between reruns (a cache layout, a frequency step); a claim about speed needs an effect a
rerun keeps. Why "against" is one-sided: a ratio of 1.02-1.03 sits on the margin of "slower"
and flips between slower and undecided across reruns, but it is never near "faster": the claim
is refuted by every rerun. The study (`bench.claims.sequential`) adds rounds to a group while one
of its pairs is undecided, and then splits alpha across its looks (`alpha = ALPHA / looks`), so
the criterion is never loosened.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median
from typing import Sequence

from itertools import permutations

import numpy as np
from scipy.stats import rankdata

from bench.significance import RatioTest, bootstrap_ratio_ci, compare_samples

SUPPORTED, REFUTED, MIXED, INCONCLUSIVE, NOT_MEASURED = "supported", "refuted", "mixed", "inconclusive", "not measured"
EQUIVALENT = "equivalent"  # every case within ±PRACTICAL_MARGIN (shown by two one-sided tests)
ALPHA = 0.01
PRACTICAL_MARGIN = 0.02  # effects within ±2 % are neither "faster" nor "slower" (ratio band [1/1.02, 1.02])
# per-pair outcomes
FASTER, SLOWER, SAME, UNDECIDED = "faster", "slower", "equivalent", "undecided"
# resamples of the equivalence CI: its tails are at alpha / looks (e.g. 0.33 %), which needs more than the default
EQUIVALENCE_BOOT = 4000


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


@dataclass(frozen=True)
class PairOutcome:
    """How one (candidate, reference) pair came out: FASTER, SLOWER, SAME (within the margin) or UNDECIDED.

    `test` is the significance test (ratio = candidate / reference, 95 % CI); `equivalence_ci` the
    (1 - 2 alpha) CI the equivalence test used (None when the pair was decided without it).
    """

    outcome: str
    test: RatioTest
    significant: bool
    equivalence_ci: tuple[float, float] | None = None


def margin_band(margin: float = PRACTICAL_MARGIN) -> tuple[float, float]:
    """The ratios that count as "the same" within ±margin, symmetric in log: [1/(1+m), 1+m]."""
    return 1 / (1 + margin), 1 + margin


def pair_outcome(cand_ms: Sequence[float], ref_ms: Sequence[float], alpha: float = ALPHA,
                 margin: float = PRACTICAL_MARGIN) -> PairOutcome:
    """Decide one pair (ratio = median(cand) / median(ref)).

    FASTER / SLOWER: significant at `alpha` (`RatioTest.significant`, unchanged) and the 95 % CI lies
    entirely beyond the margin band; SAME: the (1 - 2 alpha) bootstrap CI lies inside the band (two
    one-sided tests at `alpha`); else UNDECIDED (more samples may decide it).
    """
    t = compare_samples(ref_ms, cand_ms)
    sig = t.significant(alpha)
    lo_band, hi_band = margin_band(margin)
    if sig and t.ci_high < lo_band:
        return PairOutcome(FASTER, t, sig)
    if sig and t.ci_low > hi_band:
        return PairOutcome(SLOWER, t, sig)
    eq = bootstrap_ratio_ci(ref_ms, cand_ms, confidence=1 - 2 * alpha, n_boot=EQUIVALENCE_BOOT)
    same = eq[0] >= lo_band and eq[1] <= hi_band
    return PairOutcome(SAME if same else UNDECIDED, t, sig, eq)


def rules_out_faster(o: PairOutcome, margin: float = PRACTICAL_MARGIN) -> bool:
    """True when a speed-up of the candidate beyond the margin is ruled out: the pair is slower or
    equivalent, or the lower end of its (1 - 2 alpha) CI is at or above 1/(1 + margin) (one-sided at alpha)."""
    if o.outcome in (SLOWER, SAME):
        return True
    return o.outcome == UNDECIDED and o.equivalence_ci is not None and o.equivalence_ci[0] >= margin_band(margin)[0]


def _pair_line(cand: Timed, ref: Timed, o: PairOutcome, margin: float) -> str:
    """One evidence line: medians, ratio with its CI and p, and why the pair is not decided."""
    t = o.test
    line = (f"{cand.case}: {cand.label} {cand.p50:.4g} ms vs {ref.label} {ref.p50:.4g} ms, "
            f"ratio {t.ratio:.3f} [{t.ci_low:.3f}, {t.ci_high:.3f}], p={t.p_value:.2g}")
    why = "; ".join(dict.fromkeys(n for n in (cand.note, ref.note) if n))
    if o.outcome == SAME:
        return line + f" (equivalent within ±{margin:.0%})"
    if o.outcome == UNDECIDED and rules_out_faster(o, margin):
        lo = o.equivalence_ci[0] if o.equivalence_ci else float("nan")
        return line + (f" (not shown beyond ±{margin:.0%} either way, but a speed-up beyond it is ruled out: "
                       f"one-sided CI from {lo:.3f}{f'; {why}' if why else ''})")
    if o.outcome == UNDECIDED and o.significant:
        return line + f" (significant, but not shown beyond ±{margin:.0%}: undecided{f': {why}' if why else ''})"
    if o.outcome == UNDECIDED:
        return line + " (not significant" + (f": {why}" if why else "") + ")"
    return line


def faster_verdict(pairs: Sequence[tuple[Timed, Timed]], alpha: float = ALPHA,
                   margin: float = PRACTICAL_MARGIN) -> tuple[str, list[str]]:
    """Is the first of each (candidate, reference) pair faster than the second, by more than the margin?

    supported: faster beyond the margin in every pair (see `pair_outcome`); refuted: faster in no pair
    and a speed-up beyond the margin ruled out (`rules_out_faster`: slower, equivalent, or one-sided)
    in at least one: the claim speaks of every case, so a counterexample refutes it (the summary line
    counts the pairs against and undecided); equivalent: within ±margin in every pair; mixed: faster
    in some pairs and not in others (against or undecided); inconclusive: no pair decided either way.
    """
    if not pairs:
        return NOT_MEASURED, []
    outcomes = [pair_outcome(cand.samples_ms, ref.samples_ms, alpha, margin) for cand, ref in pairs]
    lines = [_pair_line(c, r, o, margin) for (c, r), o in zip(pairs, outcomes)]
    faster, slower, same = (sum(o.outcome == k for o in outcomes) for k in (FASTER, SLOWER, SAME))
    against = sum(rules_out_faster(o, margin) for o in outcomes)
    n = len(pairs)
    if same == n:
        return EQUIVALENT, lines
    summary = (f"faster in {faster}/{n}, slower in {slower}/{n}, within ±{margin:.0%} in {same}/{n} cases "
               f"(significant at p<{alpha:.2g} and beyond ±{margin:.0%}); a speed-up beyond ±{margin:.0%} "
               f"ruled out in {against}/{n}")
    if faster == 0 and against > 0:
        # a claim over every case is refuted by its counterexamples; the undecided cases are counted above
        return REFUTED, ([summary] if n > 1 else []) + lines
    return _tally(n, faster, against, lines, summary)


def _tally(n: int, pro: int, con: int, lines: list[str], mixed_summary: str) -> tuple[str, list[str]]:
    """Verdict from counts of decided cases for (`pro`) and against (`con`) out of `n`."""
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
