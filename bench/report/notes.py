"""Text shared by the Markdown and HTML pages: the provenance header and how to read the page."""
from __future__ import annotations

from bench.report.data import ReportSlice
from bench.report.fronts import RankComparison
from bench.report.tables import constant_settings

READING_NOTES = (
    "Latency: p50 of per-call wall time after a steady-state warm-up; the CI is the 95 % "
    "distribution-free confidence interval of the median (error bars in the charts).",
    "MACs: one multiply-add = one MAC (FLOPs = 2 x MACs), conv + linear + matmul of the deploy "
    "form (BN folded), batch 1, HetConv by the paper's operator formula.",
    "Accuracy: the variant's reported top-1 on its own dataset, from the zoo metadata (source shown "
    "per row: paper, torchvision metadata or measured). It is never measured by this report, and "
    "CIFAR-10 and ImageNet accuracies are charted separately.",
    "Pareto front: no other variant on the same dataset and setting (threads, dtype, layout, "
    "compile; HetConv impl where several were measured) is at least as accurate and at least as "
    "fast (one of the two strictly); a front never mixes settings. \"front (CI ties)\": the same, but latencies whose CIs overlap "
    "count as equal, so a speed advantage within noise does not keep a less accurate variant on it.",
    "Speed-up vs family baseline: baseline p50 / variant p50 (> 1 is faster). The baseline is the "
    "variant's dense parent when its metadata names one, else the shortest name prefix of the "
    "variant that was measured on the same dataset (vgg16_cifar for "
    "vgg16_cifar_p4_se, resnet56_cifar for resnet56_cifar_p2, resnet50 for resnet50_p4), else the "
    "1.0x-width sibling (shufflenet_v2_x1_0 for shufflenet_v2_x0_5), with the same dtype, layout, "
    "threads and compile setting.",
    "Latency vs MACs: Spearman's rank correlation over all measured variants; the called-out "
    "variants are those whose latency rank differs most from their MACs rank.",
    "% of roofline: the roofline floor of the cell's newest `bench profile` (per layer max(2 x MACs / peak "
    "FLOP/s, bytes / bandwidth) with the machine's `bench ceilings`, summed) / p50; blank without a profile. "
    "Peak memory (MiB): one forward pass, measured per target as docs/profiling.md states.",
)


def header_items(s: ReportSlice) -> list[tuple[str, str]]:
    """(name, value) pairs stating target, machine, versions, date and fixed settings."""
    prov = s.provenance
    settings = ", ".join(f"{k} {v}" for k, v in constant_settings(s).items()) or "see the settings column"
    machine = prov.machine if prov.arch in prov.machine else f"{prov.machine} ({prov.arch})"
    items = [("Target", prov.target_label()), ("Machine", machine),
             ("Versions", prov.versions_text()), ("Measured on", prov.date_text()),
             ("Batch size", str(s.batch)), ("Settings", settings)]
    if prov.git_commits:
        items.append(("Git commit", ", ".join(prov.git_commits)))
    if prov.run_ids:
        items.append(("Runs", ", ".join(prov.run_ids)))
    if prov.load:
        items.append(("Load", prov.load))
    if prov.note():
        items.append(("Note", prov.note()))
    items.append(("Runs selected", s.selection.how))
    items.append(("Left out", left_out_text(s)))
    return items


def left_out_text(s: ReportSlice) -> str:
    """Runs the selection dropped (with why) and older measurements that newer ones superseded."""
    parts = [f"run {rid} ({why})" for rid, why in s.selection.left_out.items()]
    if s.superseded:
        parts.append(f"{s.superseded} older measurement{'s' if s.superseded > 1 else ''} of cells re-measured "
                     "by a newer run")
    return "; ".join(parts) or "nothing"


def rank_lines(ranks: RankComparison) -> list[str]:
    """The Spearman summary and one line per called-out variant."""
    lines = [ranks.summary()]
    for _, r in ranks.outliers.iterrows():
        direction = "slower" if r["rank_shift"] > 0 else "faster"
        lines.append(f"{r['label']}: MACs rank {r['macs_rank']:g}, latency rank {r['latency_rank']:g} "
                     f"({r['rank_shift']:+g}: {direction} than its MACs predict)")
    return lines
