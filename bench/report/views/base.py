"""What a view gets (`SiteData`) and gives back (`ViewPage`).

A view module defines `NAME` (a slug), `TITLE`, `NEEDS` (what data it needs, shown on the index
when it has nothing to draw) and `build(data: SiteData) -> list[ViewPage]`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.report.data import ReportSlice


@dataclass
class ViewPage:
    """One page of a view: its file name under `<out>/views/`, its title, a one-line summary for
    the index and the full HTML."""

    filename: str
    title: str
    summary: str
    html: str


@dataclass
class SiteData:
    """Everything the report read: the selected rows (every measurement, not only the newest per
    cell), the runs, the slices the pages were written for, and the store (None for frames that
    did not come from a database, e.g. imports in tests: views needing raw samples say so)."""

    results: pd.DataFrame
    runs: pd.DataFrame
    slices: list[ReportSlice]
    db: Path | None = None
    _samples: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # per-view memo (e.g. history's loaded runs and comparisons)

    def __post_init__(self) -> None:
        if self.db is not None and not Path(self.db).is_file():
            self.db = None  # frames handed in without their store (e.g. an import): no samples to read

    def samples(self, run_id: str) -> dict[int, list[float]]:
        """Raw samples (ms) per result_id of one run, read once from the store ({} without one)."""
        if self.db is None:
            return {}
        if run_id not in self._samples:
            from bench.store import ResultStore

            with ResultStore(self.db, readonly=True) as store:
                self._samples[run_id] = store.samples_by_result(run_id)
        return self._samples[run_id]


def extra_of(row: pd.Series) -> dict:
    """A result row's `extra` JSON as a dict ({} when absent or unreadable): the slice pages' reader."""
    from bench.report.memory import row_extra

    return row_extra(row)


def slice_name(s: ReportSlice) -> str:
    """"<target label> on <machine>, batch B": how a view names a slice."""
    return f"{s.provenance.target_label()}, batch {s.batch}"


def slice_slug(s: ReportSlice) -> str:
    """The slice's folder path as one file-name part ("cpu-intel-xeon-x86-64-batch-1")."""
    from bench.report.writer import machine_slug, path_slug

    prov = s.provenance
    return f"{path_slug(s.target)}-{machine_slug(prov.hardware(), prov.folder_arch())}-batch-{s.batch}"
