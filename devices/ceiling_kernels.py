"""The blocks of known work a device's ceilings are measured with (`Device.ceiling_kernels`).

A kernel is one call of a large operation on the device's own runtime whose work is known: FLOPs
for a GEMM or a dense conv, bytes read + written for a copy or an elementwise op. `bench ceilings`
times each with the device's timer (best of a few calls after an untimed one) and divides.

`torch_kernels` serves the torch targets (cpu on the host, cuda on the GPU); the mobile target
builds its kernels as ExecuTorch programs (`devices.mobile_ceilings`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch

GEMM_N = 2048
CONV_SHAPE = (4, 256, 56, 56)  # N, C, H, W; 3x3, C -> C channels, padding 1
STREAM_ELEMENTS = 2**26  # 256 MiB at fp32: beyond any last-level cache here


@dataclass(frozen=True)
class CeilingKernel:
    """One block of work: `run()` does it once; `work` is its FLOPs (`unit` 'flop') or its bytes
    read + written (`unit` 'byte'). `name` is the figure it gives ('gemm' -> gemm_gflops,
    'copy' -> copy_gbs)."""

    name: str
    unit: str  # 'flop' or 'byte'
    work: float
    run: Callable[[], Any]

    @property
    def figure(self) -> str:
        """The `Ceilings` field this kernel measures ('gemm_gflops', 'copy_gbs', ...)."""
        return f"{self.name}_gflops" if self.unit == "flop" else f"{self.name}_gbs"


def conv_flops(shape: tuple[int, int, int, int]) -> int:
    """FLOPs (2 x MACs) of a 3x3, C -> C, padding-1 conv on an N x C x H x W input."""
    n, c, h, w = shape
    return 2 * n * c * c * 9 * h * w


def torch_kernels(device: torch.device, dtype: torch.dtype, *, gemm_n: int = GEMM_N,
                  conv_shape: tuple[int, int, int, int] = CONV_SHAPE,
                  stream_elements: int = STREAM_ELEMENTS) -> Iterator[CeilingKernel]:
    """GEMM (n x n x n, 2 n^3 FLOPs), dense 3x3 conv, copy (dst.copy_(src): 2 x size bytes) and
    triad (a = b + 3 c: 3 x size bytes; write-allocate traffic not counted, as STREAM does) in torch
    on `device`. A generator: each kernel's tensors are freed before the next is built, so the
    256 MiB arrays are not all held at once."""
    import torch.nn.functional as F

    with torch.inference_mode():
        a = torch.randn(gemm_n, gemm_n, device=device).to(dtype)
        b = torch.randn(gemm_n, gemm_n, device=device).to(dtype)
        yield CeilingKernel("gemm", "flop", 2 * gemm_n**3, lambda: torch.mm(a, b))
        del a, b
        x = torch.randn(*conv_shape, device=device).to(dtype)
        k = torch.randn(conv_shape[1], conv_shape[1], 3, 3, device=device).to(dtype)
        yield CeilingKernel("conv", "flop", conv_flops(conv_shape), lambda: F.conv2d(x, k, padding=1))
        del x, k
        src = torch.ones(stream_elements, dtype=dtype, device=device)
        dst = torch.empty_like(src)
        size = src.numel() * src.element_size()
        yield CeilingKernel("copy", "byte", 2 * size, lambda: dst.copy_(src))
        other = torch.ones_like(src)
        yield CeilingKernel("triad", "byte", 3 * size, lambda: torch.add(src, other, alpha=3.0, out=dst))
