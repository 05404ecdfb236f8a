"""Writing the HetConv claim study: a Markdown verdict table, charts and a CSV of medians.

Files go to `<out>/hetconv-<target>-<machine>.md` (+ `.png` charts and `-layers.csv`); every file
names the machine, versions and date. Header, verdict table and guarded writing are the shared
claim-report scaffolding (`bench.claims.report_base`); charts use the shared Agg canvas, no pyplot.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from statistics import median

from matplotlib.figure import Figure

from bench.claims.base import StudyRun
from bench.claims.hetconv_study import StudyResult, chosen_hetconv
from bench.claims.report_base import (VERDICT_RULES, ReportFolder, evidence_lines, header_lines, report_stem,
                                      study_provenance, utc_stamp, verdict_table)
from bench.report.canvas import add_footer, new_panels, png_bytes
from bench.report.charts import PALETTE
from bench.stats import median_ci

CHART_DPI = 130
# Readability limits for the claim charts: more lines than this per panel repeat colours and crowd
# the legend; wider PNGs do not fit a page or a README.
MAX_SERIES = 8
MAX_WIDTH_PX = 1600
MARKERS = "osD^v<>p"
SUFFIXES = (".md", "-speedup.png", "-matched.png", "-layers.csv")


def report_names(target: str, fingerprint: dict) -> tuple[str, ...]:
    """Every file the report writes for this target and machine."""
    stem = report_stem("hetconv", target, fingerprint)
    return tuple(stem + s for s in SUFFIXES)


def _cases(study: StudyResult) -> list[str]:
    return sorted({r.case for r in study.layers}, key=lambda c: [int(t[1:]) for t in c.split()])


def chunks(items: list, size: int = MAX_SERIES) -> list[list]:
    """`items` split into consecutive panels of at most `size`, as even as possible (9 -> 5 + 4)."""
    if not items:
        return []
    n = -(-len(items) // size)
    per = -(-len(items) // n)
    return [items[i:i + per] for i in range(0, len(items), per)]


def _speedup_series(study: StudyResult) -> list[tuple[str, list[tuple[int, float, float]]]]:
    """(case, [(P, MACs speed-up, latency speed-up)]) per case with a standard conv."""
    out = []
    for case in _cases(study):
        std = next((r for r in study.layers if r.case == case and r.op.kind == "standard"), None)
        if std is None:
            continue
        parts = sorted({r.op.part for r in study.layers if r.case == case and r.op.kind == "hetconv"})
        pts = [(p, r) for p in parts if (r := chosen_hetconv(study.layers, case, p)) is not None]
        out.append((case, [(p, std.macs / r.macs, median(std.samples_ms) / median(r.samples_ms)) for p, r in pts]))
    return out


def speedup_figure(study: StudyResult, title: str, footer: str) -> Figure:
    """Latency speed-up vs MACs speed-up over a standard conv, one line per case, points per P;
    at most MAX_SERIES cases per panel (panels stacked), each case its own palette colour."""
    series = _speedup_series(study)
    panels = chunks(series) or [[]]
    fig, axes = new_panels(len(panels), (7.5, 0.6 + 4.6 * len(panels)), CHART_DPI)
    lim = max([1.0] + [v for _c, pts in series for _p, x, y in pts for v in (x, y)])
    for k, (ax, group) in enumerate(zip(axes, panels)):
        for i, (case, pts) in enumerate(group):
            xs, ys = [x for _p, x, _y in pts], [y for _p, _x, y in pts]
            ax.plot(xs, ys, marker=MARKERS[i % len(MARKERS)], linestyle="-", alpha=0.85, label=case,
                    color=PALETTE[i % len(PALETTE)])
            for (p, x, y) in pts:
                ax.annotate(f"P{p}", (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
        ax.plot([0.8, lim * 1.1], [0.8, lim * 1.1], color="grey", linestyle="--", linewidth=1,
                label="latency = MACs speed-up")
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set_xlim(0, lim * 1.12)
        ax.set_ylim(0, lim * 1.12)  # same scales in every panel, so panels compare by eye
        ax.set_xlabel("MACs speed-up over a standard 3x3 conv (paper formula)")
        ax.set_ylabel("latency speed-up (p50)")
        ax.set_title(title if len(panels) == 1 else f"{title} ({k + 1}/{len(panels)})", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", ncol=2)
        ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0, 0.05 / len(panels), 1, 1))
    add_footer(fig, footer, 120)
    return fig


def speedup_chart(study: StudyResult, title: str, footer: str) -> bytes:
    """`speedup_figure` as PNG."""
    return png_bytes(speedup_figure(study, title, footer))


def _with_err(samples: list[float]) -> tuple[float, tuple[float, float]]:
    m = median(samples)
    lo, hi = median_ci(samples)
    return m, (m - lo, hi - m)


def _matched_rows(study: StudyResult) -> list[tuple[str, tuple, tuple]]:
    """(case label, (HetConv p50, CI err), (DWC+PWC p50, CI err)) per case with both measured."""
    rows = []
    for case in _cases(study):
        channels = int(case.split()[0][1:])
        pc = chosen_hetconv(study.layers, case, channels)
        d = next((r for r in study.layers if r.case == case and r.op.kind == "dwc_pwc"), None)
        if pc is None or d is None:
            continue
        rows.append((f"{case}\n[{pc.op.impl}]", _with_err(pc.samples_ms), _with_err(d.samples_ms)))
    return rows


def matched_figure(study: StudyResult, title: str, footer: str) -> Figure:
    """HetConv P = M vs DWC+PWC per case: p50 bars with the 95 % CI of the median, on a linear axis
    from zero (bar lengths compare), at most MAX_SERIES cases per panel, at most MAX_WIDTH_PX wide."""
    rows = _matched_rows(study)
    panels = chunks(rows) or [[]]
    width = min(MAX_WIDTH_PX / CHART_DPI, max(6.0, 1.1 * max(len(g) for g in panels) + 2))
    fig, axes = new_panels(len(panels), (width, 0.6 + 4.4 * len(panels)), CHART_DPI)
    w = 0.38
    for k, (ax, group) in enumerate(zip(axes, panels)):
        xs = range(len(group))
        het, dwc = [g[1] for g in group], [g[2] for g in group]
        ax.bar([x - w / 2 for x in xs], [m for m, _e in het], w, yerr=list(zip(*[e for _m, e in het])) if het else None,
               label="HetConv P=M (PC)", capsize=3, color=PALETTE[4])
        ax.bar([x + w / 2 for x in xs], [m for m, _e in dwc], w, yerr=list(zip(*[e for _m, e in dwc])) if dwc else None,
               label="DWC+PWC", capsize=3, color=PALETTE[0])
        ax.set_xticks(list(xs))
        ax.set_xticklabels([g[0] for g in group], fontsize=7)
        ax.set_yscale("linear")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("p50 latency, ms (95 % CI of the median)")
        ax.set_title(title if len(panels) == 1 else f"{title} ({k + 1}/{len(panels)})", fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout(rect=(0, 0.06 / len(panels), 1, 1))
    add_footer(fig, footer, 110)
    return fig


def matched_chart(study: StudyResult, title: str, footer: str) -> bytes:
    """`matched_figure` as PNG."""
    return png_bytes(matched_figure(study, title, footer))


def layer_csv(study: StudyResult) -> str:
    """Every measured operator and network: case, label, MACs, depth, p50 and its CI, samples, and
    whether the row is the calibration pass or the compared (fresh) measurement."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["phase", "case", "channels", "size", "batch", "operator", "kind", "part", "impl", "chosen_by", "macs",
                "depth", "p50_ms", "ci_low_ms", "ci_high_ms", "samples", "rounds_taken", "note"])
    for phase, rows in (("compared", study.layers), ("calibration", study.calibration)):
        for r in rows:
            lo, hi = median_ci(r.samples_ms)
            w.writerow([phase, r.case, r.channels, r.size, r.batch, r.op.label, r.op.kind, r.op.part, r.op.impl,
                        r.chosen_by, r.macs, r.depth, f"{median(r.samples_ms):.5g}", f"{lo:.5g}", f"{hi:.5g}",
                        len(r.samples_ms), r.rounds_taken or "", r.note])
    for r in study.networks:
        lo, hi = median_ci(r.samples_ms)
        w.writerow(["compared", f"network b{r.batch}", "", "", r.batch, r.model, "network", "", "", "", r.macs,
                    r.depth, f"{median(r.samples_ms):.5g}", f"{lo:.5g}", f"{hi:.5g}", len(r.samples_ms),
                    r.rounds_taken or "", r.note])
    return buf.getvalue()


