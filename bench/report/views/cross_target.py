"""Cross-target view: the same models on two targets measured at the same batch size.

Per pair of slices (target and machine) at one batch: the per-model latency ratio (B / A), the
rank correlation of the two latency orders (Spearman's rho, Kendall's tau) with each model's rank
change, and how the Pareto front changes, each front computed over the models both sides measured
(so a model is never "off the front" only because the other side did not run it). Models match
on model, dtype, layout and impl; a model with several rows on one side (e.g. two thread counts)
is left out and listed, since which of them to compare is not ours to choose.
"""
from __future__ import annotations

from html import escape
from itertools import combinations

import pandas as pd

from bench.report.data import ReportSlice
from bench.report.views.base import SiteData, ViewPage, slice_name, slice_slug
from bench.report.views.page import figure_div, list_html, table_html, view_html

NAME = "cross-target"
TITLE = "Cross-target: the same models on two targets"
NEEDS = "two targets (or machines) measured at the same batch size"
MATCH = ("model", "dtype", "layout", "impl")


def _side(s: ReportSlice) -> tuple[pd.DataFrame, list[str]]:
    """Measured rows keyed by MATCH, and the models left out because they have several rows."""
    ok = s.measured()
    dup = ok.duplicated(list(MATCH), keep=False)
    return ok[~dup], sorted(set(ok.loc[dup, "model"].astype(str)))


def paired_rows(a: ReportSlice, b: ReportSlice) -> tuple[pd.DataFrame, list[str]]:
    """One row per model measured on both slices: `_a`/`_b` columns, `ratio` = p50 B / p50 A,
    `rank_a`/`rank_b` (1 = fastest among the common models); and the models left out."""
    ra, left_a = _side(a)
    rb, left_b = _side(b)
    keep = list(MATCH) + ["label", "family", "p50_ms", "top1", "dataset", "threads", "compile", "ci_low_ms",
                          "ci_high_ms", "macs"]
    both = ra[keep].merge(rb[keep], on=list(MATCH), suffixes=("_a", "_b"))
    both["ratio"] = both["p50_ms_b"] / both["p50_ms_a"]
    both["rank_a"] = both["p50_ms_a"].rank(method="min").astype(int)
    both["rank_b"] = both["p50_ms_b"].rank(method="min").astype(int)
    return both.sort_values("ratio").reset_index(drop=True), sorted(set(left_a) | set(left_b))


def rank_correlation(both: pd.DataFrame) -> tuple[float | None, float | None]:
    """(Spearman's rho, Kendall's tau) of the two latency orders; None with fewer than 3 models."""
    if len(both) < 3:
        return None, None
    from scipy.stats import kendalltau, spearmanr

    return (float(spearmanr(both["p50_ms_a"], both["p50_ms_b"]).statistic),
            float(kendalltau(both["p50_ms_a"], both["p50_ms_b"]).statistic))


def front_changes(both: pd.DataFrame) -> dict[str, list[str]]:
    """Models on the accuracy-vs-latency front of both sides, only of A, only of B (fronts over the
    common models, per dataset and setting as on the slice pages)."""
    from bench.report.fronts import add_front_flags

    fronts = {}
    for side in ("a", "b"):
        rows = pd.DataFrame({"model": both["model"], "dtype": both["dtype"], "layout": both["layout"],
                             "impl": both["impl"], "threads": both[f"threads_{side}"],
                             "compile": both[f"compile_{side}"], "top1": both[f"top1_{side}"],
                             "dataset": both[f"dataset_{side}"], "p50_ms": both[f"p50_ms_{side}"],
                             "ci_low_ms": both[f"ci_low_ms_{side}"], "ci_high_ms": both[f"ci_high_ms_{side}"],
                             "macs": both[f"macs_{side}"], "status": "ok"})
        flagged = add_front_flags(rows)
        fronts[side] = set(both.loc[flagged["on_front"].map(lambda v: v is True), "label_a"].astype(str))
    return {"both": sorted(fronts["a"] & fronts["b"]), "a": sorted(fronts["a"] - fronts["b"]),
            "b": sorted(fronts["b"] - fronts["a"])}


