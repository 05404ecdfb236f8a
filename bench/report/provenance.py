"""Where and when a slice was measured: machine, architecture, software versions and dates.

Read from the runs' fingerprints (JSON text in the store). Fingerprints are nested dicts whose
exact keys belong to the store; this module only looks for well-known names (torch, python,
executorch, cuda, ...) anywhere in them, so a renamed or missing field degrades to
"unknown" instead of failing the report.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# Version fields shown in every file, in this order; keys are matched after stripping "_version".
VERSION_NAMES = ("torch", "torchvision", "python", "executorch", "cuda", "cudnn", "onednn", "mkldnn", "driver",
                 "android_release", "os")
ARCH_VALUES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "arm64", "armv7l": "armv7l",
               "i686": "i686", "x86": "x86"}
ARM_ARCHES = {"aarch64", "arm64", "armv7l"}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts/lists as one dict with dotted keys."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}{i}."))
        return out
    return {prefix.rstrip("."): value}


def parse_fingerprint(text: Any) -> dict[str, Any]:
    """A fingerprint as a flat dict; JSON text, a dict, or nothing usable (-> {})."""
    if isinstance(text, dict):
        return flatten(text)
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        return flatten(json.loads(text))
    except json.JSONDecodeError:
        return {}


def _leaf(key: str) -> str:
    return re.sub(r"_?version$", "", key.rsplit(".", 1)[-1].lower()) or key.lower()


def versions_of(flat: dict[str, Any]) -> dict[str, str]:
    """Known software versions found in a flat fingerprint, keyed by short name."""
    found: dict[str, str] = {}
    for key, value in flat.items():
        if value is None or value == "" or isinstance(value, bool):
            continue
        leaf = _leaf(key)
        if leaf in VERSION_NAMES:
            found.setdefault(leaf, str(value))
    return {name: found[name] for name in VERSION_NAMES if name in found}


def arch_of(flat: dict[str, Any]) -> str:
    """The CPU architecture recorded in a flat fingerprint ("unknown" if none is recognisable)."""
    for key, value in flat.items():
        lowered = key.lower()
        if isinstance(value, str) and ("arch" in lowered or "machine" in lowered or "platform" in lowered):
            arch = ARCH_VALUES.get(value.strip().lower())
            if arch:
                return arch
    return "unknown"


def _first(flats: list[dict[str, Any]], *names: str) -> str | None:
    """The first non-empty value of any of `names` (matched on the last key component)."""
    for flat in flats:
        for key, value in flat.items():
            if key.rsplit(".", 1)[-1].lower() in names and value not in (None, "") and not isinstance(value, bool):
                return str(value)
    return None


@dataclass(frozen=True)
class Provenance:
    """Machine, architecture, versions and measurement dates of one slice.

    `machine` is the store's short label; `cpu`, `gpu` and `android` are the hardware names from
    the fingerprint where it has them.
    """

    target: str
    machine: str
    arch: str
    dates: tuple[str, ...]
    versions: dict[str, str] = field(default_factory=dict)
    git_commits: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = ()
    cpu: str | None = None
    gpu: str | None = None
    android: str | None = None  # "Pixel 7 (arm64-v8a)" when a phone ran the .pte over adb

    def hardware(self) -> str:
        """The name of what executed the model: phone, GPU or CPU (falls back to the machine label)."""
        if self.target == "mobile" and self.android:
            return self.android
        if self.target == "cuda" and self.gpu:
            return self.gpu
        return self.cpu or self.machine

    def is_arm(self) -> bool:
        """Whether the measurement ran on ARM hardware (a phone, or an ARM host)."""
        return bool(self.android) or self.arch in ARM_ARCHES

    def target_label(self) -> str:
        """How titles name the target. Mobile on a non-ARM host is XNNPACK on that host, never ARM."""
        if self.target == "mobile":
            if self.android:
                return f"mobile target: ExecuTorch XNNPACK on Android {self.android} via adb"
            return f"mobile target: ExecuTorch XNNPACK on {self.hardware()} ({self.arch})"
        if self.target == "cpu":
            return f"CPU: torch eager on {self.hardware()} ({self.arch})"
        if self.target == "cuda":
            return f"CUDA: torch on {self.hardware()}"
        return f"{self.target} on {self.hardware()} ({self.arch})"

    def date_text(self) -> str:
        """"2026-11-22", or a range when the rows come from runs on several days."""
        if not self.dates:
            return "date unknown"
        return self.dates[0] if len(self.dates) == 1 else f"{self.dates[0]} to {self.dates[-1]}"

    def versions_text(self) -> str:
        """"torch 2.14.1, python 3.11.2, ..." ("versions unknown" if the fingerprint has none)."""
        return ", ".join(f"{k} {v}" for k, v in self.versions.items()) or "versions unknown"

    def one_line(self) -> str:
        """Machine, versions and date in one line, for file headers and chart footers."""
        commits = f"; git {', '.join(short_commit(c) for c in self.git_commits)}" if self.git_commits else ""
        return f"{self.target_label()}; {self.versions_text()}; measured {self.date_text()}{commits}"


def short_commit(commit: str) -> str:
    """First 10 hex digits, keeping a "-dirty" mark (uncommitted changes were measured)."""
    return commit[:10] + ("-dirty" if commit.endswith("-dirty") else "")


def _date(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value)
    match = re.match(r"\d{4}-\d{2}-\d{2}", text)
    return match.group(0) if match else None


def _merge_versions(per_run: list[dict[str, str]]) -> dict[str, str]:
    """One value per name; runs that disagree are shown as "a / b" rather than hidden."""
    merged: dict[str, list[str]] = {}
    for versions in per_run:
        for k, v in versions.items():
            merged.setdefault(k, [])
            if v not in merged[k]:
                merged[k].append(v)
    return {k: " / ".join(vs) for k, vs in merged.items()}


def provenance_for(target: str, machine: str, rows: pd.DataFrame, runs: pd.DataFrame) -> Provenance:
    """Provenance of a slice from its rows (run ids, dates) and the runs table (fingerprints)."""
    run_ids = [r for r in dict.fromkeys(rows["run_id"].tolist())] if "run_id" in rows else []
    my_runs = runs[runs["run_id"].isin(run_ids)] if not runs.empty and "run_id" in runs else runs.iloc[0:0]
    flats = [parse_fingerprint(fp) for fp in my_runs.get("fingerprint", pd.Series(dtype=object))]
    arches = {arch_of(f) for f in flats} - {"unknown"}
    dates = {d for d in map(_date, rows.get("run_created_at", pd.Series(dtype=object))) if d}
    dates |= {d for d in map(_date, my_runs.get("created_at", pd.Series(dtype=object))) if d}
    commits = [str(c) for c in my_runs.get("git_commit", pd.Series(dtype=object)).dropna() if str(c)]
    return Provenance(
        target=target,
        machine=machine,
        arch=" / ".join(sorted(arches)) or "unknown",
        dates=tuple(sorted(dates)),
        versions=_merge_versions([versions_of(f) for f in flats]),
        git_commits=tuple(dict.fromkeys(commits)),
        run_ids=tuple(str(r) for r in run_ids),
        cpu=_first(flats, "cpu_model", "cpu"),
        gpu=_first(flats, "gpu_name", "gpu"),
        android=_android(flats),
    )


def _android(flats: list[dict[str, Any]]) -> str | None:
    model = _first(flats, "android_model")
    if not model:
        return None
    abi = _first(flats, "android_abi")
    return f"{model} ({abi})" if abi else model
