"""MobileNet v1 1.0-224 (Howard et al., 2017) on ImageNet.

timm's `mobilenetv1_100` is the paper's architecture (Table 1: 3x3 stem with 32 channels at
stride 2, 13 depthwise-separable blocks from 64 to 1024 channels, global pool, FC): it counts
568.7M MACs and 4.23M params against the paper's 569M and 4.24M, so its definition is used.
The deploy form is the network with BN folded.
"""
from __future__ import annotations

import timm
import torch.nn as nn

from zoo.meta import IMAGENET, ModelMeta, Reported
from zoo.papers import MOBILENET_V1
from zoo.registry import register_model

_META = ModelMeta(
    family="mobilenet_v1", paper=MOBILENET_V1, **IMAGENET,
    reported=Reported(top1=70.6, macs=569e6, params=4.24e6, source="MobileNets paper (via the reference table)",
                      scope="conv+linear (paper Mult-Adds)"),
    tags=("imagenet", "timm"), notes=f"definition: timm {timm.__version__} `mobilenetv1_100`",
)


@register_model(_META)
def mobilenet_v1(**kw) -> nn.Module:
    """MobileNet v1 1.0 at 224x224 (timm `mobilenetv1_100`, random weights)."""
    return timm.create_model("mobilenetv1_100", pretrained=False, **kw)
