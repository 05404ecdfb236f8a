"""Distribution view: per slice, every cell's raw samples (the store's samples table) as a box plot,
with noisy cells (`bench.noise`: stopped on the time cap before the CI target) and contended cells
(the contention guard's flag) marked in colour and in the name.

Cells with more than MAX_SHOWN samples are thinned evenly for drawing (the page says so); p50 and
the flags come from the stored results, never from the thinned samples.
"""
from __future__ import annotations

from html import escape

from bench.noise import is_noisy
from bench.report.views.base import SiteData, ViewPage, extra_of, slice_name, slice_slug
from bench.report.views.page import figure_div, list_html, view_html

NAME = "distribution"
TITLE = "Sample distributions"
NEEDS = "raw samples from a results database (bench report --db)"
MAX_SHOWN = 1000  # per cell; keeps a 130-cell page near the size of a slice page
COLORS = {"ok": "#0072B2", "noisy": "#E69F00", "contended": "#CC79A7"}


def cell_flags(row) -> list[str]:
    """"noisy" / "contended" flags of one result row."""
    flags = []
    if is_noisy(row.get("status"), row.get("stop_reason")):
        flags.append("noisy")
    if extra_of(row).get("contended"):
        flags.append("contended")
    return flags


def _thin(samples: list[float]) -> list[float]:
    if len(samples) <= MAX_SHOWN:
        return samples
    step = len(samples) / MAX_SHOWN
    return [samples[int(i * step)] for i in range(MAX_SHOWN)]


def slice_page(data: SiteData, s) -> ViewPage | None:
    """The box plot page of one slice; None when no cell of it has stored samples."""
    import plotly.graph_objects as go

    ok = s.measured()
    if "result_id" not in ok.columns or ok.empty:
        return None
    ok = ok.sort_values("p50_ms")  # plotly stacks horizontal boxes bottom-up: the slowest ends on top
    fig = go.Figure()
    flagged, thinned, drawn = [], 0, 0
    for _, r in ok.iterrows():
        samples = data.samples(str(r["run_id"])).get(int(r["result_id"]), [])
        if not samples:
            continue
        flags = cell_flags(r)
        shown = _thin(samples)
        thinned += len(shown) < len(samples)
        name = str(r["label"]) + (f" [{', '.join(flags)}]" if flags else "")
        if flags:
            flagged.append(f"{r['label']}: {', '.join(flags)} (p50 {r['p50_ms']:.3g} ms, "
                           f"stop reason {r.get('stop_reason')})")
        color = COLORS["contended" if "contended" in flags else "noisy" if flags else "ok"]
        fig.add_trace(go.Box(x=shown, name=name, orientation="h", marker_color=color, boxpoints="suspectedoutliers",
                             hoverinfo="x+name"))
        drawn += 1
    if not drawn:
        return None
    fig.update_layout(title=f"raw samples per cell, {escape(slice_name(s))}", template="simple_white",
                      height=max(360, 26 * drawn + 120), showlegend=False, margin=dict(l=260))
    fig.update_xaxes(type="log", title="latency per call (ms, log scale)", showgrid=True)
    notes = [f"{drawn} cells with stored samples; blue: ok, orange: noisy (stopped on the time cap before "
             "its CI target), purple: contended (the guard saw competing load)."]
    if thinned:
        notes.append(f"{thinned} cells hold more than {MAX_SHOWN} samples: drawn from every k-th sample.")
    sections = ["<h2>Samples</h2>", list_html(notes), figure_div(fig, "dist-chart"),
                "<h2>Flagged cells</h2>", list_html(flagged) if flagged else "<p>No noisy or contended cell.</p>"]
    return ViewPage(f"distribution-{slice_slug(s)}.html", f"Samples, {slice_name(s)}",
                    f"{drawn} cells, {len(flagged)} flagged",
                    view_html(f"Sample distributions, {slice_name(s)}",
                              "Every measured cell's raw per-call latencies, slowest cell at the top.", sections))


def build(data: SiteData) -> list[ViewPage]:
    """One page per slice whose cells have raw samples in the store."""
    if data.db is None:
        return []
    return [p for p in (slice_page(data, s) for s in data.slices) if p is not None]
