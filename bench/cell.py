"""The identity of one measured grid point, shared by the grid, the store, comparisons and `bench regress`.

A cell is (model, batch, dtype, layout, impl, threads, compile). `impl` is the *requested*
HetConv impl (None: the model's own default, or no HetConv), so a cell keeps its identity
when a model's default impl changes; `threads` is None where the run left it to torch.
Types that carry data about a cell (a comparison's samples, a verdict) hold a `cell: Cell`
rather than repeating these fields.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Mapping

CELL_FIELDS = ("model", "batch", "dtype", "layout", "impl", "threads", "compile")


@dataclass(frozen=True)
class Cell:
    """One grid point; hashable, so it keys dicts of per-cell data directly."""

    model: str
    batch: int = 1
    dtype: str = "fp32"
    layout: str = "nchw"
    impl: str | None = None
    threads: int | None = None
    compile: bool = False

    def key(self) -> str:
        """Stable identity of the cell within a run (JSON, sorted keys): the store's `cell_key`."""
        return json.dumps(asdict(self), sort_keys=True)

    def label(self) -> str:
        """Short human label for progress bars and messages."""
        parts = [self.model, f"b{self.batch}", self.dtype, self.layout, f"t{self.threads}"]
        if self.impl:
            parts.insert(1, self.impl)
        if self.compile:
            parts.append("compiled")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Cell":
        """A Cell from any mapping with the cell fields (a store row, a JSON key); NaN/None threads -> None."""
        try:
            threads = None if values.get("threads") is None else int(values["threads"])
        except (TypeError, ValueError):  # NaN / pandas NA from a frame: not recorded
            threads = None
        return cls(model=str(values["model"]), batch=int(values["batch"]), dtype=str(values["dtype"]),
                   layout=str(values["layout"]), impl=_text_or_none(values.get("impl")), threads=threads,
                   compile=bool(values.get("compile")))


def _text_or_none(value: Any) -> str | None:
    """A stored text field: None for NULL, '' and the NaN a pandas frame reads NULL as."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return None
    return str(value)


class CellFields:
    """Read-only shortcuts (`.model`, `.batch`, ...) to the identity of a type that holds `cell: Cell`."""

    cell: Cell

    @property
    def model(self) -> str:
        """The cell's model."""
        return self.cell.model

    @property
    def batch(self) -> int:
        """The cell's batch size."""
        return self.cell.batch

    @property
    def dtype(self) -> str:
        """The cell's dtype."""
        return self.cell.dtype

    @property
    def layout(self) -> str:
        """The cell's memory layout."""
        return self.cell.layout

    @property
    def threads(self) -> int | None:
        """The cell's intra-op threads (None: torch's default)."""
        return self.cell.threads

    @property
    def compile(self) -> bool:
        """Whether the cell ran under torch.compile."""
        return self.cell.compile
