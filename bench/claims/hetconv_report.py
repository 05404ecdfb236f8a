"""Writing the HetConv claim study: a Markdown verdict table, charts and a CSV of medians.

Files go to `<out>/hetconv-<target>-<machine>.md` (+ `.png` charts and `-layers.csv`), and
every file names the machine, versions and date.
"""
from __future__ import annotations

import csv
import datetime as _dt
import re
from pathlib import Path
from statistics import median

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.claims.hetconv_study import StudyResult  # noqa: E402
from bench.stats import median_ci  # noqa: E402


def machine_label(fp: dict) -> str:
    """Human label of the machine a study ran on (CPU model, GPU name, architecture)."""
    cpu = fp.get("cpu_model") or fp.get("cpu") or "unknown CPU"
    arch = fp.get("arch") or fp.get("machine") or ""
    gpu = fp.get("gpu_name") or ""
    return " / ".join(x for x in (gpu, f"{cpu} ({arch})" if arch else cpu) if x)


def slug(text: str) -> str:
    """Filesystem-safe lower-case slug."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "unknown"


def target_label(study: StudyResult) -> str:
    """The target as shown to readers; XNNPACK on a non-ARM host is never called ARM."""
    fp = study.fingerprint
    arch = str(fp.get("arch") or fp.get("machine") or "")
    if study.target == "mobile":
        return f"ExecuTorch XNNPACK on host {arch}" + ("" if arch.lower() in ("aarch64", "arm64") else " (not ARM)")
    return study.target


def _provenance(study: StudyResult, date: str) -> str:
    fp = study.fingerprint
    versions = ", ".join(f"{k} {fp[k]}" for k in ("torch", "python", "executorch", "cuda", "cudnn", "onednn")
                         if fp.get(k))
    return (f"Measured on {machine_label(fp)}, target {target_label(study)}, threads {fp.get('threads', '?')}, "
            f"{versions}; git {fp.get('git_commit') or 'unknown'}; {date}; study '{study.config.name}' "
            f"took {study.elapsed_s:.0f} s.")


def _speedup_chart(study: StudyResult, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    cases = sorted({r.case for r in study.layers})
    markers = "osD^v<>p*h"
    lim = 1.0
    for i, case in enumerate(cases):
        std = next((r for r in study.layers if r.case == case and r.op.kind == "standard"), None)
        if std is None:
            continue
        pts = {}
        for r in study.layers:
            if r.case == case and r.op.kind == "hetconv" and r.op.impl != "grouped_streams":
                best = pts.get(r.op.part)
                if best is None or median(r.samples_ms) < median(best.samples_ms):
                    pts[r.op.part] = r
        xs = [std.macs / r.macs for _p, r in sorted(pts.items())]
        ys = [median(std.samples_ms) / median(r.samples_ms) for _p, r in sorted(pts.items())]
        ax.plot(xs, ys, marker=markers[i % len(markers)], linestyle="-", alpha=0.8, label=case)
        for (p, _r), x, y in zip(sorted(pts.items()), xs, ys):
            ax.annotate(f"P{p}", (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
        lim = max([lim] + xs + ys)
    ax.plot([0.8, lim * 1.1], [0.8, lim * 1.1], color="grey", linestyle="--", linewidth=1, label="latency = MACs speed-up")
    ax.axhline(1.0, color="black", linewidth=0.6)
    ax.set_xlabel("MACs speed-up over a standard 3x3 conv (paper formula)")
    ax.set_ylabel("latency speed-up over a standard 3x3 conv (p50)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _matched_chart(study: StudyResult, path: Path, title: str) -> None:
    labels, het, dwc, het_err, dwc_err = [], [], [], [], []

    def with_err(samples):
        m = median(samples)
        lo, hi = median_ci(samples)
        return m, (m - lo, hi - m)

    for case in sorted({r.case for r in study.layers}):
        channels = int(case.split()[0][1:])
        pcs = [r for r in study.layers if r.case == case and r.op.kind == "hetconv" and r.op.part == channels
               and r.op.impl != "grouped_streams"]
        d = next((r for r in study.layers if r.case == case and r.op.kind == "dwc_pwc"), None)
        if not pcs or d is None:
            continue
        best = min(pcs, key=lambda r: median(r.samples_ms))
        labels.append(f"{case}\n[{best.op.impl}]")
        m, e = with_err(best.samples_ms)
        het.append(m)
        het_err.append(e)
        m, e = with_err(d.samples_ms)
        dwc.append(m)
        dwc_err.append(e)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(labels) + 2), 5))
    xs = range(len(labels))
    w = 0.38
    ax.bar([x - w / 2 for x in xs], het, w, yerr=list(zip(*het_err)) if het_err else None, label="HetConv P=M (PC)",
           capsize=3)
    ax.bar([x + w / 2 for x in xs], dwc, w, yerr=list(zip(*dwc_err)) if dwc_err else None, label="DWC+PWC", capsize=3)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("p50 latency, ms (95 % CI of the median)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def write_layer_csv(study: StudyResult, path: Path) -> None:
    """Every measured operator: case, label, MACs, depth, p50 and its CI, sample count."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["case", "channels", "size", "batch", "operator", "kind", "part", "impl", "macs", "depth",
                    "p50_ms", "ci_low_ms", "ci_high_ms", "samples"])
        for r in study.layers:
            lo, hi = median_ci(r.samples_ms)
            w.writerow([r.case, r.channels, r.size, r.batch, r.op.label, r.op.kind, r.op.part, r.op.impl, r.macs,
                        r.depth, f"{median(r.samples_ms):.5g}", f"{lo:.5g}", f"{hi:.5g}", len(r.samples_ms)])
        for r in study.networks:
            lo, hi = median_ci(r.samples_ms)
            w.writerow([f"network b{r.batch}", "", "", r.batch, r.model, "network", "", "", r.macs, r.depth,
                        f"{median(r.samples_ms):.5g}", f"{lo:.5g}", f"{hi:.5g}", len(r.samples_ms)])


