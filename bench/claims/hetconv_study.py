"""Measuring the HetConv paper's claims: layer sweep, network level, counters and depth.

Every group (the operators of one case, i.e. shape and batch, or the network models of one
batch) is measured twice, interleaved (A B C A B C ...) so drift hits all alike:

1. a short calibration pass over every candidate (every exact HetConv impl per P) picks the
   impl each P is compared with, and gives the time of one round;
2. a fresh measurement of the chosen impls and the references. Comparing the minimum of several
   medians would bias every speed-up upward; the chosen impl's latency here is an unbiased sample.

The fresh pass gets `min_samples` rounds (what a ratio-of-medians verdict needs), its time budget
grown to fit them up to `case_max_time_s`; a case that cannot fit them gets fewer and its verdict
evidence says so. Then, while a pair the verdicts compare in that group is undecided (neither
decided beyond the practical margin nor shown equivalent within it), the group gets more rounds,
up to `looks` looks, `max_rounds` rounds and `extend_max_time_s` seconds (`bench.claims.sequential`);
every look, and the verdict, tests at ALPHA / looks. Results are matched to operators by index only,
never by the order in which the timing core happened to call them. Verdicts come from
`bench.claims.verdicts` and are only "supported"/"refuted" on significant evidence beyond the margin.
"""
from __future__ import annotations

import time
from dataclasses import replace
from contextlib import contextmanager
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Callable, Iterator, Sequence

import torch

from bench.claims.base import OnResult, Progress, StudyCell
from bench.claims.depth import sequential_depth
from bench.claims.hetconv_config import StudyConfig, resolve_part
from bench.claims.layer_ops import KERNEL, LayerOp
from bench.claims.sequential import extend_until_decided, look_alpha
from bench.claims.verdicts import (ALPHA, NOT_MEASURED, Timed, Verdict, exact_verdict, faster_verdict, pair_ratios,
                                   trend_verdict)
from bench.quiet_rounds import QuietRounds, quiet_rounds
from bench.timing import Measurement, measure_interleaved
from zoo.layers.hetconv import hetconv_macs

# Device-specific HetConv impls (Device.extra_hetconv_impls) and the exact impl each is compared with.
EXTRA_IMPL_BASELINE = {"grouped_streams": "grouped"}
CALIBRATION = "calibration"
ONLY_IMPL = "only impl"
CALIBRATION_CI = 1.0  # the calibration pass stops after its fixed number of rounds, not on precision
ROUND_MARGIN = 1.25  # budget slack for rounds slower than the calibration's median round


@dataclass
class LayerResult:
    """One operator measured on one case.

    `chosen_by` is set on the HetConv impl a P is compared with ("calibration", or "only impl"
    when there was one candidate); `note` says why the case may have too few rounds for a verdict.
    """

    channels: int
    size: int
    batch: int
    op: LayerOp
    macs: int  # per image, paper counting
    depth: int
    samples_ms: list[float]  # the quiet rounds' (bench.quiet_rounds)
    chosen_by: str = ""
    note: str = ""
    rounds_taken: int = 0  # rounds timed, quiet or not (0: not recorded)

    @property
    def case(self) -> str:
        """Case label, e.g. 'C256 H8 b1'."""
        return f"C{self.channels} H{self.size} b{self.batch}"

    def timed(self) -> Timed:
        """As verdict input."""
        return Timed(self.case, self.op.label, self.macs, tuple(self.samples_ms), self.note)


@dataclass
class NetworkResult:
    """One zoo model measured at one batch size."""

    model: str
    batch: int
    macs: int
    depth: int
    samples_ms: list[float]  # the quiet rounds' (bench.quiet_rounds)
    note: str = ""
    rounds_taken: int = 0  # rounds timed, quiet or not (0: not recorded)

    def timed(self) -> Timed:
        """As verdict input."""
        return Timed(f"network b{self.batch}", self.model, self.macs, tuple(self.samples_ms), self.note)


