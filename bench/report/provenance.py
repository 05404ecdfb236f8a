"""Where and when a slice was measured: machine, architecture, software versions and dates.

Read from the runs' fingerprints (JSON text in the store). Fingerprints are nested dicts whose
exact keys belong to the store; this module only looks for well-known names (torch, python,
executorch, cuda, ...) anywhere in them, so a renamed or missing field degrades to
"unknown" instead of failing the report. How a target and its hardware are named (titles,
ARM or not, notes) is the target's own text, from `devices.registry.describer`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import pandas as pd

from devices.base import TargetText
from devices.registry import describer

# Version fields shown in every file, in this order; keys are matched after stripping "_version".
VERSION_NAMES = ("torch", "torchvision", "python", "executorch", "cuda", "cudnn", "onednn", "mkldnn", "driver",
                 "android_release", "os")
ARCH_VALUES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "arm64", "armv7l": "armv7l",
               "i686": "i686", "x86": "x86"}


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


def leaf_view(flats: list[dict[str, Any]]) -> dict[str, Any]:
    """One dict keyed by each field's last key component (lower case): the first non-empty value
    over `flats`, in order. What the target's `provenance` text reads."""
    view: dict[str, Any] = {}
    for flat in flats:
        for key, value in flat.items():
            leaf = key.rsplit(".", 1)[-1].lower()
            if leaf not in view and value not in (None, ""):
                view[leaf] = value
    return view


@dataclass(frozen=True)
class Provenance:
    """Machine, architecture, versions and measurement dates of one slice.

    `machine` is the store's short label; `described` is the target's own text for the slice's
    fingerprints (title, hardware name, ARM or not, note).
    """

    target: str
    machine: str
    arch: str
    dates: tuple[str, ...]
    described: TargetText
    versions: dict[str, str] = field(default_factory=dict)
    git_commits: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = ()
    load: str = ""  # load and contention-guard figures of the rows (`load_text`); "" when none were recorded

    def hardware(self) -> str:
        """The name of what executed the model: phone, GPU or CPU (falls back to the machine label)."""
        return self.described.hardware or self.machine

    def is_arm(self) -> bool:
        """Whether the measurement ran on ARM hardware (a phone, or an ARM host)."""
        return self.described.is_arm

    def target_label(self) -> str:
        """How titles name the target. Mobile on a non-ARM host is XNNPACK on that host, never ARM."""
        return self.described.title

    def folder_arch(self) -> str | None:
        """The architecture to add to the report folder name (None when the hardware name is enough)."""
        return self.described.folder_arch

    def note(self) -> str | None:
        """The target's caveat for this slice (e.g. XNNPACK timed on x86, not ARM), if any."""
        return self.described.note

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


def load_text(rows: pd.DataFrame) -> str:
    """Load average, calibration drift and contended cells of the rows (their `extra`), in one line."""
    extras = []
    for value in rows.get("extra", pd.Series(dtype=object)):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        if isinstance(value, dict):
            extras.append(value)
    loads = [e["load_avg_1m"] for e in extras if isinstance(e.get("load_avg_1m"), (int, float))]
    drifts = [d for e in extras for d in (e.get("calib_drift") or []) if isinstance(d, (int, float))]
    guarded = [e for e in extras if "contended" in e]
    parts = []
    if loads:
        parts.append(f"1-min load {min(loads):.2f}-{max(loads):.2f}")
    if guarded:
        flagged = sum(1 for e in guarded if e["contended"])
        drift = f"calibration drift {min(drifts):+.1%} to {max(drifts):+.1%}; " if drifts else ""
        parts.append(f"contention guard: {drift}{flagged} of {len(guarded)} cells contended")
    elif extras:
        parts.append("contention guard off")
    return "; ".join(parts)


def series_text(readings: list[dict[str, Any]], runs: int) -> str:
    """The calibration series of the selected runs in one phrase: checks, drift min/median/max, contended checks.

    "" when none of the runs stored a series (unguarded, or made before the guard)."""
    checks = [r for r in readings if isinstance(r, dict) and isinstance(r.get("calib_ms"), (int, float))]
    if not checks:
        return ""
    drifts = sorted(float(r["drift"]) for r in checks if isinstance(r.get("drift"), (int, float)))
    flagged = sum(1 for r in checks if r.get("contended") is True)
    text = f"calibration series: {len(checks)} checks over {runs} run(s)"
    if drifts:
        text += f", drift min {drifts[0]:+.1%} / median {median(drifts):+.1%} / max {drifts[-1]:+.1%}"
    return f"{text}, {flagged} contended check(s)"


def provenance_for(target: str, machine: str, rows: pd.DataFrame, runs: pd.DataFrame) -> Provenance:
    """Provenance of a slice from its rows (run ids, dates) and the runs table (fingerprints)."""
    run_ids = [r for r in dict.fromkeys(rows["run_id"].tolist())] if "run_id" in rows else []
    my_runs = runs[runs["run_id"].isin(run_ids)] if not runs.empty and "run_id" in runs else runs.iloc[0:0]
    flats = [parse_fingerprint(fp) for fp in my_runs.get("fingerprint", pd.Series(dtype=object))]
    arches = {arch_of(f) for f in flats} - {"unknown"}
    dates = {d for d in map(_date, rows.get("run_created_at", pd.Series(dtype=object))) if d}
    dates |= {d for d in map(_date, my_runs.get("created_at", pd.Series(dtype=object))) if d}
    commits = [str(c) for c in my_runs.get("git_commit", pd.Series(dtype=object)).dropna() if str(c)]
    arch = " / ".join(sorted(arches)) or "unknown"
    return Provenance(
        target=target,
        machine=machine,
        arch=arch,
        dates=tuple(sorted(dates)),
        described=describer(target).provenance(leaf_view(flats), arch=arch, machine=machine),
        versions=_merge_versions([versions_of(f) for f in flats]),
        git_commits=tuple(dict.fromkeys(commits)),
        run_ids=tuple(str(r) for r in run_ids),
        load=_load_line(rows, my_runs),
    )


def _load_line(rows: pd.DataFrame, my_runs: pd.DataFrame) -> str:
    """`load_text` of the rows plus the calibration series of their runs (the store's `calibration` column)."""
    series = [s for s in my_runs.get("calibration", pd.Series(dtype=object)) if isinstance(s, list)]
    readings = [r for s in series for r in s]
    return "; ".join(p for p in (load_text(rows), series_text(readings, sum(1 for s in series if s))) if p)
