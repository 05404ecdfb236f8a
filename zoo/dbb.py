"""Diverse Branch Block (Ding et al., CVPR 2021) in a ResNet-18: `dbb_resnet18`.

A DBB replaces a KxK conv + BN during training with four parallel branches, each ending in
its own BN, summed:
  1. KxK conv - BN (the original layer);
  2. 1x1 conv - BN (same stride);
  3. 1x1 conv - BN - KxK average pool - BN;
  4. 1x1 conv (initialised to the identity) - BN - KxK conv - BN.
Branches 3 and 4 pad after their first BN with that BN's output for a zero input, so that
they equal a KxK conv on the zero-padded block input. `reparameterize()` merges the four into
one KxK conv with bias, in place: the deploy form is exactly ResNet-18 (BN folded).

As in the official code (DingXiaoH/DiverseBranchBlock, convnet_utils.py), only the 3x3 convs
of the residual blocks become DBBs; the 7x7 stem and the 1x1 projection shortcuts stay conv +
BN. The macro-architecture is torchvision's ResNet-18 (the official ResNet has the same
layout). Our DBB supports dense convs only (groups = 1), which is all ResNet-18 needs.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torchvision

from zoo.layers.conv_fusion import (Kernel, PadWithBias, add_branches, avg_kernel, conv_from_kernel,
                                    fuse_bn, merge_1x1_then_kxk, pad_to)
from zoo.meta import IMAGENET, ModelMeta, Reported
from zoo.papers import DBB
from zoo.registry import register_model


class IdentityInit1x1(nn.Module):
    """A 1x1 conv whose kernel is identity + a learned delta (the delta starts at zero)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.delta = nn.Parameter(torch.zeros(channels, channels, 1, 1))
        self.register_buffer("identity", torch.eye(channels).view(channels, channels, 1, 1), persistent=False)

    def kernel(self) -> torch.Tensor:
        """The effective 1x1 kernel."""
        return self.identity + self.delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.kernel())


class DiverseBranchBlock(nn.Module):
    """KxK conv + BN realised as four branches in training, one KxK conv after `reparameterize()`."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        k, pad = kernel_size, kernel_size // 2
        self.kernel_size, self.stride = k, stride
        self.kxk = nn.Sequential(nn.Conv2d(in_ch, out_ch, k, stride, pad, bias=False), nn.BatchNorm2d(out_ch))
        self.one = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
        self.avg = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), PadWithBias(out_ch, pad),
                                 nn.AvgPool2d(k, stride, 0), nn.BatchNorm2d(out_ch))
        self.one_kxk = nn.Sequential(IdentityInit1x1(in_ch), PadWithBias(in_ch, pad),
                                     nn.Conv2d(in_ch, out_ch, k, stride, 0, bias=False), nn.BatchNorm2d(out_ch))
        self.merged: nn.Conv2d | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged is not None:
            return self.merged(x)
        return self.kxk(x) + self.one(x) + self.avg(x) + self.one_kxk(x)

    def equivalent_kernel(self) -> Kernel:
        """The single KxK conv (weight, bias) equal to the four branches in eval mode."""
        k = self.kernel_size
        kxk = fuse_bn(self.kxk[0].weight, None, self.kxk[1])
        w1, b1 = fuse_bn(self.one[0].weight, None, self.one[1])
        one = (pad_to(w1, k), b1)
        avg_first = fuse_bn(self.avg[0].weight, None, self.avg[1].bn)
        pool = avg_kernel(avg_first[0].shape[0], k, avg_first[0].dtype).to(avg_first[0].device)
        avg = merge_1x1_then_kxk(avg_first, fuse_bn(pool, None, self.avg[3]))
        chain_first = fuse_bn(self.one_kxk[0].kernel(), None, self.one_kxk[1].bn)
        chain = merge_1x1_then_kxk(chain_first, fuse_bn(self.one_kxk[2].weight, None, self.one_kxk[3]))
        return add_branches(kxk, one, avg, chain)

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Replace the four branches by the merged conv, in place (eval-mode BN statistics)."""
        if self.merged is not None:
            return
        self.merged = conv_from_kernel(self.kxk[0], self.equivalent_kernel())
        del self.kxk, self.one, self.avg, self.one_kxk


def _dbb_in_place_of(conv: nn.Conv2d) -> DiverseBranchBlock:
    return DiverseBranchBlock(conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0])


def dbb_resnet(arch: str = "resnet18", **kw) -> nn.Module:
    """torchvision ResNet `arch` with every block's 3x3 conv + BN replaced by a DBB (train form)."""
    model = torchvision.models.get_model(arch, weights=None, **kw)
    for block in model.modules():
        if isinstance(block, torchvision.models.resnet.BasicBlock):
            block.conv1, block.bn1 = _dbb_in_place_of(block.conv1), nn.Identity()
            block.conv2, block.bn2 = _dbb_in_place_of(block.conv2), nn.Identity()
    return model


def _resnet18_reported() -> Reported:
    from zoo.external import torchvision_reported

    base = torchvision_reported("resnet18")
    return Reported(macs=base.macs, params=base.params, source=base.source, scope=base.scope,
                    note="deploy form = ResNet-18, so MACs/params are torchvision's ResNet-18 figures; "
                         "DBB ResNet-18 top-1: n/f in stored sources (the paper's table was not retrievable)")


_META = ModelMeta(
    family="dbb", paper=DBB, **IMAGENET, deploy="reparameterize", reported=_resnet18_reported(),
    tags=("imagenet", "own_impl", "reparam"),
    notes="own DBB implementation on torchvision ResNet-18: the 16 block 3x3 convs are DBBs (stem and 1x1 "
          "shortcuts stay conv+BN, as in the official code); deploy form is plain ResNet-18",
)


@register_model(_META)
def dbb_resnet18(**kw) -> nn.Module:
    """ResNet-18 whose block 3x3 convs are Diverse Branch Blocks (train form, random weights)."""
    return dbb_resnet("resnet18", **kw)
