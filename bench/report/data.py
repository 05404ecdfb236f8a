"""Report input: the latest result per grid cell, joined with zoo accuracy, split into slices.

A slice is everything one report page shows: one target, one machine, one batch size. Inside a
slice a model can appear more than once (several dtypes, layouts, HetConv impls, thread
counts); each such row is one point, labelled with the settings that tell it apart.

Accuracy is measured (`bench eval`, carried in the results' `measured_*` columns) where it
exists, else the zoo metadata's (`zoo.get_meta(name).reported.top1`) with its source; it
is the accuracy of the variant on its own dataset, so accuracy charts and fronts are drawn per
dataset (CIFAR-10 and ImageNet top-1 are not comparable). Variants without a reported top-1
stay in the tables and are listed under "no accuracy" with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from bench.report.provenance import Provenance, provenance_for
from bench.report.selection import Selection
from devices.registry import aliases

# Settings that distinguish two results of the same model in one slice.
CONFIG_COLUMNS = ("dtype", "layout", "impl", "threads", "compile")
CELL_KEY = ("model", "target", "machine", "batch") + CONFIG_COLUMNS
NO_IMPL = "-"
# Older or hand-made stores may spell a target by its alias ('arm'); reports use one name.
TARGET_ALIASES = aliases()


@dataclass(frozen=True)
class Accuracy:
    """A variant's top-1 with where it comes from; `missing` says why there is none."""

    top1: float | None
    source: str
    kind: str  # "paper", "torchvision metadata", "user-reported", "measured" or "" when missing
    dataset: str | None
    missing: str = ""


def accuracy_kind(source: str) -> str:
    """Classify a `Reported.source` text as paper, torchvision metadata or measured."""
    text = source.lower()
    if "user-reported" in text:
        return "user-reported"
    if "torchvision" in text:
        return "torchvision metadata"
    if "measured" in text or "bench eval" in text:
        return "measured"
    return "paper"


def accuracy_for(model: str) -> Accuracy:
    """Top-1 of `model` from the zoo metadata, or the reason there is none."""
    import zoo
    from zoo.registry import UnknownModelError

    try:
        meta = zoo.get_meta(model)
    except UnknownModelError:
        return Accuracy(None, "", "", None, "not registered in this zoo")
    top1 = meta.reported.top1
    if top1 is None:
        return Accuracy(None, "", "", meta.dataset, f"no reported {meta.dataset} top-1 in the zoo metadata")
    source = meta.reported.source or "source not recorded"
    return Accuracy(float(top1), source, accuracy_kind(meta.reported.source), meta.dataset)


def measured_accuracy(row: pd.Series, reported: Accuracy) -> Accuracy:
    """The measured top-1 of a result row (from `bench eval`) if it has one, else `reported`.

    The dataset is the variant's own where it is registered, else the measured data's kind.
    """
    value = row.get("measured_top1")
    if value is None or pd.isna(value):
        return reported
    dataset = reported.dataset or row.get("measured_data_kind")
    return Accuracy(float(value), str(row.get("measured_source") or "measured by bench eval"), "measured", dataset)


def latest_per_cell(results: pd.DataFrame) -> pd.DataFrame:
    """Keep the most recent row of each grid cell (a re-run supersedes an older measurement)."""
    if results.empty:
        return results.copy()
    df = results.copy()
    df["target"] = df["target"].map(lambda t: TARGET_ALIASES.get(t, t))
    if "impl" in df.columns:  # models without HetConv have no impl; "-" keeps them groupable and printable
        df["impl"] = df["impl"].astype(object).where(df["impl"].notna(), NO_IMPL)
    order = [c for c in ("run_created_at", "created_at") if c in df.columns]
    if order:
        df = df.sort_values(order, kind="stable")
    key = [c for c in CELL_KEY if c in df.columns]
    return df.drop_duplicates(subset=key, keep="last").reset_index(drop=True)


def _config_text(row: pd.Series, columns: list[str]) -> str:
    parts = []
    for col in columns:
        value = row[col]
        if col == "threads":
            parts.append(f"{value} thr")
        elif col == "compile":
            parts.append("compiled" if bool(value) else "eager")
        else:
            parts.append(str(value))
    return ", ".join(parts)


def fleet_machine(machine: str, fingerprint: dict) -> str:
    """The machine label of a run, with its fleet target when a `bench worker` measured it: two workers
    with one hardware label (`bench cluster local`'s -w0/-w1) are two targets, so two machines here."""
    if isinstance(fingerprint, str):  # hand-made frames may hold the stored JSON text
        import json

        try:
            fingerprint = json.loads(fingerprint)
        except ValueError:
            return machine
    resource = fingerprint.get("fleet_resource") if isinstance(fingerprint, dict) else None
    if not resource:
        return machine
    parts = str(resource).split(":", 2)  # 'zoobench:<device>:<label>' (bench/fleet/resources.py)
    return f"{machine}{FLEET_TAG}{':'.join(parts[1:]) if len(parts) == 3 else resource}]"


FLEET_TAG = " [fleet "


def fleet_target_of(machine: str) -> str:
    """The fleet target a `fleet_machine` label names ('cpu:AMD-EPYC-x86_64-w0'), '' for a direct run."""
    head, tag, tail = str(machine).rpartition(FLEET_TAG)
    return tail[:-1] if tag and tail.endswith("]") else ""


