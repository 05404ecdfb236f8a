"""Stacked bars of profiled time by op kind, several models side by side.

One bar per profiled model of a slice (its layer times from `bench profile`, ms per pass), split
by op kind ('conv 3x3', 'hetconv 3x3 P4 grouped', 'depthwise 3x3', 'add', ...). The model's own
row (Python between layers, FX graph code) is one 'dispatch' part. The ten kinds with the most
time across the chart keep their names; the rest are summed as 'other'. At most `PER_CHART`
models per chart; more give further numbered charts.
"""
from __future__ import annotations

from collections import defaultdict

from bench.report.canvas import add_footer, new_figure
from bench.report.charts import Chart
from bench.report.profiles import StoredProfile
from bench.report.roofline import KIND_COLORS

PER_CHART = 12
NAMED_KINDS = 10


def kind_of(layer: dict) -> str:
    """The bar part a layer goes to: its kind, with the model row's '...+dispatch' as 'dispatch'."""
    kind = str(layer.get("kind") or "?")
    return "dispatch" if "dispatch" in kind else kind


def time_by_kind(prof: StoredProfile) -> dict[str, float]:
    """ms per op kind of one profile."""
    out: dict[str, float] = defaultdict(float)
    for lay in prof.layers:
        out[kind_of(lay)] += lay.get("ms") or 0.0
    return dict(out)


def kind_stacks(group: list[tuple[str, StoredProfile]]) -> list[tuple[str, list[float]]]:
    """(part, ms per model of `group`) in stacking order: the `NAMED_KINDS` kinds with the most time
    across the group, then 'other' (the rest summed) when there is a rest."""
    by_model = [time_by_kind(p) for _, p in group]
    totals: dict[str, float] = defaultdict(float)
    for kinds in by_model:
        for k, ms in kinds.items():
            totals[k] += ms
    named = sorted(totals, key=totals.get, reverse=True)[:NAMED_KINDS]
    parts = named + (["other"] if len(totals) > len(named) else [])
    return [(part, [sum(ms for k, ms in kinds.items() if (k == part if part != "other" else k not in named))
                    for kinds in by_model]) for part in parts]


def chart_groups(profiles: list[tuple[str, StoredProfile]]) -> list[list[tuple[str, StoredProfile]]]:
    """`profiles` cut into charts of at most `PER_CHART` models."""
    return [profiles[i:i + PER_CHART] for i in range(0, len(profiles), PER_CHART)]


def opkind_charts(profiles: list[tuple[str, StoredProfile]], footer: str) -> list[Chart]:
    """The charts for (label, profile) pairs, in their order; [] when there are none."""
    charts = []
    groups = chart_groups(profiles)
    for n, group in enumerate(groups, 1):
        width = max(6.0, 1.1 * len(group) + 4)
        fig, ax = new_figure((width, 5.4))
        bottoms = [0.0] * len(group)
        for i, (part, heights) in enumerate(kind_stacks(group)):
            ax.bar(range(len(group)), heights, bottom=bottoms, label=part,
                   color=KIND_COLORS[i % len(KIND_COLORS)] if part != "other" else "#bbbbbb", edgecolor="white",
                   linewidth=0.4)
            bottoms = [b + h for b, h in zip(bottoms, heights)]
        ax.set_xticks(range(len(group)))
        ax.set_xticklabels([label for label, _ in group], rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("profiled time per pass (ms, median over iterations)")
        suffix = f" ({n}/{len(groups)})" if len(groups) > 1 else ""
        ax.set_title(f"Time by op kind{suffix}", fontsize=10)
        ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        add_footer(fig, footer, int(15 * width))
        stem = "time-by-op-kind" + (f"-{n}" if len(groups) > 1 else "")
        charts.append(Chart(stem=stem, title=f"Time by op kind{suffix}", figure=fig))
    return charts


def profile_charts(s, profiles) -> list[Chart]:
    """Every profile chart of slice `s` (a `ReportSlice`) from `profiles` (a `ProfileSet`): the op-kind
    bars, then one roofline per profiled model; [] without profiles."""
    from bench.report.roofline import roofline_chart

    if profiles is None:
        return []
    found = profiles.for_rows(s.rows)
    footer = f"{s.provenance.target_label()}, batch {s.batch}; per-layer times from `bench profile` (torch.profiler " \
             "self time per layer on cpu, ETDump per op on mobile)"
    charts = opkind_charts(found, footer)
    for label, prof in found:
        chart = roofline_chart(label, prof, footer)
        if chart is not None:
            charts.append(chart)
    return charts
