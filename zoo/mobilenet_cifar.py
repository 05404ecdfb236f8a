"""MobileNet (v1) on CIFAR-10 and its HetConv form (Singh et al. 2019, Table 4).

The CIFAR MobileNet: 3x3 stem to 32 channels at stride 1, then 13 depthwise-separable blocks
(64, 128/2, 128, 256/2, 256, 512/2, 512 x5, 1024/2, 1024), a 2x2 average pool and
Linear(1024, 10). In `mobilenet_cifar_p32` each depthwise + pointwise pair becomes one HetConv
layer with P = 32 (the layer count halves: no extra sequential layer).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from zoo.layers.conv_kinds import STANDARD, ConvKind, conv_bn
from zoo.layers.squeeze_excite import SqueezeExcite
from zoo.meta import CIFAR10, ModelMeta, Reported
from zoo.papers import HETCONV, MOBILENET_V1
from zoo.registry import register_variant

BLOCKS = (64, (128, 2), 128, (256, 2), 256, (512, 2), 512, 512, 512, 512, 512, (1024, 2), 1024)


class MobileNetCifar(nn.Module):
    """CIFAR MobileNet v1; `kind` replaces each depthwise+pointwise pair (default DWC+PWC)."""

    def __init__(self, kind: ConvKind = ConvKind("dwc_pwc"), se: bool = False, num_classes: int = 10,
                 width: float = 1.0, impl: str | None = None) -> None:
        super().__init__()
        if impl is not None:
            kind = ConvKind(kind.kind, kind.part, kind.groups, impl)
        c0 = int(32 * width)
        layers: list[nn.Module] = [*conv_bn(3, c0, 1, STANDARD), nn.ReLU(inplace=True)]
        in_ch = c0
        for b in BLOCKS:
            out, stride = (b, 1) if isinstance(b, int) else b
            out = int(out * width)
            layers += [*conv_bn(in_ch, out, stride, kind), nn.ReLU(inplace=True)]
            if se:
                layers.append(SqueezeExcite(out, 8))
            in_ch = out
        layers.append(nn.AvgPool2d(2))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


_N_F = "HetConv Table 4 rows: n/f in stored sources"
_ROWS = (
    ("mobilenet_cifar", ConvKind("dwc_pwc"), False, MOBILENET_V1),
    ("mobilenet_cifar_p32", ConvKind("hetconv", 32), False, HETCONV),
    ("mobilenet_cifar_p32_se", ConvKind("hetconv", 32), True, HETCONV),
)


def _register() -> None:
    for name, kind, se, paper in _ROWS:
        het = kind.kind == "hetconv"
        meta = ModelMeta(
            family="mobilenet_cifar", paper=paper, **CIFAR10, reported=Reported(note=_N_F),
            tags=("hetconv_paper", "cifar") + (("hetconv",) if het else ()) + (("se",) if se else ()),
            hetconv_p=kind.part if het else None,
            notes=kind.describe() + (" + SE(r=8) after each layer" if se else ""),
        )

        def build(kind=kind, se=se, **kw) -> nn.Module:
            return MobileNetCifar(kind, se, **kw)

        build.__name__ = name
        register_variant(name, build, meta)


_register()