def write_study(study: StudyResult, out_dir: Path) -> Path:
    """Write the Markdown verdict table, the two charts and the CSV; returns the .md path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    base = f"hetconv-{slug(study.target)}-{slug(machine_label(study.fingerprint))}"
    prov = _provenance(study, date)
    title = f"HetConv claim study, {target_label(study)}, {machine_label(study.fingerprint)}, {date[:10]}"
    _speedup_chart(study, out_dir / f"{base}-speedup.png", title + "\nlatency vs MACs speed-up per P")
    _matched_chart(study, out_dir / f"{base}-matched.png", title + "\nHetConv PC vs DWC+PWC at matched MACs")
    write_layer_csv(study, out_dir / f"{base}-layers.csv")
    lines = [f"# HetConv claim study: {target_label(study)}", "", prov, "",
             "Verdicts are 'supported' or 'refuted' only when every case is significant (Mann-Whitney U p < 0.01 "
             "and the bootstrap 95 % CI of the ratio of medians excludes 1); 'mixed' when the significant cases "
             "disagree or cover only some cases; 'inconclusive' when none is significant. Operators of one case "
             "are timed interleaved. 'Best exact impl' picks the HetConv implementation with the lowest median "
             "per case (masked, grouped, branches, folded compute the same function).", "",
             "| claim | what was measured | verdict |", "|---|---|---|"]
    lines += [f"| {v.claim} | {v.measured} | **{v.verdict}** |" for v in study.verdicts]
    lines += ["", "## Evidence", ""]
    for v in study.verdicts:
        lines += [f"### {v.claim}: {v.verdict}", ""] + [f"- {e}" for e in v.evidence] + [""]
    lines += ["## Charts", "", f"![latency vs MACs speed-up]({base}-speedup.png)", "",
              f"![HetConv PC vs DWC+PWC]({base}-matched.png)", "",
              f"All medians: [{base}-layers.csv]({base}-layers.csv).", ""]
    md = out_dir / f"{base}.md"
    md.write_text("\n".join(lines))
    return md
