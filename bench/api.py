"""Python API for notebooks and scripts: time any model, read stored results as DataFrames.

    from bench.api import benchmark, load_results
    r = benchmark("timm:efficientnet_b0", device="cpu", batch=1)
    r.p50_ms, r.ci_ms, r.macs, r.params
    r.to_frame()                       # one row per grid cell
    benchmark(my_module, example=torch.randn(1, 3, 32, 32)).to_frame()
    load_results("bench-out/results.sqlite")

These are the functions `bench run` uses: names resolve as on the command line (zoo names,
wildcards, timm:/tv:/PATH.py:NAME/PATH.pt2), an `nn.Module` is registered as a user variant,
and every cell goes through the same runner (deploy form, warm-up, CI-driven sampling, costs).
"""
from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import pandas as pd
    import torch


@dataclass
class CellResult:
    """One measured grid cell: settings, latency statistics, raw samples and costs."""

    model: str
    batch: int
    dtype: str
    layout: str
    threads: int | None
    status: str
    message: str
    stats: dict[str, Any]
    samples_ms: list[float]
    macs: int | None
    params: int | None
    source: dict[str, Any] | None

    def row(self) -> dict[str, Any]:
        """Flat dict for a DataFrame (raw samples kept as a list)."""
        return dict(model=self.model, batch=self.batch, dtype=self.dtype, layout=self.layout,
                    threads=self.threads, status=self.status, message=self.message, **self.stats,
                    macs=self.macs, params=self.params, samples_ms=self.samples_ms,
                    source=(self.source or {}).get("kind", "zoo"))


@dataclass
class BenchmarkResult:
    """What `benchmark` measured: one CellResult per grid cell, the run id and the machine fingerprint."""

    run_id: str
    target: str
    fingerprint: dict[str, Any]
    cells: list[CellResult] = field(default_factory=list)
    db: str | None = None

    def _one(self) -> CellResult:
        if len(self.cells) != 1:
            raise ValueError(f"{len(self.cells)} cells measured; use .cells or .to_frame()")
        return self.cells[0]

    @property
    def p50_ms(self) -> float | None:
        """Median latency of the single cell measured (ms)."""
        return self._one().stats.get("p50_ms")

    @property
    def ci_ms(self) -> tuple[float | None, float | None]:
        """95 % confidence interval of the median of the single cell (ms)."""
        st = self._one().stats
        return st.get("ci_low_ms"), st.get("ci_high_ms")

    @property
    def samples_ms(self) -> list[float]:
        """Raw samples of the single cell (ms)."""
        return self._one().samples_ms

    @property
    def macs(self) -> int | None:
        """MACs per image (zoo convention: deploy form, conv + linear + matmul)."""
        return self._one().macs

    @property
    def params(self) -> int | None:
        """Parameter count of the deploy form."""
        return self._one().params

    def to_frame(self) -> "pd.DataFrame":
        """One row per cell, with run_id, target and machine columns."""
        import pandas as pd

        from devices.registry import machine_label

        df = pd.DataFrame([c.row() for c in self.cells])
        df.insert(0, "run_id", self.run_id)
        df["target"] = self.target
        df["machine"] = machine_label(self.target, self.fingerprint)
        return df


def _names(model_or_name: Any, example: "torch.Tensor | None", input_size, name: str | None,
           top1: float | None, dataset: str | None) -> list[str]:
    import torch.nn as nn

    from bench.model_args import resolve_models
    from zoo.sources import SourceError, register_module

    from bench.errors import BenchError

    if isinstance(model_or_name, nn.Module):
        size = input_size if input_size is not None else (tuple(example.shape[1:]) if example is not None else None)
        try:
            return [register_module(name or type(model_or_name).__name__, model_or_name, size, top1=top1,
                                    dataset=dataset)]
        except SourceError as exc:
            raise BenchError(str(exc)) from None
    if not isinstance(model_or_name, str):
        raise BenchError(f"benchmark() takes an nn.Module or a model name, not {type(model_or_name).__name__}")
    if isinstance(input_size, (tuple, list)):
        input_size = "x".join(str(int(v)) for v in input_size)
    if input_size is None and example is not None:
        input_size = "x".join(str(v) for v in example.shape[1:])
    ns = argparse.Namespace(input_size=input_size, top1=top1, dataset=dataset)
    return resolve_models(model_or_name, ns)


