"""Executes a run grid: for each cell build the model, take its deploy form, prepare it on the
device, measure it and store the result at once.

A cell that cannot run is still a result: `unsupported` (the device or impl cannot do it),
`oom` (out of memory; the batch is never shrunk), `error` (anything else, with the message),
or `numerics_mismatch` (mobile .pte outputs differ from eager; timed anyway, flagged).
"""
from __future__ import annotations

import gc
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

from bench import defaults
from bench.grid import Cell, GridSpec
from bench.guard import Guard, GuardSettings, kernel_factory_for
from bench.load import CellLoad, run_load_fields
from bench.store import ResultStore, new_run_id
from bench.timing import Measurement, Timer, measure
from devices.base import Device, UnsupportedCell
from devices.registry import machine_label


@dataclass(frozen=True)
class TimingSettings:
    """Keyword arguments of `bench.timing.measure` used for every cell of a run."""

    ci_target: float = defaults.CI_TARGET
    confidence: float = defaults.CONFIDENCE
    max_time_s: float = defaults.MAX_TIME_S
    max_iters: int = defaults.MAX_ITERS
    min_samples: int = defaults.MIN_SAMPLES
    warmup_cap: int = defaults.WARMUP_CAP
    warmup_max_time_s: float = defaults.WARMUP_MAX_TIME_S
    warmup_window: int = defaults.WARMUP_WINDOW
    warmup_tol: float = defaults.WARMUP_TOL

    def to_dict(self) -> dict[str, Any]:
        """The settings as measure() keyword arguments."""
        return asdict(self)


@dataclass
class CellOutcome:
    """What happened in one cell (stored as one result row)."""

    cell: Cell
    status: str
    message: str = ""
    family: str | None = None
    impl: str | None = None  # the HetConv impl(s) that actually ran
    measurement: Measurement | None = None
    costs: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunReport:
    """Summary of a grid run."""

    run_id: str
    resumed: bool
    cells_total: int
    cells_skipped: int
    outcomes: list[CellOutcome]


def has_hetconv(model_name: str) -> bool:
    """True for variants whose metadata says they contain HetConv layers (impl axis applies)."""
    from zoo.registry import get_meta

    return get_meta(model_name).hetconv_p is not None


class CostLookup:
    """MACs/params per model (per image, batch 1). Both are impl-invariant (paper formula,
    structural zeros excluded), so the committed declared-costs table is used when it has the
    model and fvcore counting (`bench.costs.model_costs`) otherwise; cached per model."""

    def __init__(self) -> None:
        from bench import declared

        self._declared = declared.load()
        self._cache: dict[str, dict[str, Any]] = {}

    def __call__(self, model_name: str, impl: str | None = None) -> dict[str, Any]:
        """{'macs': int, 'params': int} (values None, with 'costs_error', if counting failed)."""
        if model_name not in self._cache:
            row = self._declared.get(model_name)
            if row is not None:
                self._cache[model_name] = {"macs": row["macs"], "params": row["params"]}
            else:
                self._cache[model_name] = self._count(model_name, impl)
        return self._cache[model_name]

    @staticmethod
    def _count(model_name: str, impl: str | None) -> dict[str, Any]:
        from bench.costs import model_costs

        try:
            c = model_costs(model_name, impl=impl)
        except Exception as exc:  # noqa: BLE001 - a cost failure must not lose the latency result
            return {"macs": None, "params": None, "costs_error": f"{type(exc).__name__}: {exc}"[:200]}
        return {"macs": c.macs, "params": c.params}


def example_batch(model_name: str, batch: int) -> torch.Tensor:
    """Seeded random input of the variant's input size with `batch` images."""
    from zoo.registry import get_meta

    c, h, w = get_meta(model_name).input_size
    return torch.randn(batch, c, h, w, generator=torch.Generator().manual_seed(0))


def check_impl_supported(impl: str | None, device: Device) -> None:
    """UnsupportedCell when `impl` is a HetConv impl that only other devices provide
    (their `extra_hetconv_impls`, e.g. CUDA's 'grouped_streams')."""
    from devices.registry import device_classes

    if impl is None or impl in device.extra_hetconv_impls:
        return
    owners = [cls for cls in device_classes().values() if impl in cls.extra_hetconv_impls]
    if owners:
        where = ", ".join(f"{cls.display_title()} (--device {cls.name})" for cls in owners)
        raise UnsupportedCell(f"HetConv impl '{impl}' runs only on {where}; this device is {device.name}")


def _build_deploy(cell: Cell, device: Device) -> tuple[torch.nn.Module, str | None]:
    from zoo.layers.hetconv import hetconv_impls_in
    from zoo.layers.reparam import deploy_form
    from zoo.registry import get_model

    from zoo.sources import source_of

    check_impl_supported(cell.impl, device)
    if source_of(cell.model) is not None:  # a user model's deploy form is checked, not trusted
        return checked_deploy_form(cell.model), None
    try:
        model = deploy_form(get_model(cell.model), impl=cell.impl, inplace=True)
    except ValueError as exc:  # e.g. an impl whose channel constraints this variant breaks
        raise UnsupportedCell(str(exc)) from None
    impls = sorted(hetconv_impls_in(model))
    return model, (",".join(impls) or None)


