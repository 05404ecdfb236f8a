"""Per-layer time from torch.profiler: each op's self time goes to the innermost layer running it.

Every layer module gets a profiler range ("zb.layer:PATH") from forward hooks, and every
iteration a range ("zb.iter:I"). After the run, each profiler event is walked up its parents to
the innermost layer range and the enclosing iteration; its *self* CPU time is added there, so
nested aten calls are not counted twice and a layer reused several times in one pass gets the
sum of its calls. A layer range's own self time (Python between its ops, the hooks) counts for
that layer. The per-layer figure is the median over iterations.

Ops that OpenMP runs on worker threads are timed by the op that launched them on the calling
thread, so intra-op threads need no special handling. On cuda (`kernel_time`) the figure charged
is the device time of the kernels each op launched, not its CPU time: an iteration's time is then
the sum of its kernels (the GPU's busy time), and launch gaps count as nothing.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from statistics import median
from typing import Any, Callable

import torch.nn as nn

LAYER_PREFIX = "zb.layer:"
ITER_PREFIX = "zb.iter:"


@dataclass
class LayerTimes:
    """Median per-layer times (ms) over profiled iterations, and the iterations' own times."""

    layer_ms: dict[str, float]  # by module path ("" = the model)
    iter_ms: list[float]  # each profiled iteration's wall time as the profiler saw it
    unattributed_ms: float  # median per iteration of time inside an iteration but outside every layer
    iterations: int


def _hook_layers(model: nn.Module, paths: list[str]) -> list:
    import torch

    modules = dict(model.named_modules())
    hooks = []
    for path in paths:
        open_ranges: list = []

        def pre(_m, _inputs, path=path, open_ranges=open_ranges):
            rf = torch.autograd.profiler.record_function(LAYER_PREFIX + path)
            rf.__enter__()
            open_ranges.append(rf)

        def post(_m, _inputs, _out, open_ranges=open_ranges):
            open_ranges.pop().__exit__(None, None, None)

        hooks += [modules[path].register_forward_pre_hook(pre), modules[path].register_forward_hook(post)]
    return hooks


def _scope(event) -> tuple[str | None, int | None]:
    """(innermost layer path, iteration index) of a profiler event (None where absent)."""
    layer, node = None, event
    while node is not None:
        name = node.name
        if layer is None and name.startswith(LAYER_PREFIX):
            layer = name[len(LAYER_PREFIX):]
        elif name.startswith(ITER_PREFIX):
            return layer, int(name[len(ITER_PREFIX):])
        node = node.cpu_parent
    return layer, None


def profile_layers(model: nn.Module, run: Callable[[], Any], paths: list[str], iterations: int = 20,
                   skip: int = 2, kernel_time: bool = False) -> LayerTimes:
    """Profile `iterations` calls of `run` (one forward pass of `model`) with torch.profiler,
    charging self times to `paths` (layer module paths, "" = the model); the first `skip`
    profiled iterations (profiler start-up) are left out of the medians.

    `kernel_time` (cuda): the CUDA activity is recorded too and each op is charged the device time
    of the kernels it launched (the profiler links a kernel to its launching op by correlation id,
    so the op's layer scope holds although the kernel runs later); otherwise the op's CPU self time.
    """
    from torch.profiler import ProfilerActivity, record_function

    from devices.cpu import quiet_profiler

    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    hooks = _hook_layers(model, paths)
    total = iterations + skip
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if kernel_time else [])
    try:
        with quiet_profiler(activities=activities) as prof:
            for i in range(total):
                with record_function(f"{ITER_PREFIX}{i}"):
                    run()
            if kernel_time:
                import torch

                torch.cuda.synchronize()  # the last iteration's kernels end inside the trace
    finally:
        for h in hooks:
            h.remove()
    return charge_events(prof.events(), paths, total, skip, kernel_time)


def _device_us(ev, total: bool) -> float:
    # torch >= 2.4 names it device time; older releases cuda time
    name = ("device_time_total" if total else "self_device_time_total")
    if hasattr(ev, name):
        return getattr(ev, name)
    return getattr(ev, name.replace("device", "cuda"))


def charge_events(events, paths: list[str], total: int, skip: int, kernel_time: bool = False) -> LayerTimes:
    """LayerTimes from profiler events (`profile_layers`): each host-side event's self time (CPU, or
    with `kernel_time` the device time of the kernels it launched) to its innermost layer in its
    iteration. Device-side events (kernels, GPU copies of the ranges) are skipped: their time is
    already counted through the op that launched them."""
    per_iter: list[dict[str, float]] = [defaultdict(float) for _ in range(total)]
    iter_us = [0.0] * total
    outside_us = [0.0] * total
    for ev in events:
        if str(getattr(ev, "device_type", "DeviceType.CPU")).rsplit(".", 1)[-1] != "CPU":
            continue
        layer, it = _scope(ev)
        if it is None:
            continue
        own = _device_us(ev, total=False) if kernel_time else ev.self_cpu_time_total
        if ev.name.startswith(ITER_PREFIX):
            iter_us[it] = _device_us(ev, total=True) if kernel_time else ev.cpu_time_total
            outside_us[it] += own
        elif layer is None:
            outside_us[it] += own
        else:
            per_iter[it][layer] += own
    kept = range(skip, total)
    layer_ms = {p: median(per_iter[i].get(p, 0.0) for i in kept) / 1e3 for p in paths}
    return LayerTimes(layer_ms=layer_ms, iter_ms=[iter_us[i] / 1e3 for i in kept],
                      unattributed_ms=median(outside_us[i] for i in kept) / 1e3, iterations=total - skip)
