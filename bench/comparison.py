"""Statistics and verdicts: compare two runs cell by cell and decide which cells regressed.

For every cell present on both sides the comparison takes the ratio of medians NEW / BASE
and a 95 % CI of it, and gives a verdict:

- `slower` / `faster`: the evidence says there is a difference (the ratio's CI excludes 1,
  and, where samples are the unit, the Mann-Whitney U p-value is below alpha);
- `unchanged`: it does not;
- `inconclusive`: the sides are single, separately made runs. The spread between two
  processes' runs (machine state, neighbours, memory layout) is then unknown, and the
  within-run samples alone understate it badly: back-to-back A/A runs of identical code were
  called significantly different 7 times in 10. The ratio is reported, no verdict is drawn.
- `not comparable`: the cell is missing on one side, did not run (error, oom, ...), or has
  fewer than two samples.

Which CI, by how the samples were taken:
- several runs on each side: a two-level bootstrap (runs, then samples within each run),
  which carries the between-run spread; paired when the sides' runs were made side by side
  (`RunData.interleaved`, e.g. `bench regress` rounds);
- one run per side, taken interleaved with the other side's (turn by turn, one machine
  state): the flat bootstrap over samples, with the Mann-Whitney U test;
- one run on either side otherwise: `inconclusive` (see above).

A **regression** is a `slower` cell whose CI's lower bound exceeds 1 + threshold (default
5 %, with per-model overrides): the gate fails only when the evidence clears the threshold,
not when a point estimate does (+5.3 % with CI [+4.0 %, +6.3 %] does not fail a 5 % gate).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from scipy.stats import mannwhitneyu

from bench.cell import Cell, CellFields
from bench.errors import BenchError
from bench.fingerprint_match import FingerprintCheck, describe_fields, match_fingerprints
from bench.runs import CellData, RunData
from bench.significance import compare_samples, grouped_bootstrap_ratio_ci
from bench.thresholds import DEFAULT_THRESHOLD, Thresholds

DEFAULT_ALPHA = 0.01

VERDICT_SLOWER = "slower"
VERDICT_FASTER = "faster"
VERDICT_UNCHANGED = "unchanged"
VERDICT_INCONCLUSIVE = "inconclusive"
VERDICT_NOT_COMPARABLE = "not comparable"
VERDICTS = (VERDICT_SLOWER, VERDICT_FASTER, VERDICT_UNCHANGED, VERDICT_INCONCLUSIVE, VERDICT_NOT_COMPARABLE)

CI_RUNS = "rounds"  # two-level bootstrap over the pooled runs (the name predates `bench compare` pooling)
CI_SAMPLES = "samples"  # flat bootstrap over interleaved samples
CI_NONE = "none"  # no CI drawn (inconclusive, not comparable)

ADVICE_ONE_RUN = ("between-run variance cannot be estimated from one run per side: use `bench regress` "
                  "(both revisions interleaved, several rounds) or pool several runs per side "
                  "(`bench compare ID1,ID2,ID3 ID4,ID5,ID6` or --all-runs)")


@dataclass
class CellComparison(CellFields):
    """The verdict for one cell."""

    cell: Cell  # the compared cell (impl: the grid's requested impl)
    verdict: str
    impl: str | None = None  # the impl(s) that ran, "grouped -> masked" when it changed
    regression: bool = False
    threshold: float = DEFAULT_THRESHOLD
    base_ms: float | None = None
    new_ms: float | None = None
    ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    n_base: int = 0
    n_new: int = 0
    runs_base: int = 0
    runs_new: int = 0
    note: str = ""
    ci_method: str = CI_NONE

    @property
    def impl_requested(self) -> str | None:
        """The grid's impl (None: model default); part of the cell key."""
        return self.cell.impl

    def key(self) -> Cell:
        """The compared cell's identity (as CellData.key())."""
        return self.cell

    def to_row(self) -> dict[str, Any]:
        """Plain flat dict for rendering: the cell's fields, then the comparison's."""
        row = {**self.cell.to_dict(), **{k: v for k, v in asdict(self).items() if k != "cell"}}
        row["impl_requested"] = self.cell.impl
        return row


