"""Interactive (plotly) roofline charts for the HTML page: hover a layer for its path, kind and numbers.

The same points and roofs as the PNG (`bench.report.roofline`); plotly.js is already inlined once
per page by `bench.report.html`, so each chart is a bare <div>.
"""
from __future__ import annotations

from html import escape

from bench.report.roofline import KIND_COLORS, placed_layers


def roofline_divs(s, profiles) -> list[str]:
    """One plotly <div> per profiled model of slice `s` (`ReportSlice`) in `profiles` (`ProfileSet`)."""
    if profiles is None:
        return []
    import numpy as np
    import plotly.graph_objects as go

    divs = []
    for label, prof in profiles.for_rows(s.rows):
        points = placed_layers(prof)
        if not points:
            continue
        fig = go.Figure()
        total = sum(p["ms"] for p in points) or 1.0
        for i, kind in enumerate(sorted({p["kind"] for p in points})):
            mine = [p for p in points if p["kind"] == kind]
            fig.add_trace(go.Scatter(
                x=[p["intensity"] for p in mine], y=[p["gflops"] for p in mine], mode="markers", name=kind,
                marker=dict(size=[6 + 40 * (p["ms"] / total) ** 0.5 for p in mine],
                            color=KIND_COLORS[i % len(KIND_COLORS)], line=dict(width=0.5, color="black")),
                hovertext=[f"<b>{escape(str(p['layer']))}</b><br>{escape(kind)}<br>{p['ms']:.3g} ms "
                           f"({100 * p['ms'] / total:.1f} % of placed layers)<br>{p['gflops']:.3g} GFLOP/s, "
                           f"{p['intensity']:.3g} FLOPs/byte<br>{(p.get('macs') or 0) / 1e6:.3g} MMACs"
                           for p in mine], hoverinfo="text"))
        peak, bw = prof.peak_gflops, prof.bandwidth_gbs
        if peak and bw:
            xs = [p["intensity"] for p in points]
            grid = np.logspace(np.log10(min(min(xs) / 4, peak / bw / 4)), np.log10(max(max(xs) * 4, peak / bw * 4)), 100)
            fig.add_trace(go.Scatter(x=grid, y=np.minimum(peak, bw * grid), mode="lines", line=dict(color="black"),
                                     name=f"roofs: {peak:.0f} GFLOP/s, {bw:.1f} GB/s", hoverinfo="skip"))
        fig.update_layout(title=f"Roofline: {label}", height=480, margin=dict(l=60, r=20, t=50, b=50),
                          xaxis=dict(type="log", title="arithmetic intensity (FLOPs / byte)"),
                          yaxis=dict(type="log", title="achieved GFLOP/s"))
        divs.append(fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}))
    return divs
