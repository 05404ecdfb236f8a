"""HetConv: heterogeneous-kernel convolution (Singh et al., CVPR 2019).

A layer with M input channels, N filters and part value P gives each filter M/P kernels of
KxK and M - M/P kernels of 1x1. Filter n has its KxK kernels on the input channels j with
(j - n) mod P == 0 (the paper's "shifted" arrangement). P = 1 is a standard conv; P = M is
the paper's "PC" setting. The operator's cost, the paper's count, is

    MACs = H_out * W_out * N * (M * K^2 / P + M - M / P).

This file holds several implementations of that one function, selected by `impl`:

- `masked`   dense KxK conv with a masked weight: the reference, standard-conv cost;
- `grouped`  channel-permuted grouped KxK conv (groups=P) plus a 1x1 conv over all input
             channels whose in-group entries are structural zeros, the two summed;
- `branches` P literal branches, each a KxK conv over its channel group and a 1x1 conv over
             the remaining channels (exactly the paper's MACs executed, but slow);
- `folded`   one dense KxK conv holding the 1x1 kernels at the centre tap (deploy form; in
             training mode the weight is masked so its structural zeros stay zero);
- `grouped_streams` (CUDA only) `grouped` with its two convs on separate CUDA streams.

Every impl exports and imports the same dense (N, M, K, K) weight with structural zeros, so
weights convert between impls exactly (`HetConv2d.convert`).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

IMPLS = ("masked", "grouped", "branches", "folded", "grouped_streams")
EXACT_CPU_IMPLS = ("masked", "grouped", "branches", "folded")


def kxk_channel_mask(out_channels: int, in_channels: int, part: int) -> torch.Tensor:
    """Bool (N, M): True where filter n has a KxK kernel on input channel j."""
    n = torch.arange(out_channels).unsqueeze(1)
    j = torch.arange(in_channels).unsqueeze(0)
    return (j - n) % part == 0


def hetconv_weight_mask(out_channels: int, in_channels: int, kernel_size: int, part: int) -> torch.Tensor:
    """Float (N, M, K, K) mask of the taps a HetConv layer may use (1) and its structural zeros (0)."""
    k = kernel_size
    mask = torch.zeros(out_channels, in_channels, k, k)
    mask[:, :, k // 2, k // 2] = 1.0
    mask[kxk_channel_mask(out_channels, in_channels, part)] = 1.0
    return mask


def hetconv_macs(in_channels: int, out_channels: int, kernel_size: int, part: int, out_h: int, out_w: int) -> int:
    """The paper's MAC count of one HetConv layer (bias excluded)."""
    m, k, p = in_channels, kernel_size, part
    per_filter = m * k * k // p + (m - m // p)
    return out_h * out_w * out_channels * per_filter


