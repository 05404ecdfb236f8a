"""Compare two benchmark runs cell by cell and decide which cells regressed.

A cell is one grid point: (model, batch, dtype, layout, impl, threads, compile). For every
cell present in both runs the comparison takes the ratio of medians NEW / BASE with a
bootstrap CI and a Mann-Whitney U p-value on the raw samples (`bench.significance`), and gives
a verdict:

- `slower` / `faster`: the two tests agree there is a difference (p < alpha and the ratio's
  CI excludes 1);
- `unchanged`: they do not;
- `not comparable`: the cell is missing on one side, did not run (error, oom, ...), or has
  fewer than two samples.

When both sides pool several runs (`bench regress` rounds), the CI is a two-level bootstrap
(rounds, then samples within each round), so a difference seen in one process only stays
inconclusive.

A **regression** is a `slower` cell whose ratio exceeds 1 + threshold (default 5 %, with
per-model overrides). Requiring both keeps the gate quiet on noise (a tiny but real
difference is significant with thousands of samples; a large one on three noisy samples is
not) and still catches a real 10 % slowdown.

Two runs are only comparable on the same machine and software stack: their fingerprints
must match, except for fields known to jitter between runs of the same setup (listed in
`JITTER_FIELDS`; differences there are reported as notes). Otherwise the comparison is
refused with the differing fields, unless forced.
"""
from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from bench.errors import BenchError
from bench.significance import RatioTest, compare_samples, grouped_bootstrap_ratio_ci

DEFAULT_THRESHOLD = 0.05
DEFAULT_ALPHA = 0.01
CELL_FIELDS = ("model", "batch", "dtype", "layout", "impl", "threads", "compile")

# Fingerprint fields that differ between two runs of the same code on the same machine, or that
# a comparison changes on purpose. They are reported, never a reason to refuse.
JITTER_FIELDS: dict[str, str] = {
    "cpu_freq_mhz": "instantaneous CPU clock reading",
    "cpu_freq_max_mhz": "reported by some VMs/containers as the current clock",
    "git_commit": "comparing revisions is the point",
    "threads": "a cell attribute, matched per cell",
    "memory_free_gb": "free memory at start",
    "memory_available_gb": "available memory at start",
    "load_avg": "system load at start",
    "uptime_s": "time since boot",
    "created_at": "date of the run",
    "date": "date of the run",
    "hostname": "CI runners of one pool share hardware, not names",
}

VERDICT_SLOWER = "slower"
VERDICT_FASTER = "faster"
VERDICT_UNCHANGED = "unchanged"
VERDICT_NOT_COMPARABLE = "not comparable"


@dataclass
class CellData:
    """One cell of one run: what ran and its raw samples (ms)."""

    model: str
    batch: int
    dtype: str
    layout: str
    impl: str | None  # requested impl (None: the model's own default)
    threads: int | None
    compile: bool
    status: str = "ok"
    message: str = ""
    impl_ran: str | None = None  # the HetConv impl(s) that actually ran
    samples_ms: list[float] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)  # sizes of the pooled runs' sample blocks (empty: one run)

    def sample_groups(self) -> list[list[float]]:
        """The samples split into the pooled runs they came from (one group when not pooled)."""
        if not self.groups:
            return [self.samples_ms]
        out, start = [], 0
        for size in self.groups:
            out.append(self.samples_ms[start:start + size])
            start += size
        return out

    def key(self) -> tuple:
        """Identity of the cell across runs."""
        return (self.model, self.batch, self.dtype, self.layout, self.impl, self.threads, self.compile)


@dataclass
class RunData:
    """One side of a comparison: a run (or several pooled runs) with its cells."""

    label: str  # where it came from, for messages ("run X in db.sqlite")
    run_ids: list[str]
    target: str
    fingerprint: dict[str, Any]
    git_commit: str | None
    created_at: str | None
    cells: dict[tuple, CellData]


@dataclass(frozen=True)
class FingerprintCheck:
    """Result of matching two fingerprints."""

    differing: dict[str, tuple[Any, Any]]  # field -> (base, new): the comparison is refused
    jittered: dict[str, tuple[Any, Any]]  # field -> (base, new): ignored, reported

    @property
    def ok(self) -> bool:
        """True when every field that matters matches."""
        return not self.differing


