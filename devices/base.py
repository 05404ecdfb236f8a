"""The device protocol: one small interface every measurement target implements.

A device says whether it can run here (`available`), what a comparison must match
(`fingerprint`), turns a deploy-form model into a zero-argument callable running one
inference (`prepare`), undoes what `prepare` changed in the process (`cleanup`) and supplies
the timer that times one call (`timer`).

It also owns everything else that is specific to its target, so a new target is its module
plus one line in `devices.registry`:
- its `bench run` options (`add_options`, `from_options`, `recorded_options`);
- how stored results are labelled: `label(fp)` (the machine column) and `provenance(fp)`
  (titles and notes of report pages). Both are classmethods reading a stored fingerprint
  dict, so reports of imported runs need neither the hardware nor its libraries;
- capabilities the engine asks for instead of checking names (`extra_hetconv_impls`).
"""
from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

import torch
import torch.nn as nn

from devices.ceiling_kernels import CeilingKernel
from devices.host import is_arm_arch
from devices.timer import Timer, perf_counter_timer

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
LAYOUTS = ("nchw", "nhwc")


class UnsupportedCell(Exception):
    """This device cannot run this grid cell as asked (dtype, layout, impl); stored as 'unsupported'."""


@dataclass
class NumericsCheck:
    """Outputs of the prepared form compared with eager fp32 (relative to the eager output's max)."""

    rel_err: float
    tolerance: float

    @property
    def ok(self) -> bool:
        """True when the relative error is within tolerance."""
        return self.rel_err <= self.tolerance


@dataclass
class Prepared:
    """A ready-to-time inference: call `run()` for one forward pass on the prepared input."""

    run: Callable[[], Any]
    info: dict[str, Any] = field(default_factory=dict)
    numerics: NumericsCheck | None = None
    close: Callable[[], None] = lambda: None

    def __call__(self) -> Any:
        return self.run()


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """max |out - ref| / max |ref| in float64 (0 when both are zero)."""
    out64, ref64 = out.detach().double().cpu(), ref.detach().double().cpu()
    scale = ref64.abs().max().item()
    err = (out64 - ref64).abs().max().item()
    if scale == 0:
        return 0.0 if err == 0 else float("inf")
    return err / scale


def first_tensor(out: Any) -> torch.Tensor:
    """The first tensor of a model output (tensor, list/tuple, or dict)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        out = list(out.values())
    return first_tensor(out[0])


@dataclass(frozen=True)
class TargetText:
    """How report pages name a target and the hardware that ran it (from a stored fingerprint).

    `title`: the page title ("CPU: torch eager on Xeon (x86_64)"); `hardware`: what executed
    the model, None when the fingerprint does not say; `is_arm`: whether that hardware is ARM;
    `folder_arch`: the architecture to add to the report folder name (None when the hardware
    name is enough); `note`: a caveat shown in the page header, if any.
    """

    title: str
    hardware: str | None
    is_arm: bool
    folder_arch: str | None
    note: str | None = None


class OptionAdder(Protocol):
    """What `Device.add_options` receives: an argparse parser or argument group."""

    def add_argument(self, *name_or_flags: str, **kwargs: Any) -> argparse.Action:
        """argparse's add_argument."""


def fingerprint_text(fp: dict[str, Any], *keys: str) -> str | None:
    """The first non-empty, non-boolean value among `keys` of a fingerprint, as text."""
    for key in keys:
        value = fp.get(key)
        if value not in (None, "") and not isinstance(value, bool):
            return str(value)
    return None


