"""Batch view: throughput (images/s = batch / p50) against batch size, per target and machine.

Only cells measured at more than one batch size are drawn (one line per model and setting); the
table gives the throughput per batch and the scaling from the smallest batch measured.
"""
from __future__ import annotations

from html import escape

import pandas as pd

from bench.report.views.base import SiteData, ViewPage
from bench.report.views.page import figure_div, table_html, view_html

NAME = "batch"
TITLE = "Throughput vs batch size"
NEEDS = "a target with models measured at more than one batch size"
SETTING = ("model", "dtype", "layout", "impl", "threads", "compile")


def throughput_rows(slices) -> pd.DataFrame:
    """Measured rows of `slices` (one target and machine) with `images_s` = batch * 1000 / p50_ms,
    keeping only settings measured at two or more batch sizes."""
    frames = [s.measured().assign(batch=s.batch) for s in slices]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if df.empty:
        return df
    df["images_s"] = df["batch"] * 1000.0 / df["p50_ms"]
    key = df[list(SETTING)].astype(str).agg("|".join, axis=1)
    df["setting_key"] = key
    counts = df.groupby("setting_key")["batch"].nunique()
    return df[key.map(counts) > 1].sort_values(["setting_key", "batch"]).reset_index(drop=True)


def _page(slices, df: pd.DataFrame) -> ViewPage:
    import plotly.graph_objects as go

    from bench.report.charts import family_colors, hex_color
    from bench.report.views.base import slice_slug

    first = slices[0]
    name = f"{first.provenance.target_label()}"
    colors = family_colors(df.drop_duplicates("setting_key")["family"].astype(str).tolist())
    fig = go.Figure()
    shown_families = set()
    for key, part in df.groupby("setting_key", sort=True):
        family = str(part["family"].iloc[0])
        label = str(part["label"].iloc[0])
        fig.add_trace(go.Scatter(
            x=part["batch"], y=part["images_s"], mode="lines+markers", name=label, legendgroup=family,
            legendgrouptitle_text=family if family not in shown_families else None,
            line=dict(color=hex_color(colors[family])),
            hovertext=[f"<b>{escape(label)}</b><br>batch {r.batch}: {r.images_s:.4g} images/s<br>p50 {r.p50_ms:.3g} ms"
                       for r in part.itertuples()], hoverinfo="text"))
        shown_families.add(family)
    batches = sorted(df["batch"].unique())
    fig.update_layout(title=f"throughput vs batch size, {escape(name)}", template="simple_white", height=560,
                      hovermode="closest")
    fig.update_xaxes(type="log", title="batch size (log scale)", tickvals=batches, showgrid=True)
    fig.update_yaxes(type="log", title="images/s = batch / p50 (log scale)", showgrid=True)
    rows = []
    for _, part in df.groupby("setting_key", sort=True):
        base = part.iloc[0]
        for r in part.itertuples():
            rows.append([str(r.label), str(r.family), str(r.batch), f"{r.p50_ms:.3g}", f"{r.images_s:.4g}",
                         f"{r.images_s / base['images_s']:.3g}"])
    headers = ["model", "family", "batch", "p50 ms", "images/s", f"x images/s of batch {int(df['batch'].min())}+"]
    headers[-1] = "throughput vs smallest batch measured"
    slug = slice_slug(first).rsplit("-batch-", 1)[0]
    n = df["setting_key"].nunique()
    return ViewPage(f"batch-{slug}.html", f"Throughput vs batch, {name}",
                    f"{n} models at batches {', '.join(str(b) for b in batches)}",
                    view_html(f"Throughput vs batch size, {name}",
                              "images/s = batch / p50 latency, for models measured at more than one batch size.",
                              ["<h2>Chart</h2>", figure_div(fig, "batch-chart"), "<h2>Table</h2>",
                               table_html(headers, rows, "batch-table")]))


def build(data: SiteData) -> list[ViewPage]:
    """One page per target and machine with models at two or more batch sizes."""
    groups: dict[tuple, list] = {}
    for s in data.slices:
        groups.setdefault((s.target, s.machine), []).append(s)
    pages = []
    for key in sorted(groups):
        slices = sorted(groups[key], key=lambda s: s.batch)
        df = throughput_rows(slices)
        if not df.empty:
            pages.append(_page(slices, df))
    return pages
