"""Interactive charts of one slice (plotly), for the offline site.

plotly.js is inlined once per page (`plotly_script`), so a page needs no network at view time.
One trace per family, so clicking a legend entry toggles that family; hovering a point shows
the model, p50 with its 95 % CI, MACs, params and the top-1 with its source. Charts are drawn
per dataset and per setting (threads, dtype, layout, compile), like the PNGs: a front never
mixes settings.
"""
from __future__ import annotations

from html import escape

import pandas as pd

from bench.report.charts import DATASET_NAMES, family_colors, hex_color, top1_axis_kind
from bench.report.data import ReportSlice
from bench.report.fronts import setting_text

CONFIG = {"displaylogo": False, "responsive": True}


def plotly_script() -> str:
    """The plotly.js bundle as one inline <script> (about 4.8 MB; no CDN, no network)."""
    from plotly.offline import get_plotlyjs

    return f'<script type="text/javascript">{get_plotlyjs()}</script>'


def _hover(r: pd.Series) -> str:
    ci = "" if pd.isna(r["ci_low_ms"]) else f" (95% CI {r['ci_low_ms']:.3g}–{r['ci_high_ms']:.3g})"
    macs = "–" if pd.isna(r["macs"]) else f"{r['macs'] / 1e6:.1f} M"
    params = "–" if pd.isna(r["params"]) else f"{r['params'] / 1e6:.3f} M"
    top1 = "–" if pd.isna(r["top1"]) else f"{r['top1']:.2f} % ({r['top1_kind']}: {r['top1_source']})"
    lines = [f"<b>{escape(str(r['label']))}</b>", f"p50 {r['p50_ms']:.3g} ms{ci}", f"MACs {macs}",
             f"params {params}", f"top-1 {escape(top1)}"]
    if r.get("on_front") is True:
        lines.append("on the Pareto front")
    return "<br>".join(lines)


def _figure(df: pd.DataFrame, x: str, y: str, colors: dict, *, title: str, xlabel: str, ylabel: str,
            log_y: bool = False, front: pd.DataFrame | None = None):
    import plotly.graph_objects as go

    fig = go.Figure()
    for family in sorted(df["family"].astype(str).unique()):
        part = df[df["family"].astype(str) == family]
        error_x = None
        if x == "p50_ms" and part["ci_low_ms"].notna().all():
            error_x = dict(type="data", symmetric=False, array=(part["ci_high_ms"] - part["p50_ms"]).clip(lower=0),
                           arrayminus=(part["p50_ms"] - part["ci_low_ms"]).clip(lower=0), thickness=1, width=2)
        on_front = part.get("on_front", pd.Series(False, index=part.index)).map(lambda v: v is True)
        fig.add_trace(go.Scatter(
            x=part[x], y=part[y], mode="markers", name=family, error_x=error_x,
            marker=dict(color=hex_color(colors[family]), size=[11 if f else 8 for f in on_front],
                        opacity=[1.0 if f else 0.55 for f in on_front] if front is not None else 0.9,
                        line=dict(color="black", width=[1 if f else 0 for f in on_front])),
            hovertext=[_hover(r) for _, r in part.iterrows()], hoverinfo="text"))
    if front is not None and not front.empty:
        line = front.sort_values([x, y])
        fig.add_trace(go.Scatter(x=line[x], y=line[y], mode="lines", name="Pareto front",
                                 line=dict(color="black", dash="dash", width=1, shape="hv"), hoverinfo="skip"))
    fig.update_layout(title=dict(text=escape(title), font=dict(size=14)), template="simple_white", height=520,
                      margin=dict(l=60, r=20, t=50, b=50), hovermode="closest", legend=dict(itemclick="toggle"))
    fig.update_xaxes(type="log", title=xlabel, showgrid=True)
    fig.update_yaxes(type="log" if log_y else "linear", title=ylabel, showgrid=True)
    return fig


def interactive_charts(s: ReportSlice) -> list[tuple[str, str]]:
    """(title, HTML div) per chart: accuracy vs p50 per dataset and setting, then p50 vs MACs."""
    rows = s.rows
    colors = family_colors(rows["family"].astype(str).tolist())
    ok = s.measured()
    out = []
    if ok.empty:
        return out
    settings = ok.apply(setting_text, axis=1)
    names = sorted(settings.unique())
    for dataset in s.datasets_with_accuracy():
        for name in names:
            df = ok[(settings == name) & ok["top1"].notna() & (ok["dataset"] == dataset)]
            if df.empty:
                continue
            ds = DATASET_NAMES.get(dataset, dataset)
            title = f"{ds} top-1 vs p50 latency, batch {s.batch}" + (f" ({name})" if len(names) > 1 else "")
            kind = top1_axis_kind(set(df["top1_kind"].astype(str)))
            front = df[df["on_front"].map(lambda v: v is True)]
            fig = _figure(df, "p50_ms", "top1", colors, title=title, xlabel="p50 latency (ms, log scale)",
                          ylabel=f"{ds} {kind} top-1 (%)", front=front)
            out.append((title, fig))
    with_macs = ok[ok["macs"].notna() & (ok["macs"] > 0)].assign(mmacs=lambda d: d["macs"] / 1e6)
    if not with_macs.empty:
        title = f"p50 latency vs MACs, batch {s.batch}"
        out.append((title, _figure(with_macs, "mmacs", "p50_ms", colors, title=title,
                                   xlabel="MACs (millions, log scale)", ylabel="p50 latency (ms, log scale)",
                                   log_y=True)))
    return [(title, fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{i}", config=CONFIG))
            for i, (title, fig) in enumerate(out)]

