"""Matching two runs' machine fingerprints: which differences refuse a comparison, which are jitter."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

# Fingerprint fields that differ between two runs of the same code on the same machine, or that
# a comparison changes on purpose. They are reported, never a reason to refuse.
JITTER_FIELDS: dict[str, str] = {
    "cpu_freq_mhz": "instantaneous CPU clock reading",
    "cpu_freq_max_mhz": "reported by some VMs/containers as the current clock",
    "git_commit": "comparing revisions is the point",
    "threads": "a cell attribute, matched per cell",
    "memory_free_gb": "free memory at start",
    "memory_available_gb": "available memory at start",
    "load_avg": "system load at start",
    "load_avg_1m": "1-minute load average at the start of the run (compared separately: see bench.load)",
    "uptime_s": "time since boot",
    "created_at": "date of the run",
    "date": "date of the run",
    "hostname": "CI runners of one pool share hardware, not names",
    # a run measured through `bench worker` names the worker; the same machine measured directly does not
    "fleet_resource": "the fleet worker's resource name (bench/fleet): which worker, not which machine",
    "fleet_host": "the fleet worker's host name (bench/fleet): as hostname",
    # runs stored while bench did not pin lack it or say "unpinned"; shown, so a reader sees the change
    "malloc": "glibc malloc thresholds of the measuring process (devices.allocator)",
}


@dataclass(frozen=True)
class FingerprintCheck:
    """Result of matching two fingerprints."""

    differing: dict[str, tuple[Any, Any]]  # field -> (base, new): the comparison is refused
    jittered: dict[str, tuple[Any, Any]]  # field -> (base, new): ignored, reported

    @property
    def ok(self) -> bool:
        """True when every field that matters matches."""
        return not self.differing


def match_fingerprints(base: Mapping[str, Any], new: Mapping[str, Any],
                       jitter: Iterable[str] = tuple(JITTER_FIELDS)) -> FingerprintCheck:
    """Split the fields where two fingerprints differ into refusing ones and known jitter."""
    ignored = set(jitter)
    differing, jittered = {}, {}
    for key in sorted(set(base) | set(new)):
        a, b = base.get(key), new.get(key)
        if a == b:
            continue
        (jittered if key in ignored else differing)[key] = (a, b)
    return FingerprintCheck(differing=differing, jittered=jittered)


def describe_fields(fields: Mapping[str, tuple[Any, Any]]) -> str:
    """'cpu_model: A -> B; torch: 2.1 -> 2.2' for messages."""
    return "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in ((k, *v) for k, v in fields.items()))
