"""Runs as a comparison sees them: cells with raw samples, loaded from a store or an export, and pooled.

One side of a comparison is a `RunData`: one run, or several runs of the same code pooled
(`pool_runs`), whose cells keep which run each sample block came from (`CellData.groups`)
so that the statistics can tell run-to-run spread from within-run spread.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from bench.cell import CELL_FIELDS, Cell, CellFields
from bench.errors import BenchError
from bench.fingerprint_match import describe_fields, match_fingerprints


@dataclass
class CellData(CellFields):
    """One cell of one run (or of pooled runs): what ran and its raw samples (ms)."""

    cell: Cell  # the requested cell (impl None: the model's own default)
    status: str = "ok"
    message: str = ""
    impl_ran: str | None = None  # the HetConv impl(s) that actually ran
    samples_ms: list[float] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)  # sizes of the pooled runs' sample blocks (empty: one run)
    load_avg_1m: list[float] = field(default_factory=list)  # per run, where recorded (bench.load)
    cpu_share: list[float] = field(default_factory=list)  # per run, where recorded (bench.load)
    contended: bool = False  # the contention guard flagged it (in any pooled run; bench.guard)

    @property
    def impl(self) -> str | None:
        """The requested impl (None: the model's own default)."""
        return self.cell.impl

    @property
    def runs(self) -> int:
        """How many runs' samples this cell holds."""
        return max(1, len(self.groups))

    def sample_groups(self) -> list[list[float]]:
        """The samples split into the pooled runs they came from (one group when not pooled)."""
        if not self.groups:
            return [self.samples_ms]
        out, start = [], 0
        for size in self.groups:
            out.append(self.samples_ms[start:start + size])
            start += size
        return out

    def key(self) -> Cell:
        """Identity of the cell across runs."""
        return self.cell


@dataclass
class RunData:
    """One side of a comparison: a run (or several pooled runs) with its cells."""

    label: str  # where it came from, for messages ("run X in db.sqlite")
    run_ids: list[str]
    target: str
    fingerprint: dict[str, Any]
    git_commit: str | None
    created_at: str | None
    cells: dict[Cell, CellData]
    # True when this side's samples were taken interleaved with the other side's, turn by turn
    # (`bench regress` rounds, in-process interleaving): the sides then share the machine's
    # state, and one run per side is evidence; separately made runs are not (bench.comparison).
    interleaved: bool = False


def pool_runs(runs: Sequence[RunData], label: str) -> RunData:
    """Merge runs of the same code (e.g. `bench regress` rounds): samples concatenated per cell.

    The runs must share a fingerprint (jitter fields aside). A cell that failed in any run
    keeps the first failure (status and message), since a flaky cell is not comparable.
    """
    if not runs:
        raise BenchError(f"{label}: no runs to pool")
    first = runs[0]
    cells: dict[Cell, CellData] = {}
    for run in runs:
        check = match_fingerprints(first.fingerprint, run.fingerprint)
        if not check.ok:
            raise BenchError(f"{label}: runs {first.run_ids[0]} and {run.run_ids[0]} differ in "
                             f"{describe_fields(check.differing)}")
        for key, cell in run.cells.items():
            have = cells.get(key)
            if have is None:
                cells[key] = replace(cell, samples_ms=list(cell.samples_ms), groups=[len(cell.samples_ms)],
                                     load_avg_1m=list(cell.load_avg_1m), cpu_share=list(cell.cpu_share))
            elif have.status == "ok" and cell.status != "ok":
                have.status, have.message = cell.status, cell.message
            else:
                have.contended = have.contended or cell.contended
                have.samples_ms.extend(cell.samples_ms)
                have.groups.append(len(cell.samples_ms))
                have.load_avg_1m.extend(cell.load_avg_1m)
                have.cpu_share.extend(cell.cpu_share)
    return RunData(label=label, run_ids=[rid for r in runs for rid in r.run_ids], target=first.target,
                   fingerprint=dict(first.fingerprint), git_commit=first.git_commit, created_at=first.created_at,
                   cells=cells, interleaved=all(r.interleaved for r in runs))


# -- loading ---------------------------------------------------------------------------------------

def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _none_if_nan(v: Any) -> Any:
    return None if v is None or _isnan(v) else v


def _requested_cell(record: Mapping[str, Any]) -> Cell:
    """The cell as requested (from its `cell_key`), so a changed default impl still matches."""
    values = {k: record.get(k) for k in CELL_FIELDS}
    try:
        values.update({k: v for k, v in json.loads(record.get("cell_key") or "{}").items() if k in CELL_FIELDS})
    except (TypeError, ValueError):
        pass  # an imported row without a JSON cell key: its columns are all we have
    return Cell.from_mapping(values)


def _extra(record: Mapping[str, Any]) -> dict[str, Any]:
    extra = record.get("extra")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            return {}
    return extra if isinstance(extra, dict) else {}


def cell_from_record(record: Mapping[str, Any], samples_ms: Sequence[float]) -> CellData:
    """A CellData from a results row (store frame record or JSON export result)."""
    extra = _extra(record)
    load, share = extra.get("load_avg_1m"), extra.get("cpu_share")
    return CellData(cell=_requested_cell(record), status=str(record.get("status") or "ok"),
                    message=str(_none_if_nan(record.get("message")) or ""), impl_ran=_none_if_nan(record.get("impl")),
                    samples_ms=[float(x) for x in samples_ms],
                    load_avg_1m=[float(load)] if isinstance(load, (int, float)) else [],
                    cpu_share=[float(share)] if isinstance(share, (int, float)) else [],
                    contended=bool(extra.get("contended")))


def run_from_store(store, run_id: str) -> RunData:
    """One run of a ResultStore, with raw samples."""
    info = store.run_info(run_id)
    if info is None:
        raise BenchError(f"no run '{run_id}' in {store.path}")
    samples = store.samples_by_result(run_id)
    cells = {}
    for rec in store.results_frame(run_id=run_id).to_dict("records"):
        cell = cell_from_record(rec, samples.get(int(rec["result_id"]), []))
        cells[cell.key()] = cell
    return RunData(label=f"run {run_id} in {store.path}", run_ids=[run_id], target=info["target"],
                   fingerprint=info["fingerprint"], git_commit=info.get("git_commit"),
                   created_at=info.get("created_at"), cells=cells)


def run_from_export(run: Mapping[str, Any], source: str) -> RunData:
    """One run of a JSON export document (`bench export` / ResultStore.export_json)."""
    cells = {}
    for res in run["results"]:
        cell = cell_from_record(res, res.get("samples_ms") or [])
        cells[cell.key()] = cell
    return RunData(label=f"run {run['run_id']} in {source}", run_ids=[run["run_id"]], target=run["target"],
                   fingerprint=dict(run["fingerprint"]), git_commit=run.get("git_commit"),
                   created_at=run.get("created_at"), cells=cells)


def run_ids_oldest_first(store) -> list[str]:
    """Run ids of a store by creation time, ties (same second) in insertion order."""
    return store.run_ids()


def latest_run_id(store) -> str:
    """The newest run of a store; BenchError when it has none."""
    ids = store.run_ids()
    if not ids:
        raise BenchError(f"{store.path} has no runs")
    return ids[-1]


def all_runs_in_store(path: str | Path) -> list[RunData]:
    """Every run of an existing store file, oldest first."""
    from bench.store import open_existing

    with open_existing(path) as store:
        return [run_from_store(store, rid) for rid in store.run_ids()]
