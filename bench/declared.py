"""Declared costs: the committed table of every variant's MACs and params.

A change in any count is a deliberate architecture change and must show in review:
`bench costs --check` (and a test) recompute every row and print a readable diff;
`bench costs --update` rewrites rows.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

DECLARED_PATH = Path(__file__).resolve().parent.parent / "zoo" / "declared_costs.csv"
FIELDS = ("macs", "executed_macs", "params")


@dataclass(frozen=True)
class CostDiff:
    """One changed count."""

    name: str
    field: str
    old: int
    new: int

    @property
    def change(self) -> str:
        """Relative change as text."""
        return f"{(self.new - self.old) / self.old:+.2%}" if self.old else "new"


def load(path: Path = DECLARED_PATH) -> dict[str, dict[str, int]]:
    """name -> {macs, executed_macs, params} from the committed CSV (empty if absent)."""
    if not path.exists():
        return {}
    with path.open(newline="") as fh:
        return {r["name"]: {f: int(r[f]) for f in FIELDS} for r in csv.DictReader(fh)}


def update(rows: Iterable[dict[str, Any]], path: Path = DECLARED_PATH) -> Path:
    """Write (merge) `rows` into the table, sorted by name; returns the path."""
    from zoo.registry import natural_key

    table = load(path)
    for r in rows:
        table[r["name"]] = {f: int(r[f]) for f in FIELDS}
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("name",) + FIELDS)
        for name in sorted(table, key=natural_key):
            w.writerow([name] + [table[name][f] for f in FIELDS])
    tmp.replace(path)  # atomic: a crash never leaves half a table
    return path


def check(rows: Iterable[dict[str, Any]], path: Path = DECLARED_PATH) -> tuple[list[CostDiff], list[str]]:
    """Compare computed rows with the table: (changed counts, names missing from the table)."""
    table = load(path)
    diffs, missing = [], []
    for r in rows:
        old = table.get(r["name"])
        if old is None:
            missing.append(r["name"])
            continue
        diffs += [CostDiff(r["name"], f, old[f], int(r[f])) for f in FIELDS if old[f] != int(r[f])]
    return diffs, missing


def format_diff(diffs: list[CostDiff], missing: list[str]) -> str:
    """Readable diff: one line per changed count, then the undeclared models."""
    lines = []
    if diffs:
        lines.append(f"{len(diffs)} declared cost(s) changed (run `bench costs --update` if intended):")
        lines.append(f"  {'model':32} {'field':14} {'declared':>16} {'now':>16}  change")
        lines += [f"  {d.name:32} {d.field:14} {d.old:>16,} {d.new:>16,}  {d.change}" for d in diffs]
    if missing:
        lines.append(f"{len(missing)} model(s) not in the declared table: {', '.join(missing)}")
    return "\n".join(lines)


def format_saved(names: Iterable[str]) -> str:
    """The note listing saved variants apart from the declared zoo (they are never declared or checked)."""
    names = list(names)
    return (f"note: {len(names)} saved variant(s) not checked (bench prune / lowrank output, not part of the "
            f"declared zoo): {', '.join(names)}")
