"""Matplotlib (Agg) charts of one slice: accuracy vs latency, accuracy vs MACs, latency vs MACs.

Styling shared by all three: one colour per family (stable across the charts of a slice), log
axes with plain-number ticks, labels placed without overlaps by `bench.report.labels` (on the
accuracy charts front labels are required and the rest give way only when points crowd, which
the footer then says; on the scatter the called-out variants are required), the legend
outside the axes on the right, and a footer naming machine, versions and date.
"""
from __future__ import annotations

import colorsys
import math
import re
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Annotation
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

# Figures are built on the Agg canvas directly, without pyplot (see bench.report.canvas).
from bench.report.canvas import DIMMED_TEXT, DPI, add_footer, new_figure
from bench.report.fronts import RankComparison, rank_comparison, setting_text
from bench.report.labels import LabelSpec, place_labels
from bench.report.provenance import Provenance

FIGSIZE = (11.0, 7.0)
CROWDED_POINTS = 30  # above this many points the canvas grows (up to 1.6x per side)
DATASET_NAMES = {"cifar10": "CIFAR-10", "imagenet": "ImageNet"}
OUTLIER_COLOR = "#d62728"
FADED_ALPHA = 0.4


@dataclass
class Chart:
    """A rendered chart, its file stem, the label annotations (for overlap checks) and how many
    labels of crowded points were left out."""

    stem: str
    title: str
    figure: Figure
    labels: list[Annotation] = field(default_factory=list)
    omitted_labels: int = 0


# Colour-blind-safe qualitative colours, none grey (grey means "dominated") and none black (the
# front): Okabe & Ito's seven, then Paul Tol's "muted" and "light" schemes. Every family of a
# chart gets its own entry, so colours never repeat up to len(PALETTE) families.
PALETTE = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499",
    "#77AADD", "#EE8866", "#EEDD88", "#FFAABB", "#99DDFF", "#BBCC33", "#AAAA00", "#44BB99",
)


def _rgba(hex_color: str) -> tuple:
    h = hex_color.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, 1.0)


def family_colors(families: list[str]) -> dict[str, tuple]:
    """A distinct colour per family (RGBA), never grey (grey means "dominated"), never repeated.

    Families with more rows get the first colours, ties by name, so the colours are stable for
    a given slice. Families beyond `PALETTE` get evenly spaced hues (distinct, though no longer
    chosen for colour-blind safety) rather than a repeat.
    """
    counts = pd.Series(families).value_counts()
    names = sorted(counts.index, key=lambda f: (-counts[f], f))
    extra = len(names) - len(PALETTE)
    colors = [_rgba(c) for c in PALETTE] + [(*colorsys.hsv_to_rgb(k / max(extra, 1), 0.75, 0.8), 1.0)
                                             for k in range(max(extra, 0))]
    return {name: colors[i] for i, name in enumerate(names)}


def hex_color(rgba: tuple) -> str:
    """'#rrggbb' of an RGBA tuple from `family_colors` (for the HTML charts)."""
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgba[:3])


def _log_axis(axis, low: float, high: float) -> None:
    """Log ticks labelled as plain numbers: denser 1-2-3-5-7 steps over a narrow range, 1-2-5
    over a few decades, powers of ten beyond, so an axis always has several readable ticks."""
    decades = math.log10(high / low)
    subs = (1.0, 2.0, 3.0, 5.0, 7.0) if decades < 1.5 else (1.0, 2.0, 5.0) if decades <= 4 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _log_limits(values: pd.Series, pad: float = 1.35) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    if low == high:
        return low / 2, high * 2
    return low / pad, high * pad


def _linear_limits(values: pd.Series, pad_frac: float = 0.08) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    span = (high - low) or max(abs(high) * 0.02, 0.5)
    return low - span * pad_frac, high + span * pad_frac


def _new_figure(n_points: int = 0) -> tuple[Figure, Axes]:
    """A figure with one axes; charts with many points get a larger canvas so labels fit."""
    scale = min(1.6, max(1.0, math.sqrt(n_points / CROWDED_POINTS)))
    return new_figure((FIGSIZE[0] * scale, FIGSIZE[1] * scale), DPI)