def hetconv_params(in_channels: int, out_channels: int, kernel_size: int, part: int) -> int:
    """Non-zero weights of one HetConv layer (bias excluded)."""
    m, k, p = in_channels, kernel_size, part
    return out_channels * (m * k * k // p + (m - m // p))


def _group_inputs(x: torch.Tensor, part: int) -> torch.Tensor:
    """Reorder channels so that group g = {j : j mod P == g} is contiguous (copy)."""
    b, m, h, w = x.shape
    return x.reshape(b, m // part, part, h, w).transpose(1, 2).reshape(b, m, h, w)


def _ungroup_outputs(y: torch.Tensor, part: int) -> torch.Tensor:
    """Inverse of grouping for outputs: grouped channel g*(N/P)+r is filter r*P+g."""
    b, n, h, w = y.shape
    return y.reshape(b, part, n // part, h, w).transpose(1, 2).reshape(b, n, h, w)


class HetConv2d(nn.Module):
    """Heterogeneous-kernel convolution with a selectable implementation.

    Args:
        in_channels: M. Must be divisible by `part`.
        out_channels: N. `grouped`, `branches` and `grouped_streams` need N divisible by `part`.
        kernel_size: K, odd (padding K // 2 keeps the KxK and 1x1 taps aligned).
        stride: stride of both kernel sizes.
        part: P, from 1 to M.
        bias: add a per-filter bias.
        impl: one of IMPLS.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        part: int = 1,
        bias: bool = False,
        impl: str = "grouped",
    ) -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f"unknown HetConv impl '{impl}'; choose from {', '.join(IMPLS)}")
        if kernel_size % 2 != 1:
            raise ValueError(f"HetConv needs an odd kernel size, got {kernel_size}")
        if not 1 <= part <= in_channels or in_channels % part:
            raise ValueError(f"part P={part} must divide in_channels M={in_channels} (1 <= P <= M)")
        if impl in ("grouped", "branches", "grouped_streams") and out_channels % part:
            raise ValueError(
                f"impl '{impl}' needs out_channels N={out_channels} divisible by P={part}; use 'masked' or 'folded'"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.part, self.impl = kernel_size, stride, part, impl
        self.padding = kernel_size // 2
        self.register_buffer("weight_mask", hetconv_weight_mask(out_channels, in_channels, kernel_size, part), persistent=False)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self._init_params()
        dense = torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        nn.init.kaiming_normal_(dense, mode="fan_out", nonlinearity="relu")
        self.load_dense_weight(dense)
        self._side_stream = None

    # -- parameter layout per impl -------------------------------------------------------
    def _init_params(self) -> None:
        n, m, k, p = self.out_channels, self.in_channels, self.kernel_size, self.part
        if self.impl in ("masked", "folded"):
            self.weight = nn.Parameter(torch.empty(n, m, k, k))
        elif self.impl in ("grouped", "grouped_streams"):
            # rows ordered group-major: row g*(N/P)+r is filter r*P+g
            self.weight_kxk = nn.Parameter(torch.empty(n, m // p, k, k))
            self.weight_1x1 = nn.Parameter(torch.empty(n, m, 1, 1))
            self.register_buffer("mask_1x1", (~kxk_channel_mask(n, m, p)).float()[:, :, None, None], persistent=False)
        elif self.impl == "branches":
            self.weight_kxk = nn.Parameter(torch.empty(n, m // p, k, k))
            self.weight_rest = nn.Parameter(torch.empty(p, n // p, m - m // p, 1, 1))
            rest = [torch.tensor([j for j in range(m) if j % p != g], dtype=torch.long) for g in range(p)]
            self.register_buffer("rest_index", torch.stack(rest) if m > m // p else torch.zeros(p, 0, dtype=torch.long), persistent=False)

    def dense_weight(self) -> torch.Tensor:
        """The layer's weight as a dense (N, M, K, K) tensor with structural zeros."""
        n, m, k, p = self.out_channels, self.in_channels, self.kernel_size, self.part
        c = k // 2
        if self.impl in ("masked", "folded"):
            return (self.weight * self.weight_mask).detach().clone()
        dense = torch.zeros(n, m, k, k, dtype=self.weight_kxk.dtype, device=self.weight_kxk.device)
        kxk = self.weight_kxk.detach().reshape(p, n // p, m // p, k, k)
        for g in range(p):
            dense[g::p, g::p] = kxk[g]
        if self.impl in ("grouped", "grouped_streams"):
            w1 = (self.weight_1x1 * self.mask_1x1).detach()[:, :, 0, 0]
            keep = self.mask_1x1[:, :, 0, 0].bool()
            dense[:, :, c, c] = torch.where(keep, w1, dense[:, :, c, c])
        else:
            for g in range(p):
                rows = dense[g::p]
                rows[:, self.rest_index[g], c, c] = self.weight_rest.detach()[g, :, :, 0, 0]
                dense[g::p] = rows
        return dense

    @torch.no_grad()
    def load_dense_weight(self, dense: torch.Tensor) -> None:
        """Set the layer from a dense (N, M, K, K) weight; taps outside the mask are dropped."""
        n, m, k, p = self.out_channels, self.in_channels, self.kernel_size, self.part
        if tuple(dense.shape) != (n, m, k, k):
            raise ValueError(f"dense weight shape {tuple(dense.shape)} != {(n, m, k, k)}")
        dense = dense * self.weight_mask.to(dense)
        c = k // 2
        if self.impl in ("masked", "folded"):
            self.weight.copy_(dense)
            return
        kxk = torch.stack([dense[g::p, g::p] for g in range(p)]).reshape(n, m // p, k, k)
        self.weight_kxk.copy_(kxk)
        if self.impl in ("grouped", "grouped_streams"):
            self.weight_1x1.copy_((dense[:, :, c, c] * self.mask_1x1[:, :, 0, 0].to(dense))[:, :, None, None])
        else:
            for g in range(p):
                self.weight_rest[g].copy_(dense[g::p][:, self.rest_index[g], c, c][:, :, None, None])

    def convert(self, impl: str) -> "HetConv2d":
        """A new HetConv2d computing the same function with implementation `impl`."""
        ref = self.weight_kxk if hasattr(self, "weight_kxk") else self.weight
        new = HetConv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.part,
                        bias=self.bias is not None, impl=impl).to(device=ref.device, dtype=ref.dtype)
        new.load_dense_weight(self.dense_weight())
        if self.bias is not None:
            with torch.no_grad():
                new.bias.copy_(self.bias)
        new.train(self.training)
        return new

    # -- cost ------------------------------------------------------------------------------
    def paper_macs(self, out_h: int, out_w: int) -> int:
        """The paper's MACs for an output of out_h x out_w (bias excluded)."""
        return hetconv_macs(self.in_channels, self.out_channels, self.kernel_size, self.part, out_h, out_w)

    def paper_params(self) -> int:
        """Non-zero weights plus bias: the parameter count of the operator itself."""
        extra = self.out_channels if self.bias is not None else 0
        return hetconv_params(self.in_channels, self.out_channels, self.kernel_size, self.part) + extra

    # -- forward ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        impl = self.impl
        if impl == "masked":
            return F.conv2d(x, self.weight * self.weight_mask, self.bias, self.stride, self.padding)
        if impl == "folded":
            # Training through the mask keeps the structural zeros' gradient at zero, so they stay
            # zero and the layer keeps its HetConv cost; eval (deploy) runs the weight as stored.
            weight = self.weight * self.weight_mask if self.training else self.weight
            return F.conv2d(x, weight, self.bias, self.stride, self.padding)
        if impl == "grouped":
            return self._forward_grouped(x)
        if impl == "branches":
            return self._forward_branches(x)
        return self._forward_streams(x)

    def _weight_1x1(self) -> torch.Tensor:
        # In training the mask keeps gradients off the structural zeros; in eval the weight
        # already holds them (load_dense_weight zeroes them), so no extra op on the hot path.
        return self.weight_1x1 * self.mask_1x1 if self.training else self.weight_1x1

    def _kxk_branch(self, x: torch.Tensor) -> torch.Tensor:
        p = self.part
        xg = _group_inputs(x, p) if p > 1 else x
        y = F.conv2d(xg, self.weight_kxk, None, self.stride, self.padding, groups=p)
        return _ungroup_outputs(y, p) if p > 1 else y

    def _forward_grouped(self, x: torch.Tensor) -> torch.Tensor:
        y = self._kxk_branch(x)
        if self.part == 1:  # no 1x1 kernels at all
            return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
        return y + F.conv2d(x, self._weight_1x1(), self.bias, self.stride)

    def _forward_streams(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_cuda:
            raise RuntimeError("HetConv impl 'grouped_streams' needs CUDA tensors; use 'grouped' on this device")
        if self._side_stream is None:
            self._side_stream = torch.cuda.Stream(device=x.device)
        main = torch.cuda.current_stream(x.device)
        side = self._side_stream
        side.wait_stream(main)
        with torch.cuda.stream(side):
            y_1x1 = F.conv2d(x, self._weight_1x1(), self.bias, self.stride)
        y = self._kxk_branch(x)
        main.wait_stream(side)
        y_1x1.record_stream(main)
        return y + y_1x1

    def _forward_branches(self, x: torch.Tensor) -> torch.Tensor:
        p, n, m = self.part, self.out_channels, self.in_channels
        k = self.kernel_size
        wk = self.weight_kxk.reshape(p, n // p, m // p, k, k)
        outs = []
        for g in range(p):
            y = F.conv2d(x[:, g::p], wk[g], None, self.stride, self.padding)
            if m > m // p:
                y = y + F.conv2d(x.index_select(1, self.rest_index[g]), self.weight_rest[g], None, self.stride)
            outs.append(y)
        b, _, h, w = outs[0].shape
        out = torch.stack(outs, dim=2).reshape(b, n, h, w)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, part={self.part}, impl={self.impl}")


def convert_hetconv_impl(model: nn.Module, impl: str) -> nn.Module:
    """Swap every HetConv2d in `model` (in place) to implementation `impl`; returns model."""
    for name, child in list(model.named_children()):
        if isinstance(child, HetConv2d):
            if child.impl != impl:
                setattr(model, name, child.convert(impl))
        else:
            convert_hetconv_impl(child, impl)
    return model


def hetconv_impls_in(model: nn.Module) -> set[str]:
    """The set of HetConv impls used in `model` (empty if it has no HetConv)."""
    return {m.impl for m in model.modules() if isinstance(m, HetConv2d)}