def benchmark(model_or_name: Any, example: "torch.Tensor | None" = None, device: str = "cpu",
              batch: int | Sequence[int] = 1, *, dtype: str = "fp32", layout: str = "nchw",
              threads: int | None = None, input_size: Any = None, name: str | None = None,
              top1: float | None = None, dataset: str | None = None, ci: float = 0.01,
              max_time_s: float | None = None, db: str | Path | None = None,
              progress: bool = False, **device_options: Any) -> BenchmarkResult:
    """Time a model the way `bench run` does and return its result.

    `model_or_name`: an `nn.Module`, or any name `bench run --models` takes (comma-separated
    zoo names/wildcards, `timm:NAME`, `tv:NAME`, `PATH.py:NAME`, `PATH.pt2`). `example`: a
    tensor whose shape gives the input size (C, H, W) and, unless `batch` is given, the batch;
    timing uses a seeded random input of that shape, like every zoo model. `db`: store the run
    there (a SQLite results file `bench report` reads); default: a temporary file.
    Raises `bench.errors.BenchError` on bad input.
    """
    from bench import defaults
    from bench.grid import GridSpec
    from bench.runner import TimingSettings, run_grid
    from bench.store import ResultStore
    from devices.registry import canonical_name, get_device

    target = canonical_name(device)
    dev = get_device(target, **device_options)
    if example is not None and batch == 1:
        batch = int(example.shape[0])
    batches = (batch,) if isinstance(batch, int) else tuple(batch)
    names = _names(model_or_name, example, input_size, name, top1, dataset)
    spec = GridSpec(models=tuple(names), batches=batches, dtypes=(dtype,), layouts=(layout,), impls=(None,),
                    threads=(threads or dev.default_threads(),), compile=False)
    timing = TimingSettings(ci_target=ci, max_time_s=max_time_s if max_time_s is not None else defaults.MAX_TIME_S)
    with tempfile.TemporaryDirectory(prefix="zoobench-api-") as tmp:
        path = str(db) if db is not None else str(Path(tmp) / "results.sqlite")
        with ResultStore(path) as store:
            report = run_grid(store, dev, spec, timing, device_options=dev.recorded_options(), progress=progress)
            info = store.run_info(report.run_id)
    cells = []
    for o in report.outcomes:
        m = o.measurement
        cells.append(CellResult(
            model=o.cell.model, batch=o.cell.batch, dtype=o.cell.dtype, layout=o.cell.layout, threads=o.cell.threads,
            status=o.status, message=o.message, stats=m.stats.to_dict() if m else {},
            samples_ms=list(m.samples_ms) if m else [], macs=(o.costs or {}).get("macs"),
            params=(o.costs or {}).get("params"), source=o.info.get("source")))
    return BenchmarkResult(run_id=report.run_id, target=target, fingerprint=info["fingerprint"], cells=cells,
                           db=str(db) if db is not None else None)


def load_results(db: str | Path | None = None, run_id: str | None = None,
                 target: str | None = None) -> "pd.DataFrame":
    """Stored results as a DataFrame (one row per cell, the `bench results` columns plus `machine`)."""
    from bench.errors import BenchError
    from bench.store import ResultStore

    from bench import defaults

    db = db if db is not None else defaults.DEFAULT_DB
    if not Path(db).is_file():
        raise BenchError(f"no results database at {db}")
    with ResultStore(db) as store:
        return store.results_frame(run_id=run_id, target=target)