def _finish_layout(fig: Figure, ax, legend_handles: list) -> None:
    """Legend outside right and a layout fixed (room left for the footer) before labels are placed."""
    ax.legend(handles=legend_handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
              borderaxespad=0.0)
    fig.tight_layout(rect=(0, 0.06, 1, 1))


def _footer(fig: Figure, provenance: Provenance, omitted: int) -> None:
    """Provenance line(s) at the bottom, and a note when crowded labels were left out."""
    text = provenance.one_line()
    if omitted:
        text += (f". {omitted} label{'s' if omitted > 1 else ''} of crowded points left out to avoid overlaps; "
                 "every variant is in the table")
    add_footer(fig, text, int(170 * fig.get_figwidth() / FIGSIZE[0]))


def _family_handles(colors: dict[str, tuple], families: list[str]) -> list[Line2D]:
    return [Line2D([], [], marker="o", ls="", color=colors[f], label=f) for f in sorted(set(families))]


MEASURED_MARKER = "D"
USER_MARKER = "*"  # user-reported top-1 (bench run --top1)


def top1_axis_kind(kinds: set[str]) -> str:
    """'measured', 'reported' or 'measured + reported': what the accuracy axis of a chart shows."""
    if kinds == {"measured"}:
        return "measured"
    return "measured + reported" if "measured" in kinds else "reported"


