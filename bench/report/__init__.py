"""Reports: Pareto charts, tables and a self-contained HTML page per target, machine and batch.

Pipeline: `data` (latest result per cell, joined with zoo accuracy metadata, split into
slices) -> `baseline` and `fronts` (speed-ups, Pareto flags) -> `charts`, `tables`, `html`
(rendering) -> `writer` (files under `<out>/<target>-<machine-slug>/batch-<B>/`).
"""
from bench.report.writer import write_reports  # noqa: F401