class DeployMismatch(RuntimeError):
    """The deploy form (BN folded, re-parameterised) of a model computes something else than its train form."""


def checked_deploy_form(model_name: str, rtol: float = 1e-3) -> torch.nn.Module:
    """The deploy form of `model_name`, checked equal (eval mode) to its train form on a seeded input.

    Folding and `reparameterize` hooks of a model we did not write may be wrong or partial;
    timing a model that computes something else would be a silent lie, so it raises instead.
    """
    from zoo.layers import reparam
    from zoo.registry import get_model
    from zoo.sources import source_of

    train = get_model(model_name).eval()
    info = source_of(model_name)
    if info is not None and info.kind == "exported":
        return train  # an exported program is already the graph to deploy: nothing is transformed
    x = example_batch(model_name, 1)
    with torch.inference_mode():
        ref = train(x)
    deploy = reparam.deploy_form(train, inplace=False)
    with torch.inference_mode():
        out = deploy(x)
    err = float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-12))
    if not err <= rtol:
        raise DeployMismatch(f"deploy form differs from train form: max rel err {err:.2e} > {rtol:.0e}")
    return deploy


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _peak_memory(device: Device, prepared) -> dict[str, Any]:
    """The device's peak-memory fields for one call (before warm-up, so the timing core never sees
    the probe); a probe failure is recorded, never the cell's failure."""
    try:
        return device.peak_memory(prepared.run)
    except Exception as exc:  # noqa: BLE001 - memory is an extra; the latency result must survive
        return {"peak_mem_error": _one_line(exc)}


def run_cell(device: Device, cell: Cell, timing: TimingSettings, costs: CostLookup | None = None,
             timer: Timer | None = None, guard: Guard | None = None) -> CellOutcome:
    """Build, deploy, prepare and measure one cell; failures become a status, never an exception
    (KeyboardInterrupt excepted). With `guard`, the measurement is checked for contention and
    retried (`Guard.run`); its verdict goes into the result's `extra` (`contended`, ...)."""
    from zoo.registry import get_meta

    outcome = CellOutcome(cell=cell, status="error", family=get_meta(cell.model).family, impl=cell.impl)
    prepared = None
    try:
        outcome.costs = costs(cell.model, cell.impl) if costs is not None else None
        model, outcome.impl = _build_deploy(cell, device)
        prepared = device.prepare(model, example_batch(cell.model, cell.batch), dtype=cell.dtype,
                                  layout=cell.layout, threads=cell.threads, compile=cell.compile)
        outcome.info = dict(prepared.info)
        source = _source_info(cell.model)
        if source:
            outcome.info["source"] = source
        outcome.info.update(_peak_memory(device, prepared))

        def measure_once() -> tuple[tuple[Measurement, CellLoad], float | None]:
            with CellLoad() as load:  # how busy the machine was: `bench compare` warns when the sides differ
                m = measure(prepared, timer=timer or device.timer(), **timing.to_dict())
            return (m, load), load.cpu_share

        if guard is None:
            (outcome.measurement, load), _ = measure_once()
        else:
            guarded = guard.run(cell.label(), measure_once, cell.threads, cell.dtype)
            outcome.measurement, load = guarded.value
            outcome.info.update(guarded.fields())
        outcome.info.update(load.fields())
        outcome.status = "ok"
        if prepared.numerics is not None:
            outcome.info["numerics_rel_err"] = prepared.numerics.rel_err
            if not prepared.numerics.ok:
                outcome.status = "numerics_mismatch"
                outcome.message = (f"outputs differ from eager: rel err {prepared.numerics.rel_err:.2e} > "
                                   f"{prepared.numerics.tolerance:.0e}")
    except UnsupportedCell as exc:
        outcome.status, outcome.message = "unsupported", str(exc)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded as the cell's result
        outcome.status = "oom" if device.is_oom(exc) else "error"
        outcome.message = _one_line(exc)
    finally:
        if prepared is not None:
            prepared.close()
        prepared = model = None  # noqa: F841 - drop references before the next cell allocates
        gc.collect()
        device.cleanup()
    return outcome


def _source_info(model_name: str) -> dict[str, Any] | None:
    from zoo.registry import get_meta
    from zoo.sources import source_of

    info = source_of(model_name)
    if info is None:
        return None
    meta = get_meta(model_name)
    # a later `bench report` runs in a process where this user model is not registered: keep its accuracy here
    return {**info.to_dict(), "top1": meta.reported.top1, "top1_source": meta.reported.source,
            "dataset": meta.dataset}