def accuracy_chart(rows: pd.DataFrame, dataset: str, x: str, provenance: Provenance, batch: int,
                   colors: dict[str, tuple], setting: str = "", stem_suffix: str = "") -> Chart | None:
    """Top-1 vs p50 latency (`x="latency"`) or vs MACs (`x="macs"`) for one dataset, front drawn.

    Only measured rows with an accuracy on `dataset` are drawn; None if there are none.
    """
    df = rows[(rows["status"] == "ok") & rows["p50_ms"].notna() & rows["top1"].notna()
              & (rows["dataset"] == dataset)].copy()
    if x == "macs":
        df = df[df["macs"].notna() & (df["macs"] > 0)]
    if df.empty:
        return None
    is_latency = x == "latency"
    df["xv"] = df["p50_ms"] if is_latency else df["macs"] / 1e6
    flag = "on_front" if is_latency else "on_macs_front"
    df["front"] = df[flag].fillna(False).astype(bool)
    ds_name = DATASET_NAMES.get(dataset, dataset)
    fig, ax = _new_figure(len(df))
    for _, r in df.iterrows():
        alpha = 1.0 if r["front"] else FADED_ALPHA
        color = colors[r["family"]]
        if is_latency and pd.notna(r["ci_low_ms"]) and pd.notna(r["ci_high_ms"]):
            xerr = [[max(r["xv"] - r["ci_low_ms"], 0.0)], [max(r["ci_high_ms"] - r["xv"], 0.0)]]
            ax.errorbar([r["xv"]], [r["top1"]], xerr=xerr, fmt="none", ecolor=color, alpha=alpha, elinewidth=1.2,
                        capsize=2.5, zorder=2)
        ax.scatter([r["xv"]], [r["top1"]], s=38 if r["front"] else 26, color=color, alpha=alpha,
                   marker={"measured": MEASURED_MARKER, "user-reported": USER_MARKER}.get(r.get("top1_kind"), "o"),
                   edgecolors="black" if r["front"] else "none", linewidths=0.6, zorder=3)
    front = df[df["front"]].sort_values(["xv", "top1"])
    ax.step(front["xv"], front["top1"], where="post", color="black", lw=1.0, ls="--", alpha=0.8, zorder=1)
    handles = _family_handles(colors, df["family"].tolist())
    kinds = set(df.get("top1_kind", pd.Series(dtype=object)).astype(str))
    if "measured" in kinds:  # measured (bench eval) and reported (papers, metadata) points are told apart
        handles.append(Line2D([], [], marker=MEASURED_MARKER, ls="", color="gray", label="measured top-1 (bench eval)"))
        if kinds - {"measured"}:
            handles.append(Line2D([], [], marker="o", ls="", color="gray", label="reported top-1 (paper/metadata)"))
    if "user-reported" in kinds:  # a user's own --top1 is not a paper's or a library's number
        handles.append(Line2D([], [], marker=USER_MARKER, ls="", color="gray", label="user-reported top-1 (--top1)"))
    handles.append(Line2D([], [], color="black", ls="--", lw=1.0, label="Pareto front (non-dominated)"))
    handles.append(Line2D([], [], marker="o", ls="", color="gray", alpha=FADED_ALPHA, label="dominated (faded)"))
    if is_latency:
        tied = df[df["on_front_ci"].fillna(False).astype(bool)]
        ax.scatter(tied["xv"], tied["top1"], s=120, facecolors="none", edgecolors="black", linewidths=0.8, zorder=4)
        handles.append(Line2D([], [], marker="o", ls="", mfc="none", mec="black", ms=9,
                              label="on front with CI overlaps as ties"))
        handles.append(Line2D([], [], color="gray", lw=1.2, label="95% CI of the median"))
    ax.set_xscale("log")
    xlim = _log_limits(df["xv"] if not is_latency else pd.concat([df["xv"], df["ci_low_ms"].dropna(),
                                                                   df["ci_high_ms"].dropna()]))
    ax.set_xlim(*xlim)
    _log_axis(ax.xaxis, *xlim)
    ax.set_ylim(*_linear_limits(df["top1"]))
    ax.grid(True, which="major", alpha=0.3)
    ax.set_xlabel("p50 latency (ms, log scale)" if is_latency else "MACs (millions, conv+linear, batch 1, log scale)")
    ax.set_ylabel(f"{ds_name} {top1_axis_kind(kinds)} top-1 (%)")
    what = "p50 latency" if is_latency else "MACs"
    title = (f"{ds_name} top-1 vs {what}, batch {batch}" + (f" ({setting})" if setting else "")
             + f"\n{provenance.target_label()}, measured {provenance.date_text()}")
    ax.set_title(title, fontsize=10)
    _finish_layout(fig, ax, handles)
    order = pd.concat([front, df[~df["front"]].sort_values("xv")])
    # front labels are required; dominated ones give way when points crowd
    specs = [LabelSpec(r["xv"], r["top1"], r["label"], color=_text_color(colors[r["family"]]) if r["front"]
                       else DIMMED_TEXT, bold=bool(r["front"]), required=bool(r["front"])) for _, r in order.iterrows()]
    placement = place_labels(ax, specs, lines=_front_steps(front) + _error_bars(df if is_latency else df.iloc[0:0]))
    _footer(fig, provenance, placement.omitted)
    stem = f"accuracy-vs-{'latency' if is_latency else 'macs'}-{dataset}{stem_suffix}"
    return Chart(stem, title.replace("\n", "; "), fig, placement.annotations, placement.omitted)


def _front_steps(front: pd.DataFrame) -> list[tuple[list[float], list[float]]]:
    """The drawn staircase of the front as one polyline (post-steps: across, then up)."""
    xs, ys = [], []
    for x, y in zip(front["xv"], front["top1"]):
        if xs:
            xs.append(x)
            ys.append(ys[-1])
        xs.append(x)
        ys.append(y)
    return [(xs, ys)] if len(xs) > 1 else []


def _error_bars(df: pd.DataFrame) -> list[tuple[list[float], list[float]]]:
    return [([r["ci_low_ms"], r["ci_high_ms"]], [r["top1"], r["top1"]]) for _, r in df.iterrows()
            if pd.notna(r["ci_low_ms"]) and pd.notna(r["ci_high_ms"])]


def _text_color(rgba: tuple) -> tuple:
    """The family colour darkened a little so small text stays readable on white."""
    r, g, b = rgba[:3]
    return (r * 0.65, g * 0.65, b * 0.65, 1.0)


