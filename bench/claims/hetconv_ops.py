"""Per-op breakdown of the HetConv claim study: where the unrealised MACs saving goes.

At one representative case (`StudyConfig.op_case`, default C256 H14 batch 1) each operator (a
standard conv, HetConv P4 in every impl of the study, HetConv PC, DWC+PWC; deploy form, as in the
sweep) is timed end to end with the timing core, then profiled with torch.profiler (shapes
recorded). Each top-level op of a pass (an op no other op called) goes to one part:
- "KxK conv": convolutions with a KxK kernel (dense, grouped or depthwise);
- "1x1 conv": convolutions with a 1x1 kernel (HetConv's pointwise part, the PWC);
- "add": elementwise adds (HetConv's sum of its two parts; none in deploy forms that fold it);
- "other ops": everything else (copies, slices, concats, masks, BN left unfolded): memory-bound;
- "dispatch": the end-to-end p50 minus the parts' medians, i.e. Python and framework dispatch
  between the ops that the profiled op times do not hold (signed: the profiler inflates op times a
  little, so a tiny operator can read slightly negative).
Conv MACs are counted from the recorded shapes (output = input size: stride 1, "same" padding, as
in the study), so each part's achieved GFLOP/s can be set against the standard conv's.
CPU only (torch.profiler on the CPU); on other targets the section says it was not measured.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import torch

from bench.claims.layer_ops import LayerOp

PARTS = ("KxK conv", "1x1 conv", "add", "other ops")
CONV_OPS = ("aten::conv2d", "aten::convolution", "aten::_convolution", "aten::mkldnn_convolution")
ADD_OPS = ("aten::add", "aten::add_")
ITER = "zb.opiter:"


@dataclass
class OpBreakdown:
    """One operator at the op case: paper MACs (whole batch), p50, per-part medians and conv MACs."""

    op: LayerOp
    macs: int
    p50_ms: float
    parts_ms: dict[str, float]
    conv_macs: dict[str, int] = field(default_factory=dict)  # executed MACs of "KxK conv" / "1x1 conv"
    other_names: dict[str, float] = field(default_factory=dict)  # op name -> ms, for "other ops"

    @property
    def dispatch_ms(self) -> float:
        """p50 minus the parts (signed)."""
        return self.p50_ms - sum(self.parts_ms.values())

    def gflops(self, part: str) -> float | None:
        """Achieved GFLOP/s (2 x executed MACs / time) of a conv part, or None."""
        ms, macs = self.parts_ms.get(part, 0.0), self.conv_macs.get(part, 0)
        return 2 * macs / (ms * 1e6) if ms > 0 and macs else None


@dataclass
class OpSection:
    """The breakdown at one case, or why it was not measured."""

    case: tuple[int, int, int]  # channels, size, batch
    rows: list[OpBreakdown] = field(default_factory=list)
    skipped: str = ""


def breakdown_ops(channels: int, impls: tuple[str, ...]) -> list[LayerOp]:
    """standard, HetConv P4 in each impl, HetConv PC (grouped where studied, else the first impl), DWC+PWC."""
    pc_impl = "grouped" if "grouped" in impls else impls[0]
    ops = [LayerOp("standard")]
    if channels >= 4:
        ops += [LayerOp("hetconv", 4, impl) for impl in impls]
    ops += [LayerOp("hetconv", channels, pc_impl), LayerOp("dwc_pwc")]
    return ops


def _part_of(ev) -> tuple[str, int]:
    """(part, executed MACs) of a top-level profiler event."""
    if ev.name in CONV_OPS:
        shapes = [s for s in (ev.input_shapes or []) if s]
        if len(shapes) >= 2 and len(shapes[0]) == 4 and len(shapes[1]) == 4:
            (n, _c, h, w), (co, ci_g, kh, kw) = shapes[0], shapes[1]
            return ("1x1 conv" if kh == kw == 1 else "KxK conv"), n * co * h * w * ci_g * kh * kw
        return "KxK conv", 0
    if ev.name in ADD_OPS:
        return "add", 0
    return "other ops", 0


def profile_parts(run, iterations: int) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """(median ms per part, executed MACs per conv part, median ms per 'other' op name) over `iterations`
    profiled calls of `run` (one warm call first)."""
    from torch.profiler import record_function

    from devices.cpu import quiet_profiler

    run()
    with quiet_profiler(record_shapes=True) as prof:
        for i in range(iterations):
            with record_function(f"{ITER}{i}"):
                run()
    per_iter = [defaultdict(float) for _ in range(iterations)]
    others = [defaultdict(float) for _ in range(iterations)]
    macs: dict[str, int] = defaultdict(int)
    for ev in prof.events():
        parent = ev.cpu_parent
        if parent is None or not parent.name.startswith(ITER):
            continue  # not top-level inside an iteration (nested ops are in their caller's total)
        i = int(parent.name[len(ITER):])
        part, n = _part_of(ev)
        per_iter[i][part] += ev.cpu_time_total / 1e3
        if part == "other ops":
            others[i][ev.name] += ev.cpu_time_total / 1e3
        if i == 0 and n:
            macs[part] += n
    parts = {p: median(it.get(p, 0.0) for it in per_iter) for p in PARTS}
    names = {k for it in others for k in it}
    return parts, dict(macs), {k: median(it.get(k, 0.0) for it in others) for k in names}


def measure_breakdown(device, cfg) -> OpSection:
    """The section for `cfg.op_case` on `device` (skipped with the reason off the CPU)."""
    from bench.timing import measure

    case = cfg.op_case
    section = OpSection(case=case)
    if device.name != "cpu":
        section.skipped = f"the per-op breakdown uses torch.profiler on the CPU; not measured on {device.name}"
        return section
    channels, size, batch = case
    x = torch.randn(batch, channels, size, size)
    for op in breakdown_ops(channels, cfg.impls):
        prepared = device.prepare(op.build(channels), x)
        try:
            m = measure(prepared, timer=device.timer(), max_time_s=cfg.group_max_time_s / 4,
                        warmup_max_time_s=cfg.warmup_max_time_s, min_samples=cfg.calibration_samples)
            with torch.inference_mode():
                parts, macs, others = profile_parts(prepared.run, cfg.op_iterations)
        finally:
            prepared.close()
            device.cleanup()
        section.rows.append(OpBreakdown(op=op, macs=op.paper_macs(channels, size) * batch, p50_ms=m.stats.p50_ms,
                                        parts_ms=parts, conv_macs=macs, other_names=others))
    return section


def _f(v: float | None, spec: str = ".3g") -> str:
    return "–" if v is None else format(v, spec)


def section_lines(section: OpSection | None) -> list[str]:
    """Markdown lines of the section ([] when the study has none)."""
    if section is None:
        return []
    c, h, b = section.case
    lines = [f"## Per-op breakdown at C{c} H{h} batch {b}: where the MACs saving goes", ""]
    if section.skipped:
        return lines + [section.skipped + ".", ""]
    lines += ["Each operator timed end to end (p50, timing core), then profiled with torch.profiler: top-level ops "
              "grouped into KxK convs, 1x1 convs, adds and other (memory-bound) ops, medians over "
              "profiled passes; dispatch = p50 minus those parts (Python and framework between the ops). GFLOP/s "
              "from the executed MACs of the recorded shapes (a HetConv impl may execute more than the paper counts, "
              "e.g. a 1x1 conv over all input channels); a large negative dispatch means the profiled passes ran "
              "slower than the timed ones (a busy machine), so read that row's parts, not its dispatch. Expected = the standard conv's p50 x MACs ratio "
              "(what a MACs saving would give if time followed MACs).", "",
              "| operator | paper MMACs | executed conv MMACs | p50 ms | expected ms | KxK conv ms (GFLOP/s) | 1x1 conv ms (GFLOP/s) "
              "| add ms | other ops ms | dispatch ms |", "|---|---|---|---|---|---|---|---|---|---|"]
    std = next((r for r in section.rows if r.op.kind == "standard"), None)
    for r in section.rows:
        expected = std.p50_ms * r.macs / std.macs if std and std.macs else None
        lines.append(f"| {r.op.label} | {r.macs / 1e6:.1f} | {sum(r.conv_macs.values()) / 1e6:.1f} | {r.p50_ms:.3g} | {_f(expected)} | "
                     f"{r.parts_ms['KxK conv']:.3g} ({_f(r.gflops('KxK conv'), '.1f')}) | "
                     f"{r.parts_ms['1x1 conv']:.3g} ({_f(r.gflops('1x1 conv'), '.1f')}) | {r.parts_ms['add']:.3g} | "
                     f"{r.parts_ms['other ops']:.3g} | {r.dispatch_ms:+.3g} |")
    lines.append("")
    if std is not None:
        rate = std.gflops("KxK conv")
        for r in section.rows:
            if r is std or not std.macs:
                continue
            expected = std.p50_ms * r.macs / std.macs
            excess = r.p50_ms - expected
            others = ", ".join(f"{k} {v:.3g}" for k, v in sorted(r.other_names.items(), key=lambda kv: -kv[1])[:3])
            lines.append(
                f"- {r.op.label}: {r.macs / std.macs:.1%} of the standard conv's MACs, {r.p50_ms / std.p50_ms:.1%} of "
                f"its time; {excess:+.3g} ms against time-follows-MACs. Its convs execute "
                f"{sum(r.conv_macs.values()) / 1e6:.1f} MMACs (paper {r.macs / 1e6:.1f}). KxK part {r.parts_ms['KxK conv']:.3g} ms at "
                f"{_f(r.gflops('KxK conv'), '.1f')} GFLOP/s (standard conv: {_f(rate, '.1f')}), 1x1 part "
                f"{r.parts_ms['1x1 conv']:.3g} ms at {_f(r.gflops('1x1 conv'), '.1f')} GFLOP/s, add "
                f"{r.parts_ms['add']:.3g} ms, other ops {r.parts_ms['other ops']:.3g} ms"
                + (f" ({others})" if others else "") + f", dispatch {r.dispatch_ms:+.3g} ms.")
        lines.append("")
    return lines
