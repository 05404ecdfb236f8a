"""Kernel algebra for structural re-parameterisation (DBB, RMNet): exact merges of linear branches.

Every function returns a (weight, bias) pair of a single conv equivalent to its input in eval
mode. Shapes follow nn.Conv2d: weight (out, in / groups, kh, kw), bias (out,). Only dense
convs (groups = 1) are merged here; the blocks that use these helpers are dense.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

Kernel = tuple[torch.Tensor, torch.Tensor]


def fuse_bn(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d) -> Kernel:
    """Fold eval-mode `bn` into a conv with `weight` and optional `bias`."""
    std = torch.sqrt(bn.running_var + bn.eps)
    gamma = bn.weight if bn.affine else torch.ones_like(std)
    beta = bn.bias if bn.affine else torch.zeros_like(std)
    scale = gamma / std
    b = bias if bias is not None else torch.zeros_like(bn.running_mean)
    return weight * scale.view(-1, 1, 1, 1), beta + (b - bn.running_mean) * scale


def pad_to(weight: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Zero-pad a smaller square kernel to `kernel_size`, centred (same conv with padding K//2)."""
    extra = (kernel_size - weight.shape[-1]) // 2
    return F.pad(weight, [extra] * 4)


def avg_kernel(channels: int, kernel_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """KxK average pooling as a conv: each channel averages only itself."""
    k = torch.zeros(channels, channels, kernel_size, kernel_size, dtype=dtype)
    k[torch.arange(channels), torch.arange(channels)] = 1.0 / kernel_size**2
    return k


def merge_1x1_then_kxk(first: Kernel, second: Kernel) -> Kernel:
    """A 1x1 conv followed by a KxK conv, as one KxK conv.

    Exact only if the KxK conv's padding region holds what the 1x1 conv would output for a
    zero input, i.e. its bias: the train-time blocks pad with that value (see `PadWithBias`).
    """
    w1, b1 = first
    w2, b2 = second
    weight = torch.einsum("omhw,mi->oihw", w2, w1[:, :, 0, 0])
    bias = b2 + (w2.sum(dim=(2, 3)) * b1.view(1, -1)).sum(dim=1)
    return weight, bias


def add_branches(*kernels: Kernel) -> Kernel:
    """Parallel branches of the same kernel size summed into one."""
    return sum(k[0] for k in kernels), sum(k[1] for k in kernels)


def conv_from_kernel(template: nn.Conv2d, kernel: Kernel) -> nn.Conv2d:
    """A biased nn.Conv2d with `template`'s geometry holding `kernel`, on the kernel's device and dtype."""
    weight, bias = kernel
    # Built directly in the kernel's dtype/device: a default-dtype conv would silently round an
    # fp64 kernel to fp32 (copy_ casts) and then fail on fp64 inputs.
    conv = nn.Conv2d(weight.shape[1] * template.groups, weight.shape[0], weight.shape[-1], template.stride,
                     template.padding, template.dilation, template.groups, bias=True,
                     device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


class PadWithBias(nn.Module):
    """BN, then pad by `pad` pixels with the BN's output for a zero input (its folded bias).

    Placing this between a 1x1 conv and a KxK conv with no padding makes the pair equal to one
    KxK conv with zero padding on the block input, so the branch merges exactly.
    """

    def __init__(self, channels: int, pad: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(x)
        if self.pad == 0:
            return out
        if self.training:
            # training-mode BN normalises with batch statistics; the pad value must follow them
            mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
        else:
            mean, var = self.bn.running_mean, self.bn.running_var
        scale = self.bn.weight / torch.sqrt(var + self.bn.eps)
        value = (self.bn.bias - mean * scale).view(1, -1, 1, 1)
        padded = F.pad(out - value, [self.pad] * 4)
        return padded + value
