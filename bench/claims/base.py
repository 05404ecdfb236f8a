"""The claim-study protocol: what `bench claim NAME` needs from a study.

A study declares its name and help text, its sweep settings (`config(quick)`), how it measures
on a device (`measure`, handing every measured cell to `ctx.on_result` so the command can store
it as it finishes), its verdicts (`verdicts`) and its report (`report_files`, `write_report`).
`run_study` ties measuring and verdicts together; the command adds the store, the output
folder and the CLI. A new study is its own module(s) plus one line in `bench.claims.registry`.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from bench.claims.verdicts import Verdict
from bench.timing import Measurement

if TYPE_CHECKING:
    from bench.claims.report_base import ReportFolder


@dataclass(frozen=True)
class StudyCell:
    """One measured cell as the result store sees it (dtype fp32, layout nchw).

    `model` names what was timed ("layer:standard@C64xH32", a zoo name, ...); cells of a
    calibration pass carry a "calibration:" prefix so they never pass for the study's results.
    """

    model: str
    family: str
    batch: int
    impl: str | None = None
    macs: int | None = None


OnResult = Callable[[StudyCell, Measurement], None]
Progress = Callable[[str], None]


def _ignore_result(cell: StudyCell, m: Measurement) -> None:
    """Default result sink: measure without storing."""


def _ignore_progress(msg: str) -> None:
    """Default progress sink: silent."""


@dataclass
class StudyContext:
    """Where a study runs and where its cells and progress go."""

    target: str
    fingerprint: dict[str, Any]
    on_result: OnResult = _ignore_result
    progress: Progress = _ignore_progress
    guard: Any = None  # a bench.guard.Guard checked around every group, or None (off)


@dataclass
class StudyRun:
    """A finished study: which study and settings ran where, its raw result, verdicts and duration."""

    study: str
    config_name: str
    target: str
    fingerprint: dict[str, Any]
    result: Any
    verdicts: list[Verdict] = field(default_factory=list)
    elapsed_s: float = 0.0
    guard_line: str = ""  # the contention guard's calibration series in one line ("" when off)


class ClaimStudy(ABC):
    """A paper's claims tested with measurements. Subclasses set `name` and `help`."""

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""  # one line for `bench claim` listings
    description: ClassVar[str] = ""  # what is measured, for `bench claim --help`

    @abstractmethod
    def config(self, quick: bool) -> Any:
        """The sweep settings: the full study, or a small one with `quick` (named by `config_name`)."""

    @abstractmethod
    def measure(self, device: Any, config: Any, ctx: StudyContext) -> Any:
        """Measure everything on `device`, passing every cell to `ctx.on_result` as it finishes."""

    @abstractmethod
    def verdicts(self, result: Any) -> list[Verdict]:
        """The verdict table of a measured result."""

    @abstractmethod
    def report_files(self, target: str, fingerprint: dict[str, Any]) -> tuple[str, ...]:
        """Names of every file `write_report` will write for this target and machine.

        Known before measuring, so the command refuses to start a long study whose report
        would overwrite files it did not create.
        """

    @abstractmethod
    def write_report(self, run: StudyRun, folder: "ReportFolder") -> Path:
        """Write the report files through `folder`; returns the main (Markdown) file."""


def config_name(config: Any) -> str:
    """The name a study's settings are stored and reported under (`config.name`, else its text)."""
    return str(getattr(config, "name", config))


def run_study(study: ClaimStudy, device: Any, config: Any, ctx: StudyContext) -> StudyRun:
    """Measure `study` on `device` with `config` and compute its verdicts."""
    t0 = time.perf_counter()
    result = study.measure(device, config, ctx)
    verdicts = study.verdicts(result)
    guard_line = ""
    if ctx.guard is not None:
        from bench.guard import series_line

        guard_line = series_line([r.to_dict() for r in ctx.guard.series])
    return StudyRun(study.name, config_name(config), ctx.target, ctx.fingerprint, result, verdicts,
                    time.perf_counter() - t0, guard_line)
