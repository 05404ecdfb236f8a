"""Speed-up of each variant against its family baseline.

The baseline rule, applied to the models measured in the same slice (target, machine, batch):

0. Parent: a compressed variant whose metadata names its dense `parent` is compared with it
   when the parent was measured (e.g. a pruned model registered with parent `resnet56_cifar`).
1. Name prefix: strip trailing `_suffix` segments from the variant's name, shortest remaining
   name first; the first that is a measured model on the same dataset is the baseline.
   `vgg16_cifar_p4_se` -> `vgg16_cifar` (not `vgg16`, an ImageNet model), `resnet56_cifar_p2`
   -> `resnet56_cifar`, `mobilenet_cifar_p32` -> `mobilenet_cifar`, `resnet50_p4` -> `resnet50`,
   `resnet56_cifar_pruned_a` -> `resnet56_cifar`.
2. Width siblings: otherwise a width-multiplier name is compared with its 1.0x sibling:
   `shufflenet_v2_x0_5` -> `shufflenet_v2_x1_0`, `ghostnet_050` -> `ghostnet_100`.
3. Otherwise the variant is its own family root and has no speed-up (a baseline shows 1.00x).

Speed-up = baseline p50 / variant p50 (> 1 means faster than the baseline). The baseline row
must share dtype, layout, threads and compile with the variant; the same HetConv impl is
preferred, and where the baseline has several impls but not the variant's, its fastest row is
used so that the speed-up is never flattered by a slow baseline implementation.
"""
from __future__ import annotations

import math
import re

import pandas as pd

MATCH_COLUMNS = ("dtype", "layout", "threads", "compile")
_WIDTH_PATTERNS = ((re.compile(r"_x\d+_\d+$"), "_x1_0"), (re.compile(r"_\d{3}$"), "_100"))


def baseline_candidates(model: str) -> list[str]:
    """Names that could be `model`'s baseline, in the order the rule tries them."""
    parts = model.split("_")
    prefixes = ["_".join(parts[:i]) for i in range(1, len(parts))]
    siblings = [pat.sub(repl, model) for pat, repl in _WIDTH_PATTERNS if pat.search(model)]
    return prefixes + [s for s in siblings if s != model]


def baseline_name(model: str, dataset: str | None, measured: dict[str, str | None],
                  parent: str | None = None) -> str | None:
    """`model`'s baseline among `measured` (model -> dataset), or None if it is a family root."""
    if parent and parent != model and parent in measured:
        return parent
    for candidate in baseline_candidates(model):
        if candidate in measured and measured[candidate] == dataset:
            return candidate
    return None


def _baseline_p50(base_rows: pd.DataFrame, row: pd.Series) -> float:
    same = base_rows
    for col in MATCH_COLUMNS:
        if col in base_rows.columns:
            same = same[same[col].astype(str) == str(row[col])]
    if same.empty:
        return math.nan
    if "impl" in same.columns:
        same_impl = same[same["impl"].astype(str) == str(row["impl"])]
        if not same_impl.empty:
            return float(same_impl["p50_ms"].min())
    return float(same["p50_ms"].min())


def add_speedups(rows: pd.DataFrame) -> pd.DataFrame:
    """Add `baseline` (name or None) and `speedup` (baseline p50 / p50, NaN when undefined)."""
    df = rows.copy()
    ok = df[(df["status"] == "ok") & df["p50_ms"].notna()]
    datasets = dict(zip(ok["model"], ok["dataset"] if "dataset" in ok else [None] * len(ok)))
    parents = dict(zip(df["model"], df["parent"] if "parent" in df else [None] * len(df)))
    baselines, speedups = [], []
    for _, row in df.iterrows():
        base = baseline_name(row["model"], datasets.get(row["model"], row.get("dataset")), datasets,
                             parents.get(row["model"]))
        if base is None and row["model"] in datasets and any(
                baseline_name(m, datasets[m], datasets, parents.get(m)) == row["model"] for m in datasets):
            base = row["model"]  # a family root that others are compared with shows 1.00x
        baselines.append(base)
        if base is None or row["status"] != "ok" or pd.isna(row["p50_ms"]) or row["p50_ms"] <= 0:
            speedups.append(math.nan)
        else:
            speedups.append(_baseline_p50(ok[ok["model"] == base], row) / float(row["p50_ms"]))
    df["baseline"] = baselines
    df["speedup"] = pd.Series(speedups, index=df.index, dtype=float)
    return df