def latency_vs_macs_chart(rows: pd.DataFrame, provenance: Provenance, batch: int,
                          colors: dict[str, tuple]) -> tuple[Chart | None, RankComparison]:
    """Log-log scatter of p50 latency vs MACs over every measured row, with Spearman's rho.

    The variants whose latency rank differs most from their MACs rank are ringed and their
    labels carry the shift ("+5 ranks" = slower than the MACs rank predicts).
    """
    ranks = rank_comparison(rows)
    df = rows[(rows["status"] == "ok") & rows["p50_ms"].notna() & rows["macs"].notna() & (rows["macs"] > 0)].copy()
    if df.empty:
        return None, ranks
    df["mmacs"] = df["macs"] / 1e6
    shifts = dict(zip(ranks.outliers["label"], ranks.outliers["rank_shift"]))
    fig, ax = _new_figure(len(df))
    for _, r in df.iterrows():
        ax.scatter([r["mmacs"]], [r["p50_ms"]], s=30, color=colors[r["family"]], zorder=3)
    # biggest shifts first: they are placed (and so get the best spots) before anything else
    called = df[df["label"].isin(shifts)].copy()
    called["_shift"] = called["label"].map(lambda lab: -abs(shifts[lab]))
    called = called.sort_values("_shift", kind="stable").drop(columns="_shift")
    ax.scatter(called["mmacs"], called["p50_ms"], s=140, facecolors="none", edgecolors=OUTLIER_COLOR,
               linewidths=1.2, zorder=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    xlim, ylim = _log_limits(df["mmacs"]), _log_limits(df["p50_ms"])
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    _log_axis(ax.xaxis, *xlim)
    _log_axis(ax.yaxis, *ylim)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_xlabel("MACs (millions, conv+linear, batch 1, log scale)")
    ax.set_ylabel("p50 latency (ms, log scale)")
    title = (f"p50 latency vs MACs, batch {batch}: {ranks.summary()}\n"
             f"{provenance.target_label()}, measured {provenance.date_text()}")
    ax.set_title(title, fontsize=10)
    handles = _family_handles(colors, df["family"].tolist())
    handles.append(Line2D([], [], marker="o", ls="", mfc="none", mec=OUTLIER_COLOR, ms=10,
                          label="largest |latency rank - MACs rank|\n(+N: slower than its MACs predict)"))
    _finish_layout(fig, ax, handles)
    order = pd.concat([called, df[~df["label"].isin(shifts)].sort_values("mmacs")])
    specs = []
    for _, r in order.iterrows():
        if r["label"] in shifts:
            shift = shifts[r["label"]]
            text = f"{r['label']}\n({shift:+g} ranks)"  # two short lines fit where one long one would not
            specs.append(LabelSpec(r["mmacs"], r["p50_ms"], text, color=OUTLIER_COLOR, bold=True))
        else:
            specs.append(LabelSpec(r["mmacs"], r["p50_ms"], r["label"], color=_text_color(colors[r["family"]]),
                                   required=False))
    placement = place_labels(ax, specs)
    _footer(fig, provenance, placement.omitted)
    return Chart("latency-vs-macs", title.replace("\n", "; "), fig, placement.annotations, placement.omitted), ranks


def slice_charts(rows: pd.DataFrame, datasets: list[str], provenance: Provenance,
                 batch: int) -> tuple[list[Chart], RankComparison]:
    """Every chart of a slice: per dataset accuracy vs latency and vs MACs, then latency vs MACs."""
    colors = family_colors(rows["family"].astype(str).tolist())
    charts: list[Chart] = []
    # one chart per setting (threads, dtype, layout, compile): a front never mixes them
    settings = rows.apply(setting_text, axis=1) if not rows.empty else pd.Series(dtype=object)
    names = sorted(settings.unique())
    for dataset in datasets:
        for name in names:
            part = rows[settings == name]
            suffix = "-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") if len(names) > 1 else ""
            for x in ("latency", "macs"):
                chart = accuracy_chart(part, dataset, x, provenance, batch, colors,
                                       setting=name if len(names) > 1 else "", stem_suffix=suffix)
                if chart is not None:
                    charts.append(chart)
    scatter, ranks = latency_vs_macs_chart(rows, provenance, batch, colors)
    if scatter is not None:
        charts.append(scatter)
    return charts, ranks