@dataclass
class StudyResult:
    """Everything one study measured, plus its verdicts.

    `calibration` holds the calibration pass of every layer case (not compared in any verdict);
    `extra_impls` the device-specific HetConv impls the target offered.
    """

    config: StudyConfig
    target: str
    fingerprint: dict[str, Any]
    layers: list[LayerResult] = field(default_factory=list)
    networks: list[NetworkResult] = field(default_factory=list)
    calibration: list[LayerResult] = field(default_factory=list)
    counter_checks: list[tuple[str, float, float]] = field(default_factory=list)
    extra_impls: tuple[str, ...] = ()
    verdicts: list[Verdict] = field(default_factory=list)
    elapsed_s: float = 0.0
    op_breakdown: Any = None  # bench.claims.hetconv_ops.OpSection, or None


def parts_for(channels: int, cfg: StudyConfig) -> list[int]:
    """The HetConv parts P measured at one width (P = M resolved; P > M dropped)."""
    return sorted({resolve_part(p, channels) for p in cfg.parts if resolve_part(p, channels) <= channels})


def ops_for(channels: int, cfg: StudyConfig, extra_impls: tuple[str, ...] = ()) -> list[LayerOp]:
    """Every candidate at one width: standard, HetConv per P in every exact impl and every extra
    impl of the device, GWC(P)+PWC, DWC+PWC. The calibration pass measures all of them."""
    ops = [LayerOp("standard")]
    parts = parts_for(channels, cfg)
    for p in parts:
        ops += [LayerOp("hetconv", p, impl) for impl in cfg.impls + tuple(extra_impls)]
    # GWC with 1 group is a standard conv + PWC and with M groups it is DWC+PWC: both covered
    ops += [LayerOp("gwc_pwc", p) for p in parts if 1 < p < channels]
    ops.append(LayerOp("dwc_pwc"))
    return ops


def choose_impls(candidates: list[LayerOp], calibration_ms: list[float],
                 exact_impls: tuple[str, ...]) -> dict[int, tuple[LayerOp, str]]:
    """Per P, the exact HetConv impl with the lowest calibration median, and how it was chosen."""
    by_part: dict[int, list[tuple[float, LayerOp]]] = {}
    for op, ms in zip(candidates, calibration_ms):
        if op.kind == "hetconv" and op.impl in exact_impls:
            by_part.setdefault(op.part, []).append((ms, op))
    return {p: (min(c, key=lambda t: t[0])[1], CALIBRATION if len(c) > 1 else ONLY_IMPL)
            for p, c in by_part.items()}


def compared_ops(candidates: list[LayerOp], chosen: dict[int, tuple[LayerOp, str]],
                 extra_impls: tuple[str, ...]) -> list[tuple[LayerOp, str]]:
    """The operators of the fresh measurement, with how each HetConv one was chosen ("" if not):
    the references, each P's chosen impl, and each extra impl with the exact impl it is compared with."""
    picked = {op for op, _ in chosen.values()}
    out: list[tuple[LayerOp, str]] = []
    for op in candidates:
        if op.kind != "hetconv":
            out.append((op, ""))
        elif op in picked:
            out.append((op, chosen[op.part][1]))
        elif op.impl in extra_impls:
            out.append((op, ""))
            base = LayerOp("hetconv", op.part, EXTRA_IMPL_BASELINE.get(op.impl, ""))
            if base.impl and base not in picked and all(base != o for o, _ in out):
                out.append((base, ""))
    return out


def plan_rounds(round_s: float, cfg: StudyConfig) -> tuple[int, float]:
    """(rounds, sampling budget in s) of a fresh measurement whose rounds take about `round_s`.

    `min_samples` rounds within `group_max_time_s` if they fit, else a budget grown to fit them up
    to `case_max_time_s`, else as many rounds as fit the cap (at least `calibration_samples`).
    """
    need = cfg.min_samples * round_s * ROUND_MARGIN
    if need <= cfg.group_max_time_s:
        return cfg.min_samples, cfg.group_max_time_s
    if need <= cfg.case_max_time_s:
        return cfg.min_samples, need
    fit = int(cfg.case_max_time_s / (round_s * ROUND_MARGIN))
    return max(cfg.calibration_samples, min(fit, cfg.min_samples)), cfg.case_max_time_s


def rounds_note(rounds: int, round_s: float, cfg: StudyConfig) -> str:
    """Why a group has fewer rounds than a verdict needs ("" when it has enough)."""
    if rounds >= cfg.min_samples:
        return ""
    return (f"only {rounds} rounds, fewer than the {cfg.min_samples} a verdict needs: one interleaved round takes "
            f"about {round_s:.2g} s and a case is capped at {cfg.case_max_time_s:g} s")