@dataclass
class Comparison:
    """The whole comparison: fingerprint check, per-cell verdicts and the settings used."""

    base: RunData
    new: RunData
    fingerprint: FingerprintCheck
    cells: list[CellComparison]
    default_threshold: float
    alpha: float
    forced: bool = False
    load_warning: str | None = None  # the sides ran under materially different load (bench.load)

    @property
    def regressions(self) -> list[CellComparison]:
        """Cells flagged as regressions."""
        return [c for c in self.cells if c.regression]

    @property
    def inconclusive(self) -> list[CellComparison]:
        """Cells without a verdict because each side is one separately made run."""
        return [c for c in self.cells if c.verdict == VERDICT_INCONCLUSIVE]

    def counts(self) -> dict[str, int]:
        """Number of cells per verdict (every verdict present, possibly 0)."""
        out = {v: 0 for v in VERDICTS}
        for c in self.cells:
            out[c.verdict] += 1
        return out

    def summary_line(self) -> str:
        """One line: verdict counts and the regression count with the gate's settings."""
        counts = self.counts()
        parts = ", ".join(f"{n} {v}" for v, n in counts.items())
        n_reg = len(self.regressions)
        return (f"{len(self.cells)} cell(s): {parts}; {n_reg} regression(s) "
                f"(threshold {self.default_threshold:.1%} on the CI's lower bound, alpha {self.alpha:g})")


def _not_comparable_reason(base: CellData | None, new: CellData | None) -> str:
    if base is None:
        return "only in NEW"
    if new is None:
        return "only in BASE"
    for side, cell in (("BASE", base), ("NEW", new)):
        if cell.status != "ok":
            return f"{side} {cell.status}" + (f": {cell.message}" if cell.message else "")
    for side, cell in (("BASE", base), ("NEW", new)):
        if len(cell.samples_ms) < 2:
            return f"{side} has {len(cell.samples_ms)} sample(s)"
    return ""


def _impl_label(base: CellData | None, new: CellData | None) -> str | None:
    ran = [c.impl_ran or c.impl for c in (base, new) if c is not None]
    if len(ran) == 2 and ran[0] != ran[1]:
        return f"{ran[0]} -> {ran[1]}"
    return ran[0] if ran else None


def _one_run_note(runs_base: int, runs_new: int) -> str:
    sides = "per side" if runs_base == runs_new == 1 else ("on BASE" if runs_base == 1 else "on NEW")
    return f"one run {sides}: {ADVICE_ONE_RUN}"


def compare_cell(base: CellData | None, new: CellData | None, threshold: float,
                 alpha: float = DEFAULT_ALPHA, *, interleaved: bool = False) -> CellComparison:
    """Verdict for one cell (either side may be missing).

    `interleaved`: the two sides' samples were taken turn by turn on one machine state (one
    process alternating calls, or `bench regress`'s paired rounds). Without it a side with a
    single run gives `inconclusive`.
    """
    ref = base or new
    assert ref is not None, "compare_cell needs at least one side"
    out = CellComparison(cell=ref.cell, verdict=VERDICT_NOT_COMPARABLE, impl=_impl_label(base, new),
                         threshold=threshold, n_base=len(base.samples_ms) if base else 0,
                         n_new=len(new.samples_ms) if new else 0, runs_base=base.runs if base else 0,
                         runs_new=new.runs if new else 0)
    reason = _not_comparable_reason(base, new)
    if reason:
        out.note = reason
        return out
    out.base_ms, out.new_ms = _median(base.samples_ms), _median(new.samples_ms)
    out.ratio = out.new_ms / out.base_ms
    if out.runs_base >= 2 and out.runs_new >= 2:
        # the CI must carry the spread between runs (processes), not only within them; runs are paired
        # (BASE and NEW run i were made side by side) only when the sides were interleaved
        out.ci_low, out.ci_high = grouped_bootstrap_ratio_ci([g for g in base.sample_groups() if g],
                                                             [g for g in new.sample_groups() if g],
                                                             paired=interleaved)
        out.p_value = float(mannwhitneyu(base.samples_ms, new.samples_ms, alternative="two-sided").pvalue)
        out.ci_method = CI_RUNS
        significant = out.p_value < alpha and (out.ci_low > 1.0 or out.ci_high < 1.0)
    elif interleaved:
        test = compare_samples(base.samples_ms, new.samples_ms)
        out.ci_low, out.ci_high, out.p_value = test.ci_low, test.ci_high, test.p_value
        out.ci_method = CI_SAMPLES
        significant = test.significant(alpha)
    else:
        out.verdict = VERDICT_INCONCLUSIVE
        out.note = _one_run_note(out.runs_base, out.runs_new)
        return out
    if significant:
        out.verdict = VERDICT_SLOWER if out.ratio > 1 else VERDICT_FASTER
    else:
        out.verdict = VERDICT_UNCHANGED
    out.regression = out.verdict == VERDICT_SLOWER and out.ci_low > 1 + threshold
    if out.verdict == VERDICT_SLOWER and not out.regression:
        if out.ratio > 1 + threshold:
            out.note = (f"CI reaches below the {threshold:.1%} threshold (lower bound {out.ci_low - 1:+.1%}): "
                        "not established")
        else:
            out.note = f"within the {threshold:.1%} threshold"
    elif out.verdict == VERDICT_UNCHANGED and out.ratio > 1 + threshold:
        out.note = "slower beyond threshold but not significant (noisy)"
    return out


