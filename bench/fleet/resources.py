"""Dask resource names of measurement targets.

A worker advertises one resource per target it owns, `zoobench:<device>:<label>`, with capacity 1:
Dask runs a task that asks for `{name: 1}` only where the resource is free, so one cell at a time is
timed per device. `<label>` is the device's own `label(fingerprint)` (devices/*.py) made safe for a
resource name, plus an optional suffix (`bench worker --label-suffix`) so that two workers on one
host can be told apart (tests, `bench cluster local`).
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

PREFIX = "zoobench"


def safe_label(text: str) -> str:
    """`text` with every run of characters other than letters, digits, '.', '_' and '-' made one '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "unknown"


def resource_name(device: str, label: str, suffix: str = "") -> str:
    """'zoobench:cpu:AMD-EPYC-x86_64' from the device name, its label and an optional suffix."""
    tail = f"-{safe_label(suffix)}" if suffix.strip("-") else ""
    return f"{PREFIX}:{device}:{safe_label(label)}{tail}"


@dataclass(frozen=True)
class Target:
    """One advertised target: its resource name, device name and label part."""

    resource: str
    device: str
    label: str

    @property
    def short(self) -> str:
        """'cpu:<label>': what `--targets` patterns match and progress bars show."""
        return f"{self.device}:{self.label}"


def parse_resource(name: str) -> Target | None:
    """The Target of a zoobench resource name; None for any other resource a worker advertises."""
    parts = str(name).split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    return Target(resource=name, device=parts[1], label=parts[2])


def parse_patterns(text: str) -> tuple[str, ...]:
    """'cuda:*,cpu:*' -> ('cuda:*', 'cpu:*'); a bare device name means all its targets ('cpu' -> 'cpu:*')."""
    from bench.errors import BenchError

    items = [t.strip() for t in str(text).split(",")]
    if not any(items) or any(not t for t in items):
        raise BenchError(f"--targets: give comma-separated patterns like 'cuda:*,cpu:*', got '{str(text)[:80]}'")
    return tuple(dict.fromkeys(t if ":" in t else f"{t}:*" for t in items))


def matches(pattern: str, target: Target) -> bool:
    """Whether a `--targets` pattern (fnmatch, case-sensitive) selects `target`."""
    return fnmatch.fnmatchcase(target.short, pattern)


def pattern_device(pattern: str) -> str:
    """The device part of a pattern ('cuda:*' -> 'cuda'); used to label the run of a target no worker owns."""
    return pattern.split(":", 1)[0]
