"""Measuring the HetConv paper's claims: layer sweep, network level, counters and depth.

Operators of one case (shape and batch) are timed interleaved (A B C A B C ...) so drift hits
all alike; the network-level models of one batch likewise. Verdicts come from
`bench.claims.verdicts` and are only "supported"/"refuted" on significant evidence.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Callable

import torch

from bench.claims.depth import sequential_depth
from bench.claims.hetconv_config import StudyConfig, resolve_part
from bench.claims.layer_ops import KERNEL, LayerOp
from bench.claims.verdicts import (NOT_MEASURED, Timed, Verdict, exact_verdict, faster_verdict, trend_verdict)
from bench.timing import Measurement, measure_interleaved
from zoo.layers.hetconv import hetconv_macs

OnResult = Callable[[dict[str, Any], Measurement], None]


@dataclass
class LayerResult:
    """One operator measured on one case."""

    channels: int
    size: int
    batch: int
    op: LayerOp
    macs: int  # per image, paper counting
    depth: int
    samples_ms: list[float]

    @property
    def case(self) -> str:
        """Case label, e.g. 'C256 H8 b1'."""
        return f"C{self.channels} H{self.size} b{self.batch}"

    def timed(self) -> Timed:
        """As verdict input."""
        return Timed(self.case, self.op.label, self.macs, tuple(self.samples_ms))


@dataclass
class NetworkResult:
    """One zoo model measured at one batch size."""

    model: str
    batch: int
    macs: int
    depth: int
    samples_ms: list[float]

    def timed(self) -> Timed:
        """As verdict input."""
        return Timed(f"network b{self.batch}", self.model, self.macs, tuple(self.samples_ms))


@dataclass
class StudyResult:
    """Everything one study measured, plus its verdicts."""

    config: StudyConfig
    target: str
    fingerprint: dict[str, Any]
    layers: list[LayerResult] = field(default_factory=list)
    networks: list[NetworkResult] = field(default_factory=list)
    counter_checks: list[tuple[str, float, float]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    elapsed_s: float = 0.0


def ops_for(channels: int, cfg: StudyConfig, impls: tuple[str, ...]) -> list[LayerOp]:
    """The operators compared at one width: standard, HetConv per P and impl, GWC(P)+PWC, DWC+PWC."""
    ops = [LayerOp("standard")]
    parts = sorted({resolve_part(p, channels) for p in cfg.parts if resolve_part(p, channels) <= channels})
    for p in parts:
        ops += [LayerOp("hetconv", p, impl) for impl in impls]
    # GWC with 1 group is a standard conv + PWC and with M groups it is DWC+PWC: both covered
    ops += [LayerOp("gwc_pwc", p) for p in parts if 1 < p < channels]
    ops.append(LayerOp("dwc_pwc"))
    return ops


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


def _measure(device, modules: list[torch.nn.Module], example: torch.Tensor, cfg: StudyConfig) -> list[Measurement]:
    prepared = [device.prepare(m, example) for m in modules]
    try:
        return measure_interleaved([p.run for p in prepared], timer=device.timer(), ci_target=cfg.ci_target,
                                   min_samples=cfg.min_samples, max_time_s=cfg.group_max_time_s,
                                   warmup_max_time_s=cfg.warmup_max_time_s)
    finally:
        for p in prepared:
            p.close()
        device.cleanup()


def run_layer_sweep(device, cfg: StudyConfig, impls: tuple[str, ...], on_result: OnResult | None = None,
                    progress: Callable[[str], None] | None = None) -> list[LayerResult]:
    """Time every operator of every case; one interleaved group per (shape, batch)."""
    out: list[LayerResult] = []
    for channels, size in cfg.shapes:
        ops = ops_for(channels, cfg, impls)
        modules = [op.build(channels) for op in ops]
        depths = [sequential_depth(m) for m in modules]
        for batch in cfg.batches:
            if progress:
                progress(f"layers C{channels} H{size} b{batch}: {len(ops)} operators")
            x = torch.randn(batch, channels, size, size)
            meas = _measure(device, modules, x, cfg)
            for op, depth, m in zip(ops, depths, meas):
                res = LayerResult(channels, size, batch, op, op.paper_macs(channels, size), depth, m.samples_ms)
                out.append(res)
                if on_result:
                    on_result({"model": f"layer:{op.label}@C{channels}xH{size}", "family": "hetconv_layer",
                               "batch": batch, "impl": op.impl or None, "macs": res.macs}, m)
    return out


def run_network_level(device, cfg: StudyConfig, on_result: OnResult | None = None,
                      progress: Callable[[str], None] | None = None) -> list[NetworkResult]:
    """Time the VGG-16 CIFAR variants, interleaved per batch size."""
    import zoo
    from bench.costs import model_costs

    names = list(cfg.network_models)
    modules = [zoo.deploy_form(zoo.get_model(n)) for n in names]
    depths = [sequential_depth(zoo.get_model(n)) for n in names]
    macs = [model_costs(n).macs for n in names]
    out = []
    for batch in cfg.network_batches:
        if progress:
            progress(f"networks b{batch}: {len(names)} models")
        c, h, w = zoo.get_meta(names[0]).input_size
        meas = _measure(device, modules, torch.randn(batch, c, h, w), cfg)
        for n, d, mac, m in zip(names, depths, macs, meas):
            out.append(NetworkResult(n, batch, mac, d, m.samples_ms))
            if on_result:
                on_result({"model": n, "family": zoo.get_meta(n).family, "batch": batch, "impl": None, "macs": mac}, m)
    return out


# -- verdicts ---------------------------------------------------------------------------------

def _best_hetconv(layers: list[LayerResult], case: str, part: int) -> LayerResult | None:
    cands = [r for r in layers if r.case == case and r.op.kind == "hetconv" and r.op.part == part
             and r.op.impl != "grouped_streams"]
    return min(cands, key=lambda r: median(r.samples_ms)) if cands else None


def _find(layers: list[LayerResult], case: str, kind: str) -> LayerResult | None:
    return next((r for r in layers if r.case == case and r.op.kind == kind), None)


def compute_verdicts(study: StudyResult) -> list[Verdict]:
    """The verdict table of the study (see the module docstring of bench.claims.verdicts)."""
    layers, nets = study.layers, study.networks
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
            het, std = _best_hetconv(layers, case, part), _find(layers, case, "standard")
            if het and std and (p == 0 or part < channels):
                pairs.append((het.timed(), std.timed()))
        v, ev = faster_verdict(pairs)
        speed = [f"{c.case}: {c.label} latency {r.p50 / c.p50:.2f}x vs MACs {r.macs / c.macs:.2f}x "
                 f"(realised {(r.p50 / c.p50) / (r.macs / c.macs):.0%})" for c, r in pairs]
        name = "PC (P = M)" if p == 0 else f"P{p}"
        verdicts.append(Verdict(f"HetConv {name} is faster than a standard conv (its MACs saving turns into latency)",
                                "best exact impl vs standard conv, per case; speed-up vs MACs speed-up", v, speed + ev))

    series: dict[str, list[tuple[int, float]]] = {}
    for case in cases:
        std = _find(layers, case, "standard")
        for p in sorted({r.op.part for r in layers if r.case == case and r.op.kind == "hetconv"}):
            het = _best_hetconv(layers, case, p)
            if het and std:
                series.setdefault(case, []).append((p, median(std.samples_ms) / median(het.samples_ms)))
    v, ev = trend_verdict(series)
    verdicts.append(Verdict("Speed-up over a standard conv grows with P (paper Fig. 5)",
                            "Spearman rank correlation of P and latency speed-up, per case", v, ev))

    pairs = []
    for case in cases:
        channels = int(case.split()[0][1:])
        het, dwc = _best_hetconv(layers, case, channels), _find(layers, case, "dwc_pwc")
        if het and dwc:
            pairs.append((het.timed(), dwc.timed()))
    net = {(r.model, r.batch): r for r in nets}
    for b in sorted({r.batch for r in nets}):
        if ("vgg16_cifar_pc", b) in net and ("vgg16_cifar_dwc_pwc", b) in net:
            pairs.append((net["vgg16_cifar_pc", b].timed(), net["vgg16_cifar_dwc_pwc", b].timed()))
    v, ev = faster_verdict(pairs)
    verdicts.append(Verdict("At matched MACs, HetConv (P = M) is faster than DWC+PWC",
                            "PC vs DWC+PWC per layer case and VGG-16 CIFAR network", v, ev))

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
    v, ev = faster_verdict(b1)
    verdicts.append(Verdict("The extra sequential layer of DWC+PWC shows in batch-1 latency",
                            "batch-1 cases of the matched-MACs comparison (PC vs DWC+PWC)", v, ev))

    pairs = []
    for case in cases:
        for p in parts:
            s = next((r for r in layers if r.case == case and r.op.part == p and r.op.impl == "grouped_streams"), None)
            g = next((r for r in layers if r.case == case and r.op.part == p and r.op.impl == "grouped"), None)
            if s and g:
                pairs.append((s.timed(), g.timed()))
    v, ev = faster_verdict(pairs)
    if v == NOT_MEASURED:
        ev = ["needs a CUDA device (two CUDA streams)"] if study.target != "cuda" else ev
    verdicts.append(Verdict("On CUDA, HetConv's two branches on separate streams beat one stream",
                            "grouped_streams vs grouped, per case and P", v, ev))
    return verdicts


def run_hetconv_study(device, cfg: StudyConfig, on_result: OnResult | None = None,
                      progress: Callable[[str], None] | None = None) -> StudyResult:
    """Run the whole study on `device` and compute verdicts."""
    t0 = time.perf_counter()
    impls = cfg.impls + (("grouped_streams",) if device.name == "cuda" else ())
    study = StudyResult(cfg, device.name, device.fingerprint())
    study.counter_checks = counter_checks(cfg)
    study.layers = run_layer_sweep(device, cfg, impls, on_result, progress)
    study.networks = run_network_level(device, cfg, on_result, progress)
    study.verdicts = compute_verdicts(study)
    study.elapsed_s = time.perf_counter() - t0
    return study