def _median(xs: Sequence[float]) -> float:
    import numpy as np

    return float(np.median(np.asarray(xs, dtype=float)))


def _side_load(side: RunData) -> tuple[list[float], list[float]]:
    """A side's load readings: per cell where recorded, else the runs' fingerprint reading."""
    loads = [x for c in side.cells.values() for x in c.load_avg_1m]
    shares = [x for c in side.cells.values() for x in c.cpu_share]
    if not loads and isinstance(side.fingerprint.get("load_avg_1m"), (int, float)):
        loads = [float(side.fingerprint["load_avg_1m"])]
    return loads, shares


def side_load_warning(base: RunData, new: RunData) -> str | None:
    """`bench.load.load_warning` for two sides (None when they ran under similar load or did not record it)."""
    from bench.load import load_warning

    (lb, sb), (ln, sn) = _side_load(base), _side_load(new)
    cores = base.fingerprint.get("cores_logical") or new.fingerprint.get("cores_logical")
    return load_warning(lb, ln, sb, sn, cores if isinstance(cores, int) else None)


def compare_runs(base: RunData, new: RunData, thresholds: Thresholds | None = None, alpha: float = DEFAULT_ALPHA,
                 force: bool = False) -> Comparison:
    """Compare NEW against BASE cell by cell.

    Raises BenchError (exit 2) when the targets or fingerprints differ (unless `force`) or
    when the runs share no cell. The sides count as interleaved when both are.
    """
    thresholds = thresholds or Thresholds()
    if not 0 < alpha < 1:
        raise BenchError(f"--alpha: {alpha} must be between 0 and 1")
    check = match_fingerprints(base.fingerprint, new.fingerprint)
    if base.target != new.target and not force:
        raise BenchError(f"BASE ran on target '{base.target}' and NEW on '{new.target}': not comparable "
                         "(--force to compare anyway)")
    if not check.ok and not force:
        raise BenchError(f"fingerprints differ, not comparable: {describe_fields(check.differing)} "
                         "(--force to compare anyway)")
    keys = list(dict.fromkeys([*base.cells, *new.cells]))
    if not set(base.cells) & set(new.cells):
        raise BenchError(f"BASE ({base.label}) and NEW ({new.label}) have no cell in common "
                         "(model, batch, dtype, layout, impl, threads, compile)")
    interleaved = base.interleaved and new.interleaved
    cells = [compare_cell(base.cells.get(k), new.cells.get(k), thresholds.for_model(k.model), alpha,
                          interleaved=interleaved) for k in keys]
    cells.sort(key=lambda c: (not c.regression, c.model, c.batch, c.dtype, c.layout, str(c.impl), c.threads or 0))
    return Comparison(base=base, new=new, fingerprint=check, cells=cells, default_threshold=thresholds.default,
                      alpha=alpha, forced=force and not check.ok, load_warning=side_load_warning(base, new))
