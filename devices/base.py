"""The device protocol: one small interface every measurement target implements.

A device says whether it can run here (`available`), what a comparison must match
(`fingerprint`), turns a deploy-form model into a zero-argument callable running one
inference (`prepare`) and supplies the timer that times one call (`timer`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn

from bench.timing import Timer

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


class Device(ABC):
    """A measurement target. Subclasses set `name` (the stored target label)."""

    name: str = ""

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
        from bench.timing import perf_counter_timer

        return perf_counter_timer

    def default_threads(self) -> int:
        """Thread count used when the grid does not name one."""
        return torch.get_num_threads()

    def cleanup(self) -> None:
        """Release per-cell resources after a cell (default: nothing)."""

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
