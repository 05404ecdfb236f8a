"""VGG-16 on CIFAR-10 with HetConv (Singh et al., CVPR 2019, Table 1) and its baselines.

The network is the BN VGG-16 of Li et al. (cfg 64-64-M-128-128-M-256x3-M-512x3-M-512x3, a
2x2 average pool, then a 512-512-10 head). Every conv except conv1 becomes the variant's conv
kind: HetConv with part P (P = 2 ... 64, or PC: P = input channels), group conv with 4 groups
+ pointwise (GWC4_PWC) or depthwise + pointwise (DWC_PWC). `_se` variants add
squeeze-and-excitation (reduction 8) after each replaced layer; the paper does not say where,
this placement is ours.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from zoo.layers.conv_kinds import STANDARD, ConvKind, conv_bn
from zoo.layers.squeeze_excite import SqueezeExcite
from zoo.meta import CIFAR10, ModelMeta, Reported
from zoo.papers import HETCONV
from zoo.registry import register_variant

VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


class VGGCifar(nn.Module):
    """VGG on 32x32 inputs; `kind` applies to every conv but the first."""

    def __init__(self, cfg=VGG16_CFG, kind: ConvKind = STANDARD, se: bool = False, num_classes: int = 10,
                 impl: str | None = None) -> None:
        super().__init__()
        if impl is not None:
            kind = ConvKind(kind.kind, kind.part, kind.groups, impl)
        layers: list[nn.Module] = []
        in_ch, first = 3, True
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(conv_bn(in_ch, v, 1, STANDARD if first else kind))
            layers.append(nn.ReLU(inplace=True))
            if se and not first:
                layers.append(SqueezeExcite(v, 8))
            in_ch, first = v, False
        layers.append(nn.AvgPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(in_ch, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Linear(512, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@dataclass(frozen=True)
class VggVariant:
    """One row of the variant table."""

    suffix: str
    kind: ConvKind
    se: bool = False
    top1: float | None = None
    macs: float | None = None
    note: str = ""


_T1 = "HetConv paper Table 1 (as restated in irvinxav/Efficient-HetConv README)"
VARIANTS = (
    VggVariant("", STANDARD, top1=94.06, macs=313.74e6),
    *(VggVariant(f"_p{p}", ConvKind("hetconv", p), top1=t, macs=m) for p, t, m in (
        (2, 93.89, 175.23e6), (4, 93.93, 105.98e6), (8, 93.92, 71.35e6), (16, 93.96, 54.04e6),
        (32, 93.73, 45.38e6), (64, 93.42, 41.05e6))),
    VggVariant("_pc", ConvKind("hetconv", 0), note="PC: P = input channels of each layer; MACs and accuracy n/f"),
    VggVariant("_gwc4_pwc", ConvKind("gwc_pwc", groups=4), top1=92.76, note="accuracy from the paper's text; MACs n/f"),
    VggVariant("_dwc_pwc", ConvKind("dwc_pwc"), top1=91.27, note="accuracy from the paper's text; MACs n/f"),
)


def _register() -> None:
    for v in VARIANTS:
        for se in (False, True):
            if se and v.kind.kind != "hetconv":
                continue
            name = f"vgg16_cifar{v.suffix}{'_se' if se else ''}"
            reported = Reported(
                top1=None if se else v.top1, macs=None if se else v.macs,
                source=_T1 if (v.top1 or v.macs) and not se else "",
                scope="conv+linear" if v.macs and not se else "",
                note="SE rows: n/f in stored sources" if se else v.note,
            )
            if not v.suffix:
                reported = Reported(top1=94.06, macs=313.74e6, params=15.0e6, source=_T1 + "; params: Li et al. Table 1",
                                    scope="conv+linear")
            meta = ModelMeta(
                family="vgg_cifar", paper=HETCONV, **CIFAR10, reported=reported,
                tags=("hetconv_paper", "cifar") + (("hetconv",) if v.kind.kind == "hetconv" else ()) + (("se",) if se else ()),
                hetconv_p=(v.kind.part if v.kind.kind == "hetconv" else None),
                notes=v.kind.describe() + (" + SE(r=8) after each replaced layer" if se else ""),
            )

            def build(kind=v.kind, se=se, **kw) -> nn.Module:
                return VGGCifar(kind=kind, se=se, **kw)

            build.__name__ = name
            register_variant(name, build, meta)


_register()