def counter_checks(cfg: StudyConfig) -> list[tuple[str, float, float]]:
    """MACs formula vs an independent count: fvcore on the literal `branches` impl, whose
    dense convs execute exactly the operator's multiply-adds."""
    from bench.costs import count_module

    checks = []
    for channels, size in cfg.shapes[:2]:
        x = torch.randn(1, channels, size, size)
        std = LayerOp("standard").paper_macs(channels, size)
        for part in sorted({resolve_part(p, channels) for p in cfg.parts}):
            model = LayerOp("hetconv", part, "branches").build(channels)
            counted = count_module(model, x)["executed_macs"]
            formula = hetconv_macs(channels, channels, KERNEL, part, size, size)
            checks.append((f"C{channels} H{size} P{part} MACs", formula, counted))
            checks.append((f"C{channels} H{size} P{part} ratio to standard",
                           1 / part + (1 - 1 / part) / KERNEL ** 2, counted / std))
    return checks


@contextmanager
def _prepared(device, modules: list[torch.nn.Module], example: torch.Tensor) -> Iterator[list[Callable[[], Any]]]:
    """The modules prepared once for both passes of a group (exporting/compiling can be slow); closed after."""
    prepared = []
    try:
        for m in modules:
            prepared.append(device.prepare(m, example))
        yield [p.run for p in prepared]
    finally:
        for p in prepared:
            p.close()
        device.cleanup()


def _time(device, fns: list[Callable[[], Any]], cfg: StudyConfig, *, min_samples: int, max_time_s: float,
          ci_target: float, min_time_s: float = 0.0) -> list[Measurement]:
    """One interleaved group; Measurement i belongs to fns[i], whatever order the rounds ran in."""
    return measure_interleaved(fns, timer=device.timer(), ci_target=ci_target, min_samples=min_samples,
                               max_iters=max(2000, min_samples), max_time_s=max_time_s,
                               warmup_max_time_s=cfg.warmup_max_time_s, min_time_s=min_time_s)


def _calibrate(device, fns, cfg: StudyConfig) -> list[Measurement]:
    """The calibration pass, on its quiet rounds: sampled at least `group_min_time_s` like a fresh pass, so
    the impl it picks is the fastest in the machine's fast state, not in whichever state a few rounds
    happened to catch (a 3-round pass once picked an impl 20 % slower than the usual pick)."""
    meas = _time(device, fns, cfg, min_samples=cfg.calibration_samples,
                 max_time_s=max(cfg.calibration_max_time_s, cfg.group_min_time_s), ci_target=CALIBRATION_CI,
                 min_time_s=cfg.group_min_time_s)
    return _keep_quiet(meas, cfg, min_kept=cfg.calibration_samples)


def layer_pairs(ops: list[tuple[LayerOp, str]], channels: int, cfg: StudyConfig) -> list[tuple[int, int]]:
    """(candidate, reference) indices into `ops` of the pairs the verdicts compare in one layer group:
    each P's chosen impl vs standard (P < M, and PC), PC vs DWC+PWC, and grouped_streams vs its baseline."""
    index = {op: i for i, (op, _) in enumerate(ops)}
    std = next((i for op, i in index.items() if op.kind == "standard"), None)
    dwc = next((i for op, i in index.items() if op.kind == "dwc_pwc"), None)
    vs_std = {resolve_part(p, channels) for p in cfg.parts if p != 1 and (p == 0 or resolve_part(p, channels) < channels)}
    pairs = []
    for i, (op, how) in enumerate(ops):
        if op.kind != "hetconv":
            continue
        if how and op.part in vs_std and std is not None:
            pairs.append((i, std))
        if how and op.part == channels and dwc is not None:
            pairs.append((i, dwc))
        base = LayerOp("hetconv", op.part, EXTRA_IMPL_BASELINE.get(op.impl, ""))
        if base.impl and base in index:
            pairs.append((i, index[base]))
    return pairs


def network_pairs(names: list[str]) -> list[tuple[int, int]]:
    """The pair the verdicts compare in a network group: VGG-16 CIFAR PC vs DWC+PWC, when both are measured."""
    if "vgg16_cifar_pc" in names and "vgg16_cifar_dwc_pwc" in names:
        return [(names.index("vgg16_cifar_pc"), names.index("vgg16_cifar_dwc_pwc"))]
    return []


