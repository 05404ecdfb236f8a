"""Profile one model on a device: per-layer table, coverage against the timing core, roofline floor.

Order of work in one process: prepare the model as `bench run` does, measure its end-to-end p50
with the timing core (no hooks attached), trace it once for shapes and bytes and count its MACs
(`layers.analyse`), then profile `iterations` passes with torch.profiler (`attribution`).

- coverage = sum of the layers' median times / end-to-end p50; a figure near 1 says the layer
  times account for the latency (the profiler's own cost inflates it: see overhead);
- overhead = median profiled iteration / end-to-end p50 - 1: what the profiler and its hooks add;
- floor per layer = max(FLOPs / peak FLOP/s, bytes / bandwidth) with FLOPs = 2 x MACs (paper
  convention, so a HetConv layer's floor is that of its paper work); the model's floor is the
  sum of its layers' floors; % of floor = floor / measured time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median
from typing import Any

import torch
import torch.nn as nn

from bench.profiling.ceilings import Ceilings
from devices.base import DTYPES, Device, UnsupportedCell

# which targets have a per-layer profiler here, and why the others have none (yet)
PROFILERS = {"cpu": "torch.profiler (CPU activity), self time per op charged to its innermost layer",
             "cuda": "torch.profiler (CPU + CUDA activity), each op's kernel time charged to its innermost layer",
             "mobile": "ExecuTorch ETDump + devtools Inspector (bench.profiling.etdump), on this host"}
NO_PROFILER: dict[str, str] = {}
# targets whose layers are charged the device time of the kernels their ops launch (not CPU time)
KERNEL_TIME_TARGETS = frozenset({"cuda"})


@dataclass
class ProfileResult:
    """One model's profile: the layer rows and the summary (both JSON-friendly)."""

    model: str
    layers: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)


def check_profiler(target: str) -> None:
    """UnsupportedCell with the reason when `target` has no per-layer profiler here."""
    if target not in PROFILERS:
        raise UnsupportedCell(NO_PROFILER.get(target, f"no per-layer profiler for target '{target}'"))


def _floor_ms(flops: float, nbytes: float, ceilings: Ceilings | None) -> float | None:
    if ceilings is None:
        return None
    return max(flops / (ceilings.peak_gflops * 1e9), nbytes / (ceilings.bandwidth_gbs * 1e9)) * 1e3


def layer_rows(layers, times_ms: dict[str, float], ceilings: Ceilings | None) -> list[dict[str, Any]]:
    """Table rows: static facts of each layer plus its time, share, GFLOP/s, intensity and floor."""
    total = sum(times_ms.values()) or float("nan")
    rows = []
    for lay in layers:
        ms = times_ms.get(lay.module, 0.0)
        floor = _floor_ms(lay.flops, lay.bytes, ceilings)
        rows.append(dict(layer=lay.path, kind=lay.kind, in_shape=lay.in_shape, out_shape=lay.out_shape,
                         calls=lay.calls, macs=lay.macs, bytes=lay.bytes, ms=ms, pct=100 * ms / total,
                         gflops=lay.flops / (ms * 1e6) if ms > 0 else None,
                         intensity=lay.flops / lay.bytes if lay.bytes else None, floor_ms=floor,
                         pct_floor=100 * floor / ms if floor is not None and ms > 0 else None))
    return rows


def profile_module(model: nn.Module, example: torch.Tensor, device: Device, *, name: str = "model",
                   dtype: str = "fp32", threads: int | None = None, iterations: int = 20,
                   timing: dict[str, Any] | None = None, ceilings: Ceilings | None = None) -> ProfileResult:
    """Profile `model` (deploy form, fp32) on `device` at `example`'s batch; see the module docstring.

    `timing` are keyword arguments of `bench.timing.measure` for the end-to-end p50.
    """
    from bench.profiling.attribution import profile_layers
    from bench.profiling.fx_scopes import scoped
    from bench.profiling.layers import analyse
    from bench.timing import measure

    check_profiler(device.name)
    if device.name == "mobile":
        from bench.profiling.etdump import profile_pte

        if dtype != "fp32":
            raise UnsupportedCell("the mobile target runs fp32 .pte programs only")
        return profile_pte(model, example, device, name=name, threads=threads, iterations=iterations, timing=timing,
                           ceilings=ceilings)
    if dtype not in DTYPES:
        raise UnsupportedCell(f"unknown dtype '{dtype}'; choose from {', '.join(DTYPES)}")
    prepared = profiled = None
    try:
        prepared = device.prepare(model, example, dtype=dtype, threads=threads)
        m = measure(prepared, timer=device.timer(), **(timing or {}))
        p50 = m.stats.p50_ms
        used_threads = prepared.info.get("threads")
        prepared.close()
        # the same parameters, with FX-inlined ops called as modules of their original paths
        view = scoped(model)
        profiled = device.prepare(view, example, dtype=dtype, threads=threads)
        # fvcore counts on the model as prepared (its dtype); the MACs do not depend on it
        # on the model's own device (cuda), so fvcore's trace runs where the weights are
        where = next(view.parameters(), example).device
        layers = analyse(view, profiled.run, example.to(device=where, dtype=DTYPES[dtype]))
        times = profile_layers(view, profiled.run, [lay.module for lay in layers], iterations,
                               kernel_time=device.name in KERNEL_TIME_TARGETS)
    finally:
        for p in (prepared, profiled):
            if p is not None:
                p.close()
        device.cleanup()
    rows = layer_rows(layers, times.layer_ms, ceilings)
    layers_ms = sum(times.layer_ms.values())
    iter_ms = median(times.iter_ms)
    floor = sum(r["floor_ms"] for r in rows) if ceilings is not None else None
    summary = dict(
        batch=int(example.shape[0]), dtype=dtype, threads=used_threads, e2e_p50_ms=p50, e2e_samples=m.stats.samples,
        layers_ms=layers_ms, coverage=layers_ms / p50, profiled_iter_ms=iter_ms, profiler_overhead=iter_ms / p50 - 1,
        unattributed_ms=times.unattributed_ms, iterations=times.iterations, layers=len(rows),
        macs=sum(lay.macs for lay in layers), bytes=sum(lay.bytes for lay in layers),
        floor_ms=floor, pct_floor=100 * floor / p50 if floor is not None else None,
        peak_gflops=ceilings.peak_gflops if ceilings else None,
        bandwidth_gbs=ceilings.bandwidth_gbs if ceilings else None, profiler=PROFILERS[device.name])
    return ProfileResult(model=name, layers=rows, summary=summary)


def profile_model(name: str, device: Device, *, batch: int = 1, impl: str | None = None,
                  **kwargs: Any) -> ProfileResult:
    """Profile registered variant `name` in its deploy form (HetConv impl `impl` if given);
    keyword arguments as `profile_module`."""
    from bench.runner import check_impl_supported, example_batch
    from zoo.layers.hetconv import hetconv_impls_in
    from zoo.layers.reparam import deploy_form
    from zoo.registry import get_model

    check_profiler(device.name)
    check_impl_supported(impl, device)
    try:
        model = deploy_form(get_model(name), impl=impl, inplace=True)
    except ValueError as exc:
        raise UnsupportedCell(str(exc)) from None
    result = profile_module(model, example_batch(name, batch), device, name=name, **kwargs)
    result.summary["impl"] = ",".join(sorted(hetconv_impls_in(model))) or None
    return result
