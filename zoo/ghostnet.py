"""GhostNet (Han et al., CVPR 2020): C-GhostNet with the CPU-efficient Ghost module.

A Ghost module makes half of its output with an ordinary 1x1 conv and the other half from
those features with cheap depthwise convs. The definition is timm's (`ghostnet_050/100/130`),
which follows the official huawei-noah code. GhostNet has no train-time branches to merge:
its deploy form is the network with BN folded.
"""
from __future__ import annotations

import timm
import torch.nn as nn

from zoo.meta import IMAGENET, ModelMeta, Reported
from zoo.papers import GHOSTNET
from zoo.registry import register_variant

_SRC = "GhostNet paper, ImageNet comparison (via the reference table)"
# timm name -> (width multiplier, top-1 %, MACs, params)
VARIANTS = {
    "ghostnet_050": (0.5, 66.2, 42e6, 2.6e6),
    "ghostnet_100": (1.0, 73.9, 141e6, 5.2e6),
    "ghostnet_130": (1.3, 75.7, 226e6, 7.3e6),
}


def _register() -> None:
    for name, (width, top1, macs, params) in VARIANTS.items():
        meta = ModelMeta(
            family="ghostnet", paper=GHOSTNET, **IMAGENET,
            reported=Reported(top1=top1, macs=macs, params=params, source=_SRC, scope="conv+linear (paper FLOPs = MACs)"),
            tags=("imagenet", "timm"), notes=f"definition: timm {timm.__version__} `{name}` (width {width}x)",
        )

        def build(arch=name, **kw) -> nn.Module:
            return timm.create_model(arch, pretrained=False, **kw)

        build.__name__ = name
        register_variant(name, build, meta)


_register()