def _quiet(samples: Sequence[Sequence[float]], cfg: StudyConfig, min_kept: int | None = None) -> QuietRounds:
    """The quiet rounds of a group (bench.quiet_rounds) under the study's rule; at least `min_kept`
    (default `min_samples`) rounds are kept."""
    at_least = cfg.min_samples if min_kept is None else min_kept
    return quiet_rounds(samples, cfg.quiet_tolerance, min_kept=min(at_least, len(samples[0])))


def _quiet_samples(cfg: StudyConfig) -> Callable[[Sequence[Sequence[float]]], list[list[float]]]:
    """A sequential look's view of a group: its quiet rounds' samples."""
    def select(samples: Sequence[Sequence[float]]) -> list[list[float]]:
        q = _quiet(samples, cfg)
        return [q.select(s) for s in samples]
    return select


def _keep_quiet(meas: list[Measurement], cfg: StudyConfig, min_kept: int | None = None) -> list[Measurement]:
    """The group's Measurements on their quiet rounds; the other rounds' samples go to `extra['set_aside_ms']`
    (stored, never dropped) and `extra` says how many rounds were taken and kept."""
    if not meas:
        return meas
    q = _quiet([m.samples_ms for m in meas], cfg, min_kept)
    out = []
    for m in meas:
        m2 = replace(m, samples_ms=q.select(m.samples_ms), extra=dict(m.extra))
        m2.extra.update({"rounds_taken": q.taken, "rounds_kept": len(q.kept), "quiet_tolerance": q.tolerance,
                         "quiet_widened": q.widened, "set_aside_ms": q.set_aside(m.samples_ms)})
        out.append(m2)
    return out


def _extend(device, fns, cfg: StudyConfig, meas: list[Measurement],
            pairs: list[tuple[int, int]]) -> tuple[list[Measurement], str]:
    """More rounds while a pair is undecided on the quiet rounds (bench.claims.sequential); the
    Measurements with every round's samples, and a note when a pair stayed undecided."""
    if not meas or not pairs:
        return meas, ""

    def more(rounds: int, budget_s: float) -> list[list[float]]:
        # exactly `rounds` rounds (the CI rule must not stop an extension early); one warm-up round
        got = measure_interleaved(fns, timer=device.timer(), ci_target=0.0, min_samples=min(rounds, 2),
                                  max_iters=rounds, max_time_s=budget_s, warmup_cap=1,
                                  warmup_max_time_s=cfg.warmup_max_time_s)
        return [m.samples_ms for m in got]

    seq = extend_until_decided([m.samples_ms for m in meas], pairs, more, looks=cfg.looks, growth=cfg.growth,
                               max_rounds=cfg.max_rounds, max_time_s=cfg.extend_max_time_s,
                               select=_quiet_samples(cfg))
    out = []
    for m, s in zip(meas, seq.samples):
        m2 = replace(m, samples_ms=s, elapsed_s=m.elapsed_s + seq.extension_s, extra=dict(m.extra))
        m2.extra.update({"looks": seq.looks, "sequential_stop": seq.stop})
        out.append(m2)
    return out, seq.note()


def _time_planned(device, fns, cfg: StudyConfig, round_s: float, guard: Any = None,
                  label: str = "", pairs: list[tuple[int, int]] | None = None) -> tuple[list[Measurement], str]:
    """The group's fresh samples on its quiet rounds (bench.quiet_rounds), extended while one of `pairs`
    is undecided; with `guard` (bench.guard.Guard) checked before and after, retried while contended,
    and every Measurement's `extra` says how the guard judged it and how many rounds were kept."""
    rounds, budget = plan_rounds(round_s, cfg)
    seq_note = [""]

    def once() -> tuple[list[Measurement], None]:
        meas = _time(device, fns, cfg, min_samples=rounds, max_time_s=max(budget, cfg.group_min_time_s),
                     ci_target=cfg.ci_target, min_time_s=cfg.group_min_time_s)
        meas, seq_note[0] = _extend(device, fns, cfg, meas, pairs or [])
        return _keep_quiet(meas, cfg), None

    if guard is None:
        meas, _ = once()
        note = ""
    else:
        guarded = guard.run(label, once, None)  # threads: those the command set for the study
        meas = guarded.value
        for m in meas:
            m.extra.update(guarded.fields())
        note = f"contended ({'; '.join(guarded.reasons)})" if guarded.contended else ""
    taken = meas[0].extra.get("rounds_taken", len(meas[0].samples_ms)) if meas else 0
    notes = [n for n in (rounds_note(taken, round_s, cfg), seq_note[0], note) if n]
    return meas, "; ".join(notes)