def calibration_lines(study: StudyResult) -> list[str]:
    """Markdown table: per case and P, the impl chosen by the calibration pass and every candidate's median."""
    rows = []
    for case in _cases(study):
        for r in study.layers:
            if r.case != case or not r.chosen_by:
                continue
            cands = [c for c in study.calibration if c.case == case and c.op.kind == "hetconv"
                     and c.op.part == r.op.part and c.op.impl in study.config.impls]
            medians = ", ".join(f"{c.op.impl} {median(c.samples_ms):.4g}" for c in cands)
            rounds = min((len(c.samples_ms) for c in cands), default=0)
            rows.append(f"| {case} | P{r.op.part} | {r.op.impl} ({r.chosen_by}) | {medians} | {rounds} |")
    if not rows:
        return []
    return ["## HetConv impl chosen by calibration", "",
            "Each P is compared through one exact impl, picked by the lowest median of a short calibration pass "
            "and then timed again on fresh samples with the references, so the pick's luck does not enter the "
            "comparison.", "", "| case | P | chosen impl | calibration medians (ms) | calibration rounds |",
            "|---|---|---|---|---|"] + rows + [""]


def quiet_round_lines(study: StudyResult) -> list[str]:
    """Markdown table: per compared group, how many of its rounds were quiet and so entered the ratios."""
    groups: dict[str, tuple[int, int]] = {}
    for r in study.layers:
        groups.setdefault(r.case, (len(r.samples_ms), r.rounds_taken))
    for r in study.networks:
        groups.setdefault(f"network b{r.batch}", (len(r.samples_ms), r.rounds_taken))
    rows = [f"| {g} | {kept} | {taken} | {kept / taken:.0%} |" if taken else f"| {g} | {kept} | ? | |"
            for g, (kept, taken) in groups.items()]
    if not rows:
        return []
    tol = study.config.quiet_tolerance
    rule = ("every round" if tol is None else
            f"the rounds whose operators ran within {tol:.0%} of their own fast level (median over the group's "
            "operators of time / that operator's 10th percentile); the others ran while the machine was in a "
            "slower state, which does not slow every operator alike (bench.quiet_rounds, docs/contention.md)")
    return ["## Quiet rounds", "",
            f"Each group was timed for at least {study.config.group_min_time_s:g} s, interleaved; medians and "
            f"verdicts use {rule}. Rounds set aside are stored with the cells.", "",
            "| group | rounds kept | rounds taken | kept |", "|---|---|---|---|"] + rows + [""]


