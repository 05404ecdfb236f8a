"""Interactive (plotly) stacked bars of profiled time by op kind for the profiles page: the slice's
profiled models side by side, hover a part for its op kind, ms per pass and % of the model.

The same parts as the PNG (`bench.report.opkind`: the ten kinds with the most time, then 'other'),
one chart per `PER_CHART` models; plotly.js is inlined once per page by `bench.report.html`.
"""
from __future__ import annotations

from html import escape

from bench.report.opkind import chart_groups, kind_stacks
from bench.report.roofline import KIND_COLORS

OTHER_COLOR = "#bbbbbb"


def opkind_divs(s, profiles) -> list[str]:
    """One plotly <div> per chart of the profiled models of slice `s` (`ReportSlice`) in `profiles`
    (`ProfileSet`); [] without profiles."""
    if profiles is None:
        return []
    import plotly.graph_objects as go

    groups = chart_groups(profiles.for_rows(s.rows))
    divs = []
    for n, group in enumerate(groups, 1):
        labels = [label for label, _ in group]
        stacks = kind_stacks(group)
        totals = [sum(col) or float("nan") for col in zip(*(heights for _, heights in stacks))]
        fig = go.Figure()
        for i, (part, heights) in enumerate(stacks):
            pct = [100 * h / t for h, t in zip(heights, totals)]
            fig.add_trace(go.Bar(
                x=labels, y=heights, name=part, customdata=pct,
                marker=dict(color=KIND_COLORS[i % len(KIND_COLORS)] if part != "other" else OTHER_COLOR),
                hovertemplate=f"<b>%{{x}}</b><br>op kind: {escape(part)}<br>%{{y:.3g}} ms per pass "
                              "(%{customdata:.1f} % of the model)<extra></extra>"))
        suffix = f" ({n}/{len(groups)})" if len(groups) > 1 else ""
        fig.update_layout(barmode="stack", title=f"Time by op kind{suffix}", height=480,
                          margin=dict(l=60, r=20, t=50, b=90),
                          yaxis=dict(title="profiled time per pass (ms, median over iterations)"),
                          legend=dict(title="op kind"))
        divs.append(fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}))
    return divs