def _ignore(*_args: Any) -> None:
    """No sink given."""


def run_layer_sweep(device, cfg: StudyConfig, extra_impls: tuple[str, ...] = (), on_result: OnResult | None = None,
                    progress: Progress | None = None, guard: Any = None) -> tuple[list[LayerResult], list[LayerResult]]:
    """Calibrate, then time, every case (shape, batch); returns (compared results, calibration results)."""
    on_result, progress = on_result or _ignore, progress or _ignore
    out: list[LayerResult] = []
    calibration: list[LayerResult] = []
    for channels, size in cfg.shapes:
        candidates = ops_for(channels, cfg, extra_impls)
        # an extra impl's exact baseline may be outside the config's impls: build it up front
        extra_bases = [LayerOp("hetconv", op.part, EXTRA_IMPL_BASELINE[op.impl]) for op in candidates
                       if op.impl in extra_impls and op.impl in EXTRA_IMPL_BASELINE]
        everything = candidates + [op for op in dict.fromkeys(extra_bases) if op not in candidates]
        modules = {op: op.build(channels) for op in everything}
        depths = {op: sequential_depth(m) for op, m in modules.items()}
        for batch in cfg.batches:
            x = torch.randn(batch, channels, size, size)
            label = f"C{channels}xH{size}"
            with _prepared(device, [modules[op] for op in everything], x) as fns:
                run_of = dict(zip(everything, fns))
                progress(f"layers C{channels} H{size} b{batch}: calibrating {len(candidates)} operators")
                cal = _calibrate(device, [run_of[op] for op in candidates], cfg)
                cal_ms = dict(zip(candidates, (median(m.samples_ms) for m in cal)))
                for op, m in zip(candidates, cal):
                    calibration.append(LayerResult(channels, size, batch, op, op.paper_macs(channels, size),
                                                   depths[op], m.samples_ms,
                                                   rounds_taken=m.extra.get("rounds_taken", 0)))
                    on_result(StudyCell(f"{CALIBRATION}:layer:{op.label}@{label}", "hetconv_layer", batch,
                                        op.impl or None, op.paper_macs(channels, size)), m)
                chosen = choose_impls(candidates, [cal_ms[op] for op in candidates], cfg.impls)
                ops = compared_ops(candidates, chosen, extra_impls)
                round_s = sum(cal_ms.get(op, 0.0) for op, _ in ops) / 1000
                progress(f"layers C{channels} H{size} b{batch}: {len(ops)} operators")
                meas, note = _time_planned(device, [run_of[op] for op, _ in ops], cfg, round_s, guard,
                                           f"layers C{channels} H{size} b{batch}", layer_pairs(ops, channels, cfg))
            for (op, how), m in zip(ops, meas):
                res = LayerResult(channels, size, batch, op, op.paper_macs(channels, size), depths[op], m.samples_ms,
                                  chosen_by=how, note=note, rounds_taken=m.extra.get("rounds_taken", 0))
                out.append(res)
                on_result(StudyCell(f"layer:{op.label}@{label}", "hetconv_layer", batch, op.impl or None, res.macs), m)
    return out, calibration


