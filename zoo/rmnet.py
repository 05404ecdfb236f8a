"""RMNet (Meng et al., 2021): the RM operation removes a ResNet's residual connections exactly.

A BasicBlock computes y = ReLU(B(ReLU(A(x))) + s(x)), where A and B are 3x3 conv + BN and the
shortcut s is the identity, an option-A shortcut (subsample + zero-padded channels) or a 1x1
projection conv + BN. Its input x is the output of a ReLU (or of a max pool of one), so x >= 0.
RM folds the BNs and widens the block:
- conv A' = [A ; Dirac]: `in` extra output channels copy x (strided like A, i.e. sampled at
  the same positions as a strided 1x1 conv); ReLU leaves them unchanged because x >= 0;
- conv B' = [B | S]: the extra input channels are mapped to the output by S, the shortcut as
  a 3x3 kernel with only its centre set (a Dirac for the identity, a shifted Dirac for
  option A, the folded 1x1 projection otherwise), its bias added to B's.
The deploy block is conv - ReLU - conv - ReLU with no residual, equal to the original in eval
mode. An identity block of width C becomes 3x3 C -> 2C, 3x3 2C -> C: twice the block's MACs.

Train forms are the ResNets with residuals: torchvision's ResNet-18/34 and this repo's CIFAR
ResNets (zoo/resnet_cifar.py, option-A shortcuts; the official RMNet CIFAR models use
projection shortcuts instead). Each BasicBlock is wrapped in an `RMBlock` whose
`reparameterize()` swaps it for the plain block in place. The official code (fxmeng/RMNet)
also prunes RM networks, but with widths learned per checkpoint (network slimming, AMC): no
fixed pruned configurations are published, so none is registered here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torchvision

from zoo.layers.conv_fusion import Kernel, conv_from_kernel, fuse_bn
from zoo.meta import CIFAR10, IMAGENET, ModelMeta, Reported
from zoo.papers import RMNET
from zoo.registry import register_variant
from zoo.resnet_cifar import VARIANTS as CIFAR_VARIANTS, BasicBlockCifar, ResNetCifar, ShortcutA


@dataclass
class ResidualParts:
    """The pieces of a BasicBlock the RM operation needs.

    shortcut: "identity", "pad" (option A: zero channels before the input = `pad_front`) or
    "projection" (`proj` = 1x1 conv, `proj_bn`).
    """

    conv1: nn.Conv2d
    bn1: nn.BatchNorm2d
    conv2: nn.Conv2d
    bn2: nn.BatchNorm2d
    shortcut: str
    proj: nn.Conv2d | None = None
    proj_bn: nn.BatchNorm2d | None = None
    pad_front: int = 0


def parts_of_torchvision(block: torchvision.models.resnet.BasicBlock) -> ResidualParts:
    """ResidualParts of a torchvision BasicBlock (projection shortcut when it has `downsample`)."""
    if block.downsample is None:
        return ResidualParts(block.conv1, block.bn1, block.conv2, block.bn2, "identity")
    proj, proj_bn = block.downsample[0], block.downsample[1]
    return ResidualParts(block.conv1, block.bn1, block.conv2, block.bn2, "projection", proj, proj_bn)


def parts_of_cifar(block: BasicBlockCifar) -> ResidualParts:
    """ResidualParts of a CIFAR BasicBlock (standard convs, no SE)."""
    if not isinstance(block.se, nn.Identity) or not all(isinstance(b[0], nn.Conv2d) for b in (block.conv1, block.conv2)):
        raise ValueError("RM needs plain conv + BN blocks without SE")
    conv1, bn1 = block.conv1
    conv2, bn2 = block.conv2
    if isinstance(block.shortcut, ShortcutA):
        return ResidualParts(conv1, bn1, conv2, bn2, "pad", pad_front=block.shortcut.pad // 2)
    return ResidualParts(conv1, bn1, conv2, bn2, "identity")


def _centre(kernel_size: int, matrix: torch.Tensor) -> torch.Tensor:
    """A (out, in) matrix as a KxK kernel with only the centre tap set."""
    out = torch.zeros(*matrix.shape, kernel_size, kernel_size, dtype=matrix.dtype, device=matrix.device)
    out[:, :, kernel_size // 2, kernel_size // 2] = matrix
    return out


def _shortcut_kernel(p: ResidualParts, in_ch: int, out_ch: int, k: int) -> Kernel:
    """The shortcut as a map from the reserved channels to the block output (centre-only KxK)."""
    ref = p.conv2.weight
    if p.shortcut == "projection":
        w, b = fuse_bn(p.proj.weight, p.proj.bias, p.proj_bn)
        return _centre(k, w[:, :, 0, 0]), b
    placement = torch.zeros(out_ch, in_ch, dtype=ref.dtype, device=ref.device)
    placement[torch.arange(in_ch) + p.pad_front, torch.arange(in_ch)] = 1
    return _centre(k, placement), torch.zeros(out_ch, dtype=ref.dtype, device=ref.device)


def rm_convert(p: ResidualParts) -> nn.Sequential:
    """The plain (residual-free) block equal to `p` in eval mode, for inputs >= 0."""
    k = p.conv1.kernel_size[0]
    if p.conv1.padding[0] != k // 2 or p.conv1.groups != 1 or p.conv2.stride[0] != 1:
        raise ValueError("RM expects dense 'same'-padded convs with the stride on the first")
    in_ch, mid, out_ch = p.conv1.in_channels, p.conv1.out_channels, p.conv2.out_channels
    w1, b1 = fuse_bn(p.conv1.weight, p.conv1.bias, p.bn1)
    keep = _centre(k, torch.eye(in_ch, dtype=w1.dtype, device=w1.device))
    first = conv_from_kernel(p.conv1, (torch.cat((w1, keep)), torch.cat((b1, torch.zeros_like(b1[:in_ch])))))
    w2, b2 = fuse_bn(p.conv2.weight, p.conv2.bias, p.bn2)
    ws, bs = _shortcut_kernel(p, in_ch, out_ch, k)
    second = conv_from_kernel(p.conv2, (torch.cat((w2, ws), dim=1), b2 + bs))
    assert first.out_channels == mid + in_ch and second.in_channels == mid + in_ch
    return nn.Sequential(first, nn.ReLU(inplace=True), second, nn.ReLU(inplace=True))


class RMBlock(nn.Module):
    """A residual BasicBlock (train form) that `reparameterize()` turns into its plain RM form."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block
        self.plain: nn.Sequential | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) if self.plain is None else self.plain(x)

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Replace the residual block by conv-ReLU-conv-ReLU, in place (uses eval BN statistics)."""
        if self.plain is not None:
            return
        parts = parts_of_cifar(self.block) if isinstance(self.block, BasicBlockCifar) else parts_of_torchvision(self.block)
        self.plain = rm_convert(parts)
        del self.block


def rm_resnet(arch: str = "resnet18", **kw) -> nn.Module:
    """torchvision ResNet `arch` (BasicBlock depths only) with every block wrapped for RM."""
    model = torchvision.models.get_model(arch, weights=None, **kw)
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        for i, block in enumerate(layer):
            if not isinstance(block, torchvision.models.resnet.BasicBlock):
                raise ValueError(f"RM here supports BasicBlock ResNets, not {arch}")
            layer[i] = RMBlock(block)
    return model


def rm_resnet_cifar(depth: int = 20, **kw) -> nn.Module:
    """CIFAR ResNet of `depth` (option-A shortcuts) with every block wrapped for RM."""
    model = ResNetCifar(depth, **kw)
    for i, block in enumerate(model.blocks):
        model.blocks[i] = RMBlock(block)
    return model


_RM_NOTE = ("RM is exact, so a converted network keeps the accuracy of the ResNet it came from: top-1 is that "
            "ResNet's; MACs/params of the RM deploy form: n/f in stored sources (the paper reports RMNeXt/RepVGG rows)")


def _imagenet_reported(arch: str) -> Reported:
    from zoo.external import torchvision_reported

    base = torchvision_reported(arch)
    return Reported(top1=base.top1, source=base.source + " (accuracy of the ResNet that is converted)", note=_RM_NOTE)


def _register() -> None:
    for arch in ("resnet18", "resnet34"):
        meta = ModelMeta(
            family="rmnet", paper=RMNET, **IMAGENET, deploy="reparameterize", reported=_imagenet_reported(arch),
            tags=("imagenet", "own_impl", "reparam"),
            notes=f"own RM implementation on torchvision {arch}; projection shortcuts merged into the second conv; "
                  "deploy form is a plain VGG-like network (identity blocks C->2C->C)",
        )

        def build(arch=arch, **kw) -> nn.Module:
            return rm_resnet(arch, **kw)

        build.__name__ = f"rmnet_{arch}"
        register_variant(build.__name__, build, meta)
    for v in CIFAR_VARIANTS:
        if v.kind.kind != "standard" or v.se:
            continue
        base = v.reported
        meta = ModelMeta(
            family="rmnet", paper=RMNET, **CIFAR10, deploy="reparameterize",
            reported=Reported(top1=base.top1, source=base.source + " (accuracy of the ResNet that is converted)",
                              note=_RM_NOTE),
            tags=("cifar", "own_impl", "reparam"),
            notes=f"own RM implementation on resnet{v.depth}_cifar (option-A shortcuts: the reserved channels are "
                  "placed at the zero-padded positions); deploy form is plain",
        )

        def build(depth=v.depth, **kw) -> nn.Module:
            return rm_resnet_cifar(depth, **kw)

        build.__name__ = f"rmnet_resnet{v.depth}_cifar"
        register_variant(build.__name__, build, meta)


_register()
