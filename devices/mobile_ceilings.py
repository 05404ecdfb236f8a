"""Ceiling kernels of the mobile target: ExecuTorch XNNPACK programs run on the host runtime.

The same runtime, delegate and thread pool the mobile cells are timed on (`devices.mobile`):
- gemm: nn.Linear(n, n, bias=False) on an n x n input (2 n^3 FLOPs; XNNPACK Fully Connected);
- conv: a dense 3x3 conv, C -> C, padding 1 (2 x MACs FLOPs; XNNPACK Convolution NHWC, with the
  delegate's NCHW <-> NHWC transposes of input and output inside the timed call);
- add: a + b over two 256 MiB fp32 arrays (3 x size bytes: two read, one written). XNNPACK has no
  triad and no delegated copy, so the add is the bandwidth kernel. The program returns only the
  first `ADD_RETURNED` elements of the sum (a delegated slice): the sum itself is written to
  XNNPACK's workspace, which is allocated once and reused. The Python runtime returns every output
  as a fresh tensor, so a full-size output would page-fault 256 MiB on every call: measured here,
  that read ~4.5-5 GB/s against ~24 GB/s for the same add with the small output (torch's add into
  a preallocated array: ~27 GB/s).

Programs are exported with inputs and outputs outside the memory plan (`alloc_graph_input/output=
False`): the runtime then reads the caller's tensors in place instead of copying them into planned
buffers first, a copy that would be timed with the kernel (~3.6 against ~4.5 GB/s in the same
first look). Each program
is exported once and cached on disk (`cache_dir()`), keyed by kernel, shape and the torch and
executorch versions, so a later `bench ceilings --force` re-measures without re-exporting.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn as nn

from devices.ceiling_kernels import CONV_SHAPE, GEMM_N, STREAM_ELEMENTS, CeilingKernel, conv_flops

CACHE_ENV = "ZOOBENCH_CACHE_DIR"


def cache_dir() -> Path:
    """Where the ceiling programs are cached: $ZOOBENCH_CACHE_DIR/ceiling-pte, else
    ~/.cache/zoobench/ceiling-pte."""
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "zoobench"
    return Path(root) / "ceiling-pte"


ADD_RETURNED = 16  # elements of the add's result the program returns (see the module docstring)


class _AddHead(nn.Module):
    """a + b, computed in full inside the delegate, returning only its head."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a + b)[:ADD_RETURNED]


def cached_pte(name: str, build: Callable[[], nn.Module], inputs: tuple[torch.Tensor, ...]) -> Path:
    """The .pte of kernel `name` on `inputs`' shapes from the disk cache, exported (`build()` gives the
    module) and written there first when absent. Returns its path."""
    from devices.mobile import executorch_version, export_pte

    basis = dict(kernel=name, shapes=[list(t.shape) for t in inputs], torch=torch.__version__,
                 executorch=executorch_version())
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / f"{name}-{digest}.pte"
    if not path.is_file():
        torch.manual_seed(0)
        pte = export_pte(build(), inputs, plan_io=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(pte)
        tmp.replace(path)  # atomic: a concurrent reader sees the whole program or none
    return path


def _runner(path: Path, inputs: list[torch.Tensor]) -> Callable[[], Any]:
    from devices.mobile import load_pte_method

    program, method = load_pte_method(path.read_bytes())

    def run() -> Any:
        _ = program  # held so the program outlives its method
        return method.execute(inputs)

    return run


def pte_ceiling_kernels(threads: int, *, gemm_n: int = GEMM_N, conv_shape: tuple[int, int, int, int] = CONV_SHAPE,
                        stream_elements: int = STREAM_ELEMENTS) -> Iterator[CeilingKernel]:
    """The GEMM, conv and add kernels (module docstring) with ExecuTorch's thread pool at `threads`;
    the pool's size is put back when the iterator closes."""
    from devices.mobile import set_xnnpack_threads, xnnpack_threads

    before = xnnpack_threads()
    try:
        set_xnnpack_threads(threads)
        x = torch.randn(gemm_n, gemm_n)
        path = cached_pte("gemm", lambda: nn.Linear(gemm_n, gemm_n, bias=False), (x,))
        yield CeilingKernel("gemm", "flop", 2 * gemm_n**3, _runner(path, [x]))
        c = conv_shape[1]
        x = torch.randn(*conv_shape)
        path = cached_pte("conv3x3", lambda: nn.Conv2d(c, c, 3, padding=1, bias=False), (x,))
        yield CeilingKernel("conv", "flop", conv_flops(conv_shape), _runner(path, [x]))
        del x
        a, b = torch.ones(stream_elements), torch.ones(stream_elements)
        path = cached_pte("add-head", _AddHead, (a, b))
        yield CeilingKernel("add", "byte", 3 * a.numel() * a.element_size(), _runner(path, [a, b]))
    finally:
        set_xnnpack_threads(before)