@dataclass
class CellComparison:
    """The verdict for one cell."""

    model: str
    batch: int
    dtype: str
    layout: str
    impl: str | None
    threads: int | None
    compile: bool
    verdict: str
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
    note: str = ""
    impl_requested: str | None = None  # the grid's impl (None: model default); part of the cell key
    ci_method: str = "samples"  # 'samples': flat bootstrap; 'rounds': two-level bootstrap over pooled runs

    def key(self) -> tuple:
        """The compared cell's identity (as CellData.key())."""
        return (self.model, self.batch, self.dtype, self.layout, self.impl_requested, self.threads, self.compile)

    def to_row(self) -> dict[str, Any]:
        """Plain dict for rendering."""
        return asdict(self)


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

    @property
    def regressions(self) -> list[CellComparison]:
        """Cells flagged as regressions."""
        return [c for c in self.cells if c.regression]

    def counts(self) -> dict[str, int]:
        """Number of cells per verdict (every verdict present, possibly 0)."""
        out = {v: 0 for v in (VERDICT_SLOWER, VERDICT_FASTER, VERDICT_UNCHANGED, VERDICT_NOT_COMPARABLE)}
        for c in self.cells:
            out[c.verdict] += 1
        return out

    def summary_line(self) -> str:
        """One line: verdict counts and the regression count with the gate's settings."""
        counts = self.counts()
        parts = ", ".join(f"{n} {v}" for v, n in counts.items())
        n_reg = len(self.regressions)
        return (f"{len(self.cells)} cell(s): {parts}; {n_reg} regression(s) "
                f"(threshold {self.default_threshold:.1%}, alpha {self.alpha:g})")


# -- thresholds -----------------------------------------------------------------------------

