"""CIFAR ResNets (He et al. 2016) with option-A shortcuts, and ResNet-56 with HetConv.

Stem 3x3 conv to 16 channels, three stages of n BasicBlocks at 16/32/64 channels (n = 3, 5,
9, 18 for depth 20, 32, 56, 110), global average pool, Linear(64, 10). Option-A shortcuts:
stride-2 subsampling and zero-padded channels, so shortcuts hold no parameters. HetConv
variants (Singh et al. 2019) replace every 3x3 conv in the blocks (the stem stays standard);
`_se` variants add squeeze-and-excitation (reduction 8) before the residual sum.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo.layers.conv_kinds import STANDARD, ConvKind, conv_bn
from zoo.layers.squeeze_excite import SqueezeExcite
from zoo.meta import CIFAR10, ModelMeta, Reported
from zoo.papers import HETCONV, RESNET
from zoo.registry import register_variant


class ShortcutA(nn.Module):
    """Option-A shortcut: subsample spatially, zero-pad the new channels."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.stride, self.pad = stride, out_ch - in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x


class BasicBlockCifar(nn.Module):
    """conv-BN-ReLU-conv-BN (+SE) plus an option-A shortcut, then ReLU.

    `mid` is the width of the first conv's output (smaller than `out_ch` in pruned variants).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, kind: ConvKind = STANDARD, se: bool = False,
                 mid: int | None = None) -> None:
        super().__init__()
        mid = out_ch if mid is None else mid
        self.conv1 = conv_bn(in_ch, mid, stride, kind)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = conv_bn(mid, out_ch, 1, kind)
        self.se = SqueezeExcite(out_ch, 8) if se else nn.Identity()
        self.shortcut = ShortcutA(in_ch, out_ch, stride) if (stride != 1 or in_ch != out_ch) else nn.Identity()
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.se(self.conv2(self.relu1(self.conv1(x))))
        return self.relu2(out + self.shortcut(x))


def block_plan(depth: int, widths: tuple[int, ...], stem_ch: int) -> list[tuple[int, int, int, int]]:
    """(stage, in_ch, out_ch, stride) of every block of a CIFAR ResNet of depth 6n+2."""
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
    n = (depth - 2) // 6
    plan, in_ch = [], stem_ch
    for stage, w in enumerate(widths):
        for b in range(n):
            plan.append((stage, in_ch, w, 2 if (stage > 0 and b == 0) else 1))
            in_ch = w
    return plan


class CifarResNetBase(nn.Module):
    """Stem (3x3 conv-BN-ReLU), a sequence of blocks, global average pool, linear classifier."""

    def _assemble(self, stem_ch: int, blocks: list[nn.Module], out_ch: int, num_classes: int) -> None:
        self.stem = nn.Sequential(*conv_bn(3, stem_ch, 1, STANDARD), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(out_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class ResNetCifar(CifarResNetBase):
    """CIFAR ResNet of depth 6n+2. `mids` optionally gives each block's inner width."""

    def __init__(self, depth: int = 56, kind: ConvKind = STANDARD, se: bool = False, num_classes: int = 10,
                 widths: tuple[int, int, int] = (16, 32, 64), mids: list[int] | None = None,
                 impl: str | None = None) -> None:
        super().__init__()
        plan = block_plan(depth, widths, widths[0])
        if impl is not None:
            kind = ConvKind(kind.kind, kind.part, kind.groups, impl)
        blocks = [BasicBlockCifar(c_in, c_out, stride, kind, se, mids[i] if mids is not None else None)
                  for i, (_stage, c_in, c_out, stride) in enumerate(plan)]
        self._assemble(widths[0], blocks, widths[-1], num_classes)


@dataclass(frozen=True)
class ResNetCifarVariant:
    """One row of the variant table."""

    depth: int
    kind: ConvKind = STANDARD
    se: bool = False
    reported: Reported = Reported()


_BASE_SRC = "He et al. 2016 (accuracy); conv-only MACs and params: reference table"
VARIANTS = (
    ResNetCifarVariant(20, reported=Reported(top1=91.25, macs=40.55e6, params=0.27e6, source=_BASE_SRC, scope="conv")),
    ResNetCifarVariant(32, reported=Reported(top1=92.49, macs=68.86e6, params=0.46e6, source=_BASE_SRC, scope="conv")),
    ResNetCifarVariant(56, reported=Reported(top1=93.03, macs=125.49e6, params=0.85e6, source=_BASE_SRC, scope="conv",
                                             note="HetConv paper text: 126.01M (2.36M per conv)")),
    ResNetCifarVariant(110, reported=Reported(top1=93.57, macs=252.89e6, params=1.7e6, source=_BASE_SRC, scope="conv")),
    *(ResNetCifarVariant(56, ConvKind("hetconv", p), se, Reported(note="HetConv Table 3 rows: n/f in stored sources"))
      for p in (2, 4) for se in (False, True)),
)


def _name(v: ResNetCifarVariant) -> str:
    suffix = f"_p{v.kind.part}" if v.kind.kind == "hetconv" else ""
    return f"resnet{v.depth}_cifar{suffix}{'_se' if v.se else ''}"


def _register() -> None:
    for v in VARIANTS:
        het = v.kind.kind == "hetconv"
        meta = ModelMeta(
            family="resnet_cifar", paper=HETCONV if het else RESNET, **CIFAR10, reported=v.reported,
            tags=("cifar",) + (("hetconv_paper", "hetconv") if het else ("hetconv_paper",) if v.depth == 56 else ())
            + (("se",) if v.se else ()),
            hetconv_p=v.kind.part if het else None,
            notes=v.kind.describe() + (" + SE(r=8) before the residual sum" if v.se else ""),
        )

        def build(depth=v.depth, kind=v.kind, se=v.se, **kw) -> nn.Module:
            return ResNetCifar(depth, kind, se, **kw)

        build.__name__ = _name(v)
        register_variant(build.__name__, build, meta)


_register()