class Device(ABC):
    """A measurement target. Subclasses set `name` (the stored target label) and `title`."""

    name: str = ""
    title: str = ""  # how people name the target in messages ("CUDA"); defaults to `name`
    # HetConv impls that only this kind of device can run (the engine refuses them elsewhere)
    extra_hetconv_impls: tuple[str, ...] = ()

    # --- what the stored results say about the target (classmethods: no hardware needed) ---

    @classmethod
    def display_title(cls) -> str:
        """`title`, or `name` when the class sets none."""
        return cls.title or cls.name

    @classmethod
    def label(cls, fp: dict[str, Any]) -> str:
        """Short label of what ran where, from a stored fingerprint ('AMD EPYC (x86_64)').

        Stored as the results' machine column and matched by `--resume`, so it must depend on the
        fingerprint only. Default: the host CPU and architecture.
        """
        return f"{fp.get('cpu_model') or 'unknown CPU'} ({fp.get('arch') or '?'})"

    @classmethod
    def provenance(cls, fp: dict[str, Any], arch: str | None = None, machine: str | None = None) -> TargetText:
        """Report text for results of this target measured with fingerprint `fp`.

        `fp` maps field names to values (a stored fingerprint, possibly merged over several runs);
        `arch` is the recorded architecture (default: `fp['arch']`) and `machine` the stored label
        (default: `label(fp)`), used when `fp` names no hardware. Default: the host CPU ran it.
        """
        arch = arch or str(fp.get("arch") or "unknown")
        hardware = fingerprint_text(fp, "cpu_model", "cpu")
        shown = hardware or machine or cls.label(fp)
        return TargetText(title=f"{cls.name} on {shown} ({arch})", hardware=hardware, is_arm=is_arm_arch(arch),
                          folder_arch=arch)

    # --- `bench run` options (classmethods: declared before any device exists) ---

    @classmethod
    def add_options(cls, parser: OptionAdder) -> None:
        """Declare this device's own `bench run` options on `parser` (default: none).

        `bench run` rejects any of them (one line, exit 2) when given with another --device.
        """

    @classmethod
    def from_options(cls, args: argparse.Namespace) -> "Device":
        """Build the device from parsed `bench run` arguments (its own options; default: no options).

        Raises DeviceError on a bad combination of its options.
        """
        return cls()

    def recorded_options(self) -> dict[str, Any]:
        """The device options stored with a run (and matched by --resume); default: none."""
        return {}

    def notes(self, requested: str) -> list[str]:
        """One-line notes for the user before a run, given the device name they typed (default: none)."""
        return []

    # --- measuring ---

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """(True, '') when this device can run here, else (False, one-line reason)."""

    @abstractmethod
    def fingerprint(self, threads: int | None = None) -> dict[str, Any]:
        """Facts about the hardware and software stack a comparison must match."""

    @abstractmethod
    def prepare(self, model: nn.Module, example: torch.Tensor, *, dtype: str = "fp32", layout: str = "nchw",
                threads: int | None = None, compile: bool = False) -> Prepared:
        """Move/convert/compile `model` (deploy form, eval) for this device and return a Prepared.

        Raises UnsupportedCell when the combination cannot run here.
        """

    def timer(self) -> Timer:
        """The timer for this device's calls (default: host perf_counter_ns)."""
        return perf_counter_timer

    def default_threads(self) -> int:
        """Thread count used when the grid does not name one."""
        return torch.get_num_threads()

    def calibration_kernel(self, threads: int | None, dtype: str) -> Callable[[], float] | None:
        """The contention guard's yardstick on this target's own runtime: a callable that times a fixed
        block of work and returns ms per unit (bench.guard). None (default): the guard's torch GEMM
        (host, or GPU on cuda). A target whose runtime is not torch's provides its own, so the guard
        times the runtime it measures (a torch GEMM timed beside another runtime's threadpool drifts)."""
        return None

    def ceiling_kernels(self, threads: int, dtype: str, **sizes: Any) -> Iterable[CeilingKernel] | None:
        """The blocks of known work `bench ceilings` times on this target's own runtime
        (`devices.ceiling_kernels`): at least one FLOP kernel (GEMM, conv) and one byte kernel (copy,
        triad, add), built lazily (a generator: each kernel's buffers go before the next is built) at
        `threads` and `dtype`; `sizes` shrink them for tests. Whatever the kernels change in the
        process (thread pools) is restored when the iterator is closed. None (default): this target
        measures no ceilings; `ceilings_method` says why."""
        return None

    def ceilings_method(self) -> str:
        """One line: how this target's ceilings are measured, or why they are not (default: not)."""
        return f"no ceiling kernels for target '{self.name}'"

    def nominal_peak(self, threads: int, dtype: str) -> tuple[float | None, str]:
        """(nominal GFLOP/s at `threads` and `dtype`, how it was derived) or (None, why): what the
        measured peak is compared with. Default: none."""
        return None, f"no nominal peak for target '{self.name}'"

    def cleanup(self) -> None:
        """After a cell (or a group of models prepared together): release per-cell resources and
        restore any process-wide setting `prepare` changed, so no device state outlives a cell.
        Safe to call when nothing was prepared (default: nothing)."""

    def peak_memory(self, run: Callable[[], Any]) -> dict[str, Any]:
        """Peak memory of one call of `run` (a prepared inference) as result fields, e.g.
        {'peak_mem_mb': ..., 'peak_mem_method': ...}; {} where this target does not measure it."""
        return {}

    def is_oom(self, exc: BaseException) -> bool:
        """True when `exc` means the cell ran out of memory."""
        return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def check_dtype_layout(dtype: str, layout: str) -> tuple[torch.dtype, torch.memory_format]:
    """Validate grid values; returns (torch dtype, memory format)."""
    if dtype not in DTYPES:
        raise UnsupportedCell(f"unknown dtype '{dtype}'; choose from {', '.join(DTYPES)}")
    if layout not in LAYOUTS:
        raise UnsupportedCell(f"unknown layout '{layout}'; choose from {', '.join(LAYOUTS)}")
    fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
    return DTYPES[dtype], fmt