def parse_percent(text: Any, what: str) -> float:
    """'5%' -> 0.05, '0.05' / 0.05 -> 0.05; must lie in [0, 10) (0 % .. 1000 %)."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise BenchError(f"{what}: '{text}' is not a percentage like 5% or a fraction like 0.05") from None
    if not (0 <= value < 10) or math.isnan(value):
        raise BenchError(f"{what}: {text} must be between 0% and 1000%")
    return value


@dataclass(frozen=True)
class Thresholds:
    """Regression threshold per model: the default, or the first matching override pattern."""

    default: float = DEFAULT_THRESHOLD
    overrides: tuple[tuple[str, float], ...] = ()

    def for_model(self, model: str) -> float:
        """The threshold that applies to `model` (exact names win over wildcards, then first match)."""
        for pattern, value in self.overrides:
            if pattern == model:
                return value
        for pattern, value in self.overrides:
            if fnmatch.fnmatchcase(model, pattern):
                return value
        return self.default


def parse_override(text: str) -> tuple[str, float]:
    """'vgg16_cifar*=10%' -> ('vgg16_cifar*', 0.10)."""
    model, sep, pct = str(text).partition("=")
    if not sep or not model.strip() or not pct.strip():
        raise BenchError(f"--threshold-for: '{text}' is not MODEL=PCT (e.g. resnet20_cifar=10%)")
    return model.strip(), parse_percent(pct, f"--threshold-for {model.strip()}")


def load_threshold_file(path: str) -> dict[str, float]:
    """Per-model thresholds from a TOML or JSON file (by suffix): `{pattern = "10%", ...}`.

    The mapping is either the whole document or its `thresholds` table; a `default` key
    sets the default threshold.
    """
    import tomllib
    from pathlib import Path

    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise BenchError(f"--thresholds: cannot read {path} ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BenchError(f"--thresholds: {path} is not valid {p.suffix.lstrip('.').upper() or 'TOML'} ({exc})") from None
    if isinstance(doc, dict) and isinstance(doc.get("thresholds"), dict):
        doc = doc["thresholds"]
    if not isinstance(doc, dict) or any(isinstance(v, (dict, list)) for v in doc.values()):
        raise BenchError(f"--thresholds: {path} must map model names/wildcards to percentages, e.g. \"vgg*\" = \"10%\"")
    return {str(k): parse_percent(v, f"--thresholds {path}: {k}") for k, v in doc.items()}


def build_thresholds(default: str | float | None = None, overrides: Iterable[str] = (),
                     files: Iterable[str] = ()) -> Thresholds:
    """Thresholds from the CLI: files first, then --threshold-for (later wins), then --threshold."""
    table: dict[str, float] = {}
    for path in files:
        table.update(load_threshold_file(path))
    for text in overrides:
        model, value = parse_override(text)
        table[model] = value
    base = table.pop("default", DEFAULT_THRESHOLD)
    if default is not None:
        base = parse_percent(default, "--threshold")
    return Thresholds(default=base, overrides=tuple(table.items()))


# -- fingerprints ---------------------------------------------------------------------------

def match_fingerprints(base: Mapping[str, Any], new: Mapping[str, Any],
                       jitter: Iterable[str] = tuple(JITTER_FIELDS)) -> FingerprintCheck:
    """Split the fields where two fingerprints differ into refusing ones and known jitter."""
    ignored = set(jitter)
    differing, jittered = {}, {}
    for key in sorted(set(base) | set(new)):
        a, b = base.get(key), new.get(key)
        if a == b:
            continue
        (jittered if key in ignored else differing)[key] = (a, b)
    return FingerprintCheck(differing=differing, jittered=jittered)


def describe_fields(fields: Mapping[str, tuple[Any, Any]]) -> str:
    """'cpu_model: A -> B; torch: 2.1 -> 2.2' for messages."""
    return "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in ((k, *v) for k, v in fields.items()))


# -- pooling runs ---------------------------------------------------------------------------

def pool_runs(runs: Sequence[RunData], label: str) -> RunData:
    """Merge runs of the same revision (e.g. `bench regress` rounds): samples concatenated per cell.

    The runs must share a fingerprint (jitter fields aside). A cell that failed in any run
    keeps the first failure (status and message), since a flaky cell is not comparable.
    """
    if not runs:
        raise BenchError(f"{label}: no runs to pool")
    first = runs[0]
    cells: dict[tuple, CellData] = {}
    for run in runs:
        check = match_fingerprints(first.fingerprint, run.fingerprint)
        if not check.ok:
            raise BenchError(f"{label}: runs {first.run_ids[0]} and {run.run_ids[0]} differ in "
                             f"{describe_fields(check.differing)}")
        for key, cell in run.cells.items():
            have = cells.get(key)
            if have is None:
                cells[key] = CellData(**{**asdict(cell), "samples_ms": list(cell.samples_ms),
                                         "groups": [len(cell.samples_ms)]})
            elif have.status == "ok" and cell.status != "ok":
                have.status, have.message = cell.status, cell.message
            else:
                have.samples_ms.extend(cell.samples_ms)
                have.groups.append(len(cell.samples_ms))
    return RunData(label=label, run_ids=[rid for r in runs for rid in r.run_ids], target=first.target,
                   fingerprint=dict(first.fingerprint), git_commit=first.git_commit, created_at=first.created_at,
                   cells=cells)


# -- the comparison -------------------------------------------------------------------------

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


def compare_cell(base: CellData | None, new: CellData | None, threshold: float,
                 alpha: float = DEFAULT_ALPHA) -> CellComparison:
    """Verdict for one cell (either side may be missing)."""
    ref = base or new
    assert ref is not None, "compare_cell needs at least one side"
    out = CellComparison(model=ref.model, batch=ref.batch, dtype=ref.dtype, layout=ref.layout,
                         impl=_impl_label(base, new), threads=ref.threads, compile=ref.compile,
                         verdict=VERDICT_NOT_COMPARABLE, threshold=threshold,
                         n_base=len(base.samples_ms) if base else 0, n_new=len(new.samples_ms) if new else 0,
                         impl_requested=ref.impl)
    reason = _not_comparable_reason(base, new)
    if reason:
        out.note = reason
        return out
    test = compare_samples(base.samples_ms, new.samples_ms)
    if len(base.groups) > 1 and len(new.groups) > 1:
        # pooled rounds: the CI must carry the spread between rounds (processes), not only within them;
        # rounds are paired (BASE and NEW round i ran side by side) when both sides have as many
        lo, hi = grouped_bootstrap_ratio_ci([g for g in base.sample_groups() if g],
                                            [g for g in new.sample_groups() if g])
        test = RatioTest(test.ratio, lo, hi, test.p_value, test.n_a, test.n_b)
        out.ci_method = "rounds"
    out.base_ms, out.new_ms = float(_median(base.samples_ms)), float(_median(new.samples_ms))
    out.ratio, out.ci_low, out.ci_high, out.p_value = test.ratio, test.ci_low, test.ci_high, test.p_value
    if test.significant(alpha):
        out.verdict = VERDICT_SLOWER if test.ratio > 1 else VERDICT_FASTER
    else:
        out.verdict = VERDICT_UNCHANGED
    out.regression = out.verdict == VERDICT_SLOWER and test.ratio > 1 + threshold
    if out.verdict == VERDICT_SLOWER and not out.regression:
        out.note = f"within the {threshold:.1%} threshold"
    elif out.verdict == VERDICT_UNCHANGED and test.ratio > 1 + threshold:
        out.note = "slower beyond threshold but not significant (noisy)"
    return out


def _median(xs: Sequence[float]) -> float:
    import numpy as np

    return float(np.median(np.asarray(xs, dtype=float)))


def compare_runs(base: RunData, new: RunData, thresholds: Thresholds | None = None, alpha: float = DEFAULT_ALPHA,
                 force: bool = False) -> Comparison:
    """Compare NEW against BASE cell by cell.

    Raises BenchError (exit 2) when the targets or fingerprints differ (unless `force`) or
    when the runs share no cell.
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
    cells = [compare_cell(base.cells.get(k), new.cells.get(k), thresholds.for_model(k[0]), alpha) for k in keys]
    cells.sort(key=lambda c: (not c.regression, c.model, c.batch, c.dtype, c.layout, str(c.impl), c.threads or 0))
    return Comparison(base=base, new=new, fingerprint=check, cells=cells, default_threshold=thresholds.default,
                      alpha=alpha, forced=force and not check.ok)