def run_network_level(device, cfg: StudyConfig, on_result: OnResult | None = None,
                      progress: Progress | None = None, guard: Any = None) -> list[NetworkResult]:
    """Time the VGG-16 CIFAR variants, interleaved per batch size (a short calibration pass sizes the budget)."""
    import zoo
    from bench.costs import model_costs

    on_result, progress = on_result or _ignore, progress or _ignore
    names = list(cfg.network_models)
    modules = [zoo.deploy_form(zoo.get_model(n)) for n in names]
    depths = [sequential_depth(zoo.get_model(n)) for n in names]
    macs = [model_costs(n).macs for n in names]
    families = [zoo.get_meta(n).family for n in names]
    out = []
    for batch in cfg.network_batches:
        c, h, w = zoo.get_meta(names[0]).input_size
        x = torch.randn(batch, c, h, w)
        with _prepared(device, modules, x) as fns:
            progress(f"networks b{batch}: calibrating {len(names)} models")
            cal = _calibrate(device, fns, cfg)
            for n, fam, mac, m in zip(names, families, macs, cal):
                on_result(StudyCell(f"{CALIBRATION}:{n}", fam, batch, None, mac), m)
            round_s = sum(median(m.samples_ms) for m in cal) / 1000
            progress(f"networks b{batch}: {len(names)} models")
            meas, note = _time_planned(device, fns, cfg, round_s, guard, f"networks b{batch}", network_pairs(names))
        for n, fam, d, mac, m in zip(names, families, depths, macs, meas):
            out.append(NetworkResult(n, batch, mac, d, m.samples_ms, note, m.extra.get("rounds_taken", 0)))
            on_result(StudyCell(n, fam, batch, None, mac), m)
    return out


# -- verdicts ---------------------------------------------------------------------------------

def chosen_hetconv(layers: list[LayerResult], case: str, part: int) -> LayerResult | None:
    """The fresh measurement of the impl the calibration pass chose for P = `part` on `case`."""
    return next((r for r in layers if r.case == case and r.op.kind == "hetconv" and r.op.part == part
                 and r.chosen_by), None)


def _find(layers: list[LayerResult], case: str, kind: str) -> LayerResult | None:
    return next((r for r in layers if r.case == case and r.op.kind == kind), None)