def write_study(run: StudyRun, folder: ReportFolder) -> Path:
    """Write the Markdown verdict table, the two charts and the CSV through `folder`; returns the .md path."""
    study: StudyResult = run.result
    date = utc_stamp()
    prov = study_provenance(run.target, run.fingerprint, date)
    md_name, speed_name, matched_name, csv_name = report_names(run.target, run.fingerprint)
    title = f"HetConv claim study, {prov.target_label()}, {date[:10]}"
    footer = prov.one_line()
    folder.check()
    folder.write_bytes(speed_name, speedup_chart(
        study, title + "\nlatency vs MACs speed-up per P (HetConv impl chosen by calibration)", footer))
    folder.write_bytes(matched_name, matched_chart(study, title + "\nHetConv PC vs DWC+PWC at matched MACs", footer))
    folder.write_text(csv_name, layer_csv(study))
    lines = header_lines(run, "HetConv claim study", date)
    lines += [VERDICT_RULES + " Operators of one case are timed interleaved. Each P is compared through the "
              "exact HetConv impl (masked, grouped, branches, folded compute the same function) that a separate "
              "calibration pass found fastest, timed again on fresh samples; each comparison gets "
              f"{study.config.min_samples} rounds where they fit within {study.config.case_max_time_s:g} s per "
              "case, and says so where they do not.", "", verdict_table(run.verdicts)]
    lines += evidence_lines(run.verdicts)
    lines += quiet_round_lines(study)
    lines += calibration_lines(study)
    from bench.claims.hetconv_ops import section_lines

    lines += section_lines(getattr(study, "op_breakdown", None))
    lines += ["## Charts", "", f"![latency vs MACs speed-up]({speed_name})", "",
              f"![HetConv PC vs DWC+PWC]({matched_name})", "", f"All medians: [{csv_name}]({csv_name}).", ""]
    return folder.write_text(md_name, "\n".join(lines))