# -- loading runs -----------------------------------------------------------------------------

def _requested_cell(record: Mapping[str, Any]) -> dict[str, Any]:
    """The cell as requested (from its `cell_key`), so a changed default impl still matches."""
    cell = {k: record.get(k) for k in CELL_FIELDS}
    try:
        cell.update({k: v for k, v in json.loads(record.get("cell_key") or "{}").items() if k in CELL_FIELDS})
    except (TypeError, ValueError):
        pass  # an imported row without a JSON cell key: its columns are all we have
    return cell


def cell_from_record(record: Mapping[str, Any], samples_ms: Sequence[float]) -> CellData:
    """A CellData from a results row (store frame record or JSON export result)."""
    cell = _requested_cell(record)
    threads = cell.get("threads")
    return CellData(model=str(cell["model"]), batch=int(cell["batch"]), dtype=str(cell["dtype"]),
                    layout=str(cell["layout"]), impl=cell.get("impl") or None,
                    threads=None if threads is None or _isnan(threads) else int(threads),
                    compile=bool(cell.get("compile")), status=str(record.get("status") or "ok"),
                    message=str(record.get("message") or ""), impl_ran=_none_if_nan(record.get("impl")),
                    samples_ms=[float(x) for x in samples_ms])


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _none_if_nan(v: Any) -> Any:
    return None if v is None or _isnan(v) else v


def run_from_store(store, run_id: str) -> RunData:
    """One run of a ResultStore, with raw samples."""
    info = store.run_info(run_id)
    if info is None:
        raise BenchError(f"no run '{run_id}' in {store.path}")
    df = store.results_frame(run_id=run_id)
    cells = {}
    for rec in df.to_dict("records"):
        cell = cell_from_record(rec, store.samples_for(int(rec["result_id"])))
        cells[cell.key()] = cell
    return RunData(label=f"run {run_id} in {store.path}", run_ids=[run_id], target=info["target"],
                   fingerprint=info["fingerprint"], git_commit=info.get("git_commit"),
                   created_at=info.get("created_at"), cells=cells)


def run_from_export(run: Mapping[str, Any], source: str) -> RunData:
    """One run of a JSON export document (`bench export` / ResultStore.export_json)."""
    cells = {}
    for res in run["results"]:
        cell = cell_from_record(res, res.get("samples_ms") or [])
        cells[cell.key()] = cell
    return RunData(label=f"run {run['run_id']} in {source}", run_ids=[run["run_id"]], target=run["target"],
                   fingerprint=dict(run["fingerprint"]), git_commit=run.get("git_commit"),
                   created_at=run.get("created_at"), cells=cells)


def run_ids_oldest_first(store) -> list[str]:
    """Run ids of a store by creation time, ties (same second) in insertion order."""
    return [r[0] for r in store.conn.execute("SELECT run_id FROM runs ORDER BY created_at, rowid")]


def latest_run_id(store) -> str:
    """The newest run of a store; BenchError when it has none."""
    ids = run_ids_oldest_first(store)
    if not ids:
        raise BenchError(f"{store.path} has no runs")
    return ids[-1]


def all_runs_in_store(path) -> list[RunData]:
    """Every run of an existing store file, oldest first."""
    from bench.store import open_existing

    with open_existing(path) as store:
        return [run_from_store(store, rid) for rid in run_ids_oldest_first(store)]