def _charts(both: pd.DataFrame, name_a: str, name_b: str, stem: str) -> list[str]:
    import plotly.graph_objects as go

    from bench.report.charts import family_colors, hex_color

    colors = family_colors(both["family_a"].astype(str).tolist())
    scatter = go.Figure()
    for family in sorted(both["family_a"].astype(str).unique()):
        part = both[both["family_a"].astype(str) == family]
        scatter.add_trace(go.Scatter(
            x=part["p50_ms_a"], y=part["p50_ms_b"], mode="markers", name=family,
            marker=dict(color=hex_color(colors[family]), size=9),
            hovertext=[f"<b>{escape(str(r.label_a))}</b><br>{escape(name_a)}: {r.p50_ms_a:.3g} ms<br>"
                       f"{escape(name_b)}: {r.p50_ms_b:.3g} ms<br>ratio {r.ratio:.3g}x<br>rank {r.rank_a} -> {r.rank_b}"
                       for r in part.itertuples()], hoverinfo="text"))
    low = float(min(both["p50_ms_a"].min(), both["p50_ms_b"].min()))
    high = float(max(both["p50_ms_a"].max(), both["p50_ms_b"].max()))
    scatter.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="same latency",
                                 line=dict(color="grey", dash="dot"), hoverinfo="skip"))
    scatter.update_layout(title=f"p50 latency: {escape(name_b)} vs {escape(name_a)}", template="simple_white",
                          height=520, hovermode="closest")
    scatter.update_xaxes(type="log", title=f"{name_a} p50 (ms, log scale)", showgrid=True)
    scatter.update_yaxes(type="log", title=f"{name_b} p50 (ms, log scale)", showgrid=True)
    bars = go.Figure(go.Bar(
        x=both["label_a"].astype(str), y=both["ratio"],
        marker_color=[hex_color(colors[str(f)]) for f in both["family_a"]],
        hovertext=[f"{escape(str(r.label_a))}: {r.ratio:.3g}x" for r in both.itertuples()], hoverinfo="text"))
    bars.add_hline(y=1.0, line=dict(color="black", dash="dash", width=1))
    bars.update_layout(title=f"latency ratio {escape(name_b)} / {escape(name_a)} per model (1 = same)",
                       template="simple_white", height=480, showlegend=False)
    bars.update_yaxes(rangemode="tozero", title="p50 ratio (linear, from zero)")
    return [figure_div(scatter, f"{stem}-scatter"), figure_div(bars, f"{stem}-ratio")]


def pair_page(a: ReportSlice, b: ReportSlice) -> ViewPage | None:
    """The page comparing slices `a` and `b` (same batch); None when they share no measured model."""
    both, left_out = paired_rows(a, b)
    if both.empty:
        return None
    full_a, full_b = slice_name(a), slice_name(b)
    # short names for axes, columns and titles: the target alone when it tells the two apart
    name_a, name_b = ((a.target, b.target) if a.target != b.target else
                      (f"{a.target} ({a.machine})", f"{b.target} ({b.machine})"))
    rho, tau = rank_correlation(both)
    fronts = front_changes(both)
    corr = ("fewer than 3 common models: no rank correlation" if rho is None else
            f"Spearman's rho {rho:.3f}, Kendall's tau {tau:.3f} over {len(both)} common models "
            "(1 = same order on both targets)")
    rows = [[str(r.label_a), str(r.family_a), f"{r.p50_ms_a:.3g}", f"{r.p50_ms_b:.3g}", f"{r.ratio:.3g}",
             str(r.rank_a), str(r.rank_b), f"{r.rank_a - r.rank_b:+d}"] for r in both.itertuples()]
    sections = ["<h2>Latency</h2>", *_charts(both, name_a, name_b, "cross"),
                "<h2>Ranking</h2>", f"<p>{escape(corr)}. Rank 1 is the fastest common model; a positive change "
                f"means the model moved up on {escape(name_b)}.</p>",
                table_html(["model", "family", f"p50 ms {name_a}", f"p50 ms {name_b}", "ratio B/A", "rank A",
                            "rank B", "rank change"], rows, "cross-table"),
                "<h2>Pareto front (accuracy vs p50, over the common models)</h2>",
                list_html([f"on both fronts: {', '.join(fronts['both']) or 'none'}",
                           f"only on {name_a}'s front: {', '.join(fronts['a']) or 'none'}",
                           f"only on {name_b}'s front: {', '.join(fronts['b']) or 'none'}"])]
    if left_out:
        sections += ["<h2>Left out</h2>", f"<p>Several rows on one side (settings differ), not paired: "
                     f"{escape(', '.join(left_out))}</p>"]
    title = f"{name_b} vs {name_a}, batch {a.batch}"
    summary = (f"{len(both)} common models, median ratio {both['ratio'].median():.3g}x"
               + ("" if rho is None else f", Spearman {rho:.2f}"))
    return ViewPage(f"cross-target-{slice_slug(a)}-vs-{slice_slug(b)}.html", title, summary,
                    view_html(title, f"The same models measured on {full_a} (A) and {full_b} (B); ratio = B / A.",
                              sections))


def build(data: SiteData) -> list[ViewPage]:
    """One page per pair of slices measured at the same batch size."""
    pages = []
    order = sorted(data.slices, key=lambda s: (s.batch, s.target, s.machine))
    for a, b in combinations(order, 2):
        if a.batch == b.batch:
            page = pair_page(a, b)
            if page is not None:
                pages.append(page)
    return pages
