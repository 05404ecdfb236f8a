"""ImageNet models whose definitions come from torchvision, with its weights metadata.

torchvision's weights enums carry the ImageNet top-1, the parameter count and the GMACs
(its `_ops`, multiply-adds despite the "GFLOPS" label) of each architecture; they are read
from the installed package, not copied. No weights are downloaded.
"""
from __future__ import annotations

import torch.nn as nn
import torchvision

from zoo.meta import IMAGENET, ModelMeta, Reported
from zoo.papers import MOBILENET_V2, MOBILENET_V3, RESNET, SHUFFLENET_V2, VGG
from zoo.registry import register_variant

TORCHVISION_MODELS = {
    "resnet18": ("resnet", RESNET), "resnet34": ("resnet", RESNET), "resnet50": ("resnet", RESNET),
    "resnet101": ("resnet", RESNET), "resnet152": ("resnet", RESNET),
    "vgg16": ("vgg", VGG), "vgg16_bn": ("vgg", VGG),
    "mobilenet_v2": ("mobilenet_v2", MOBILENET_V2),
    "mobilenet_v3_large": ("mobilenet_v3", MOBILENET_V3), "mobilenet_v3_small": ("mobilenet_v3", MOBILENET_V3),
    "shufflenet_v2_x0_5": ("shufflenet_v2", SHUFFLENET_V2), "shufflenet_v2_x1_0": ("shufflenet_v2", SHUFFLENET_V2),
    "shufflenet_v2_x1_5": ("shufflenet_v2", SHUFFLENET_V2), "shufflenet_v2_x2_0": ("shufflenet_v2", SHUFFLENET_V2),
}


def torchvision_reported(name: str) -> Reported:
    """Top-1, params and GMACs from torchvision's default weights `meta` for `name`."""
    weights = torchvision.models.get_model_weights(name).DEFAULT
    meta = weights.meta
    ops = meta.get("_ops")
    return Reported(
        top1=meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1"),
        macs=ops * 1e9 if ops is not None else None,
        params=meta.get("num_params"),
        source=f"torchvision {torchvision.__version__} weights meta ({weights})",
        scope="torchvision _ops (conv+linear multiply-adds)",
    )


def _register() -> None:
    for name, (family, paper) in TORCHVISION_MODELS.items():
        meta = ModelMeta(family=family, paper=paper, **IMAGENET, reported=torchvision_reported(name),
                         tags=("imagenet", "torchvision"), notes="definition: torchvision")

        def build(arch=name, **kw) -> nn.Module:
            return torchvision.models.get_model(arch, weights=None, **kw)

        build.__name__ = name
        register_variant(name, build, meta)


_register()