def store_outcome(store: ResultStore, run_id: str, o: CellOutcome) -> int:
    """Write one outcome as a result row (with raw samples); returns result_id."""
    m = o.measurement
    extra = dict(o.info)
    if o.costs and o.costs.get("costs_error"):
        extra["costs_error"] = o.costs["costs_error"]
    if m is not None:
        extra.update(warmup_steady=m.warmup_steady, warmup_ms=[round(t, 4) for t in m.warmup_ms],
                     sampling_s=round(m.elapsed_s, 3))
    return store.add_result(run_id, o.cell, m.stats if m else None, m.samples_ms if m else None, o.costs,
                            status=o.status, message=o.message, family=o.family, impl=o.impl,
                            warmup_iters=m.warmup_iters if m else None, stop_reason=m.stop_reason if m else None,
                            extra=extra)


def run_settings(spec: GridSpec, timing: TimingSettings, device_options: dict[str, Any],
                 guard: GuardSettings | None = None) -> dict[str, Any]:
    """The settings stored with a run (and matched by --resume); `guard` only when the guard is on."""
    settings = {"grid": spec.to_dict(), "timing": timing.to_dict(), "device_options": device_options}
    if guard is not None and guard.enabled:
        settings["guard"] = guard.to_dict()
    return settings


def make_guard(store: ResultStore, run_id: str, device: Device, settings: GuardSettings | None) -> Guard | None:
    """The run's guard (None when off), storing every reading in the run's calibration series."""
    if settings is None or not settings.enabled:
        return None
    from bench import guard_store

    return Guard(settings, kernel_factory_for(device.name, device), host_bound=device.name != "cuda",
                 on_reading=lambda r: guard_store.add_reading(store, run_id, r))


def _run_cells(store: ResultStore, run_id: str, device: Device, cells: list[Cell], todo: list[Cell],
               timing: TimingSettings, guard: GuardSettings | None, progress: bool,
               on_cell: Callable[[CellOutcome], None] | None) -> list[CellOutcome]:
    """Measure and store each cell of `todo` (a progress bar counts all `cells`); the outcomes."""
    from tqdm import tqdm

    costs, timer = CostLookup(), device.timer()
    guard_ = make_guard(store, run_id, device, guard)
    if guard_ is not None and todo:
        guard_.baseline(todo[0].threads, todo[0].dtype)  # at the start of the run, before any model loads
    outcomes = []
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc=f"bench run {device.name}", unit="cell",
               file=sys.stderr, disable=None if progress else True, dynamic_ncols=True)
    with bar:
        for cell in todo:
            bar.set_postfix_str(cell.label())
            outcome = run_cell(device, cell, timing, costs, timer, guard_)
            store_outcome(store, run_id, outcome)
            outcomes.append(outcome)
            if on_cell is not None:
                on_cell(outcome)
            bar.update(1)
    return outcomes


def run_grid(store: ResultStore, device: Device, spec: GridSpec, timing: TimingSettings, *,
             resume: bool = False, device_options: dict[str, Any] | None = None, progress: bool = True,
             on_cell: Callable[[CellOutcome], None] | None = None, guard: GuardSettings | None = None) -> RunReport:
    """Run every cell of `spec` on `device`, committing each result as it finishes.

    With `resume`, the newest run with the same target, machine and settings is continued and
    its finished cells are skipped; if there is none, a new run starts. With `guard` (enabled),
    the calibration baseline is taken before the first cell and every cell is guarded (`bench.guard`).
    The run is claimed for this process while it is written (`ResultStore.claim_run`): a second
    process resuming it at the same time gets `RunBusyError` (one line, exit 2) before measuring.
    """
    settings = run_settings(spec, timing, device_options or {}, guard)
    fingerprint = {**device.fingerprint(threads=spec.threads[0] if len(spec.threads) == 1 else None),
                   **run_load_fields()}  # load: a jitter field, reported by `bench compare`, never matched
    run_id = None
    if resume:
        run_id = store.latest_matching_run(device.name, settings, machine_label(device.name, fingerprint))
        if run_id is None:
            print("bench: nothing to resume with these settings; starting a new run", file=sys.stderr)
    resumed = run_id is not None
    if run_id is None:
        run_id = new_run_id()
    # claimed before the run row exists and before its finished cells are read, so a concurrent
    # --resume either sees this writer (and is refused) or finds every cell this one stored
    store.claim_run(run_id)
    try:
        if not resumed:
            store.start_run(device.name, fingerprint, settings, run_id=run_id)
        cells = spec.cells(has_hetconv)
        done = store.finished_cells(run_id) if resumed else set()
        todo = [c for c in cells if c.key() not in done]
        outcomes = _run_cells(store, run_id, device, cells, todo, timing, guard, progress, on_cell)
        store.finish_run(run_id)
    finally:
        store.release_run(run_id)
    return RunReport(run_id=run_id, resumed=resumed, cells_total=len(cells), cells_skipped=len(cells) - len(todo),
                     outcomes=outcomes)
