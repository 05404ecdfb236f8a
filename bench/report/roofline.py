"""Roofline chart of one profiled model: log-log arithmetic intensity vs achieved GFLOP/s per layer.

Each layer with MACs, bytes and a time is a point at (2 x MACs / bytes, 2 x MACs / time), its
area proportional to its time, coloured by op kind; the two roofs of the machine's ceilings
(`bench ceilings`: peak FLOP/s flat, bandwidth x intensity sloped) are drawn where stored. Layers
without MACs (adds, pools, dispatch) or without time cannot be placed on these axes and are
counted in the title instead.
"""
from __future__ import annotations

import re

import numpy as np

from bench.report.canvas import add_footer, new_figure
from bench.report.charts import Chart
from bench.report.profiles import StoredProfile

KIND_COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#332288",
               "#882255", "#44AA99", "#999933", "#AA4499")


def stem_for(label: str) -> str:
    """'roofline-<label slug>' (file-safe)."""
    return "roofline-" + (re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:60] or "model")


def placed_layers(prof: StoredProfile) -> list[dict]:
    """The layers that have a point: MACs > 0, bytes > 0 and time > 0, with their intensity and GFLOP/s."""
    out = []
    for lay in prof.layers:
        macs, nbytes, ms = lay.get("macs") or 0, lay.get("bytes") or 0, lay.get("ms") or 0
        if macs > 0 and nbytes > 0 and ms > 0:
            out.append({**lay, "intensity": 2 * macs / nbytes, "gflops": 2 * macs / (ms * 1e6)})
    return out


def roofline_chart(label: str, prof: StoredProfile, footer: str) -> Chart | None:
    """The chart of `prof` (titled `label`), or None when no layer can be placed."""
    points = placed_layers(prof)
    if not points:
        return None
    fig, ax = new_figure((8.0, 5.6))
    kinds = sorted({p["kind"] for p in points})
    colors = {k: KIND_COLORS[i % len(KIND_COLORS)] for i, k in enumerate(kinds)}
    total_ms = sum(p["ms"] for p in points) or 1.0
    for kind in kinds:
        mine = [p for p in points if p["kind"] == kind]
        ax.scatter([p["intensity"] for p in mine], [p["gflops"] for p in mine],
                   s=[20 + 800 * p["ms"] / total_ms for p in mine], color=colors[kind], alpha=0.7,
                   edgecolors="black", linewidths=0.4, label=kind)
    xs = np.array([p["intensity"] for p in points])
    lo, hi = xs.min() / 4, xs.max() * 4
    peak, bw = prof.peak_gflops, prof.bandwidth_gbs
    if peak and bw:
        grid = np.logspace(np.log10(min(lo, peak / bw / 4)), np.log10(max(hi, peak / bw * 4)), 200)
        ax.plot(grid, np.minimum(peak, bw * grid), color="black", linewidth=1.2,
                label=f"roofs: {peak:.0f} GFLOP/s, {bw:.1f} GB/s")
        ax.axvline(peak / bw, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs / byte moved)")
    ax.set_ylabel("achieved GFLOP/s (2 x MACs / layer time)")
    left = len(prof.layers) - len(points)
    roofs = "" if peak and bw else "; no ceilings stored for this machine (run `bench ceilings`)"
    ax.set_title(f"Roofline: {label}\n{len(points)} layers placed, {left} without MACs/bytes/time not shown"
                 f"{roofs}", fontsize=9)
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    ax.legend(fontsize=6.5, loc="lower right", markerscale=0.5)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    add_footer(fig, footer, 140)
    return Chart(stem=stem_for(label), title=f"Roofline: {label}", figure=fig)