def compute_verdicts(study: StudyResult) -> list[Verdict]:
    """The verdict table of the study (see the module docstring of bench.claims.verdicts)."""
    layers, nets = study.layers, study.networks
    alpha = look_alpha(ALPHA, study.config.looks)  # the samples were looked at up to `looks` times
    cases = sorted({r.case for r in layers}, key=lambda c: [int(t[1:]) for t in c.split()])
    verdicts = []

    v, ev = exact_verdict(study.counter_checks)
    verdicts.append(Verdict("MACs ratio to a standard conv is 1/P + (1 - 1/P)/K^2",
                            "fvcore count of the literal branches impl vs the formula", v, ev))

    parts = sorted({r.op.part for r in layers if r.op.kind == "hetconv" and r.op.part > 1})
    for p in sorted({p for p in study.config.parts if p != 1}, key=lambda p: p or 1 << 30):
        pairs = []
        for case in cases:
            channels = int(case.split()[0][1:])
            part = resolve_part(p, channels)
            het, std = chosen_hetconv(layers, case, part), _find(layers, case, "standard")
            if het and std and (p == 0 or part < channels):
                pairs.append((het.timed(), std.timed()))
        v, ev = faster_verdict(pairs, alpha)
        speed = [f"{c.case}: {c.label} latency {r.p50 / c.p50:.2f}x vs MACs {r.macs / c.macs:.2f}x "
                 f"(realised {(r.p50 / c.p50) / (r.macs / c.macs):.0%})" for c, r in pairs]
        name = "PC (P = M)" if p == 0 else f"P{p}"
        verdicts.append(Verdict(f"HetConv {name} is faster than a standard conv (its MACs saving turns into latency)",
                                "HetConv impl chosen per case by a calibration pass, then timed on fresh samples "
                                "vs standard conv; speed-up vs MACs speed-up", v, speed + ev, pair_ratios(pairs)))

    series: dict[str, list[tuple[int, float]]] = {}
    for case in cases:
        std = _find(layers, case, "standard")
        for p in sorted({r.op.part for r in layers if r.case == case and r.op.kind == "hetconv"}):
            het = chosen_hetconv(layers, case, p)
            if het and std:
                series.setdefault(case, []).append((p, median(std.samples_ms) / median(het.samples_ms)))
    v, ev = trend_verdict(series)
    verdicts.append(Verdict("Speed-up over a standard conv grows with P (paper Fig. 5)",
                            "Spearman rank correlation of P and latency speed-up, per case", v, ev))

    pairs = []
    for case in cases:
        channels = int(case.split()[0][1:])
        het, dwc = chosen_hetconv(layers, case, channels), _find(layers, case, "dwc_pwc")
        if het and dwc:
            pairs.append((het.timed(), dwc.timed()))
    net = {(r.model, r.batch): r for r in nets}
    for b in sorted({r.batch for r in nets}):
        if ("vgg16_cifar_pc", b) in net and ("vgg16_cifar_dwc_pwc", b) in net:
            pairs.append((net["vgg16_cifar_pc", b].timed(), net["vgg16_cifar_dwc_pwc", b].timed()))
    v, ev = faster_verdict(pairs, alpha)
    verdicts.append(Verdict("At matched MACs, HetConv (P = M) is faster than DWC+PWC",
                            "PC vs DWC+PWC per layer case and VGG-16 CIFAR network", v, ev, pair_ratios(pairs)))

    depth_het = sorted({r.depth for r in layers if r.op.kind == "hetconv"})
    depth_two = sorted({r.depth for r in layers if r.op.kind in ("dwc_pwc", "gwc_pwc")})
    if depth_het and depth_two:
        ok = depth_het == [1] and all(d == 2 for d in depth_two)
        v = "supported" if ok else "refuted"
        ev = [f"HetConv depth (all impls): {depth_het}", f"DWC+PWC / GWC+PWC depth: {depth_two}"]
        ev += [f"{r.model}: {r.depth} sequential layers" for r in nets if r.batch == min(r.batch for r in nets)]
    else:
        v, ev = NOT_MEASURED, []
    verdicts.append(Verdict("HetConv adds no sequential layer; DWC+PWC and GWC+PWC add one",
                            "conv layers on the longest path of the torch.fx graph", v, ev))

    b1 = [(h, d) for h, d in pairs if h.case.endswith("b1")]
    v, ev = faster_verdict(b1, alpha)
    verdicts.append(Verdict("The extra sequential layer of DWC+PWC shows in batch-1 latency",
                            "batch-1 cases of the matched-MACs comparison (PC vs DWC+PWC)", v, ev, pair_ratios(b1)))

    pairs = []
    for case in cases:
        for p in parts:
            s = next((r for r in layers if r.case == case and r.op.part == p and r.op.impl == "grouped_streams"), None)
            g = next((r for r in layers if r.case == case and r.op.part == p
                      and r.op.impl == EXTRA_IMPL_BASELINE["grouped_streams"]), None)
            if s and g:
                pairs.append((s.timed(), g.timed()))
    v, ev = faster_verdict(pairs, alpha)
    if v == NOT_MEASURED and "grouped_streams" not in study.extra_impls:
        offered = ", ".join(study.extra_impls) or "none"
        ev = ["needs a target that runs HetConv's two branches concurrently (a 'grouped_streams' impl in the "
              f"device's extra_hetconv_impls); target '{study.target}' offers none (extra impls: {offered})"]
    verdicts.append(Verdict("On CUDA, HetConv's two branches on separate streams beat one stream",
                            "grouped_streams vs grouped, per case and P", v, ev, pair_ratios(pairs)))
    return verdicts


def extra_impls_of(device) -> tuple[str, ...]:
    """The device-specific HetConv impls a device offers (`Device.extra_hetconv_impls`; none if absent)."""
    return tuple(getattr(device, "extra_hetconv_impls", ()) or ())


def run_hetconv_study(device, cfg: StudyConfig, on_result: OnResult | None = None, progress: Progress | None = None,
                      fingerprint: dict[str, Any] | None = None, guard: Any = None) -> StudyResult:
    """Run the whole study on `device` and compute verdicts.

    `fingerprint` is what the report names as the machine (default: the device's own, which the
    command passes with the thread count it set). With `guard` (bench.guard.Guard), every group's
    fresh samples are guarded against contention (calibration passes are not: they only pick impls).
    """
    t0 = time.perf_counter()
    extra = extra_impls_of(device)
    study = StudyResult(cfg, device.name, fingerprint if fingerprint is not None else device.fingerprint(),
                        extra_impls=extra)
    study.counter_checks = counter_checks(cfg)
    study.layers, study.calibration = run_layer_sweep(device, cfg, extra, on_result, progress, guard)
    study.networks = run_network_level(device, cfg, on_result, progress, guard)
    if cfg.op_case is not None:
        from bench.claims.hetconv_ops import measure_breakdown

        study.op_breakdown = measure_breakdown(device, cfg)
    study.verdicts = compute_verdicts(study)
    study.elapsed_s = time.perf_counter() - t0
    return study