def use_fleet_machines(results: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`results` and `runs` with `machine` naming the fleet target of runs measured through the fleet
    (`fleet_machine`), so every slice, --latest and provenance tell those targets apart."""
    if runs.empty or "fingerprint" not in runs:
        return results, runs
    runs = runs.assign(machine=[fleet_machine(str(m), fp) for m, fp in zip(runs["machine"], runs["fingerprint"])])
    by_run = dict(zip(runs["run_id"].astype(str), runs["machine"]))
    machines = [by_run.get(str(r), m) for r, m in zip(results["run_id"], results["machine"])]
    return results.assign(machine=machines), runs


def add_labels(rows: pd.DataFrame) -> pd.DataFrame:
    """Add `label`: the model name, plus the settings that differ between its rows in the slice."""
    df = rows.copy()
    labels = []
    for _, row in df.iterrows():
        same = df[df["model"] == row["model"]]
        varying = [c for c in CONFIG_COLUMNS if c in df.columns and same[c].astype(str).nunique() > 1]
        labels.append(f"{row['model']} [{_config_text(row, varying)}]" if varying else row["model"])
    df["label"] = labels
    return df


def _stored_source_accuracy(rows: pd.DataFrame, fallback: Accuracy) -> Accuracy:
    """The accuracy a user model's results recorded with its source (`extra.source`), else `fallback`."""
    import json

    for text in rows.get("extra", pd.Series(dtype=object)).dropna():
        source = (json.loads(text) if isinstance(text, str) else text or {}).get("source")
        if not source:
            continue
        dataset = source.get("dataset")
        if source.get("top1") is None:
            return Accuracy(None, "", "", dataset, f"no reported top-1 for this {source.get('kind')} model "
                                                   "(give --top1 to `bench run`)")
        src = str(source.get("top1_source") or "")
        return Accuracy(float(source["top1"]), src, accuracy_kind(src), dataset)
    return fallback


def parent_of(model: str) -> str | None:
    """The dense variant a compressed variant was derived from (`ModelMeta.parent`), if any."""
    import zoo
    from zoo.registry import UnknownModelError

    try:
        return getattr(zoo.get_meta(model), "parent", None)
    except UnknownModelError:
        return None


def add_metadata(rows: pd.DataFrame) -> pd.DataFrame:
    """Add dataset, top1, top1_source, top1_kind, no_accuracy_reason (measured, else zoo metadata) and parent."""
    df = rows.copy()
    reported = {m: accuracy_for(m) for m in df["model"].unique()}
    for model, acc in list(reported.items()):
        if acc.missing == "not registered in this zoo":  # a user model (timm:, tv:, file): its stored source says
            reported[model] = _stored_source_accuracy(df[df["model"] == model], acc)
    found = [measured_accuracy(r, reported[r["model"]]) for _, r in df.iterrows()]
    df["dataset"] = [a.dataset for a in found]
    df["top1"] = [a.top1 for a in found]
    df["top1"] = df["top1"].astype(float)
    df["top1_source"] = [a.source for a in found]
    df["top1_kind"] = [a.kind for a in found]
    df["no_accuracy_reason"] = [a.missing for a in found]
    parents = {m: parent_of(m) for m in reported}
    df["parent"] = [parents[m] for m in df["model"]]
    return df


@dataclass
class ReportSlice:
    """One report page: the rows of one target, machine and batch, with their provenance."""

    target: str
    machine: str
    batch: int
    rows: pd.DataFrame
    provenance: Provenance
    selection: Selection = field(default_factory=Selection)
    superseded: int = 0  # older measurements of this slice's cells that newer rows replaced

    def measured(self) -> pd.DataFrame:
        """Rows with a latency (status ok)."""
        ok = self.rows[(self.rows["status"] == "ok") & self.rows["p50_ms"].notna()]
        return ok.reset_index(drop=True)

    def datasets_with_accuracy(self) -> list[str]:
        """Datasets that have at least one measured row with an accuracy, in a stable order."""
        ok = self.measured()
        return sorted(ok.loc[ok["top1"].notna(), "dataset"].dropna().unique())


def build_slices(results: pd.DataFrame, runs: pd.DataFrame, *, target: str | None = None,
                 batch: int | None = None, selection: Selection | None = None) -> list[ReportSlice]:
    """Split results into slices (target x machine x batch), newest row per cell, accuracy joined.

    `target` / `batch` restrict the selection; no matching rows gives an empty list. `selection`
    (which runs `results` was cut to, see `bench.report.selection`) is carried to the pages.
    """
    from bench.report.baseline import add_speedups
    from bench.report.fronts import add_front_flags

    selection = selection or Selection()
    df = latest_per_cell(results)
    total = results.assign(target=results["target"].map(lambda t: TARGET_ALIASES.get(t, t)))
    total = total.groupby(["target", "machine", "batch"]).size() if not total.empty else pd.Series(dtype=int)
    if target is not None:
        df = df[df["target"] == TARGET_ALIASES.get(target, target)]
    if batch is not None:
        df = df[df["batch"] == batch]
    if df.empty:
        return []
    df = add_metadata(df)
    out = []
    for (tgt, machine, bsz), rows in df.groupby(["target", "machine", "batch"], sort=True):
        rows = add_labels(rows.reset_index(drop=True))
        rows = add_front_flags(add_speedups(rows))
        prov = provenance_for(str(tgt), str(machine), rows, runs)
        superseded = int(total.get((tgt, machine, bsz), len(rows))) - len(rows)
        out.append(ReportSlice(str(tgt), str(machine), int(bsz), rows, prov, selection, superseded))
    return out
