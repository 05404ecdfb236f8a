"""ImageNet VGG-16, ResNet-34 and ResNet-50 with HetConv (Singh et al. 2019, sections 4.5-4.7).

Every KxK (K > 1) conv except the network's first is replaced by a HetConv layer with the
same filters, stride and part P; 1x1 convs (ResNet-50's bottleneck ends, downsample
projections) are unchanged, since a 1x1 HetConv is a plain 1x1 conv. The paper's text names
P = 4 for all three networks. Definitions: torchvision's `vgg16_bn`, `resnet34`, `resnet50`
(BN kept so the variants train; the deploy form folds it).
"""
from __future__ import annotations

import torch.nn as nn
import torchvision

from zoo.layers.hetconv import HetConv2d
from zoo.meta import IMAGENET, ModelMeta, Reported
from zoo.papers import HETCONV
from zoo.registry import register_variant


def hetconv_replace(model: nn.Module, part: int, impl: str = "grouped") -> nn.Module:
    """Replace every KxK conv (K > 1, groups 1) but the first with HetConv(P=part), in place."""
    convs = [(n, m) for n, m in model.named_modules()
             if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1 and m.groups == 1]
    for qual, conv in convs[1:]:
        parent_name, _, attr = qual.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        p = conv.in_channels if part == 0 else part
        setattr(parent, attr, HetConv2d(conv.in_channels, conv.out_channels, conv.kernel_size[0],
                                        conv.stride[0], p, bias=conv.bias is not None, impl=impl))
    return model


_ROWS = (
    ("vgg16_p4", "vgg16_bn", 4, Reported(note="paper text: 65.8 % MACs reduction vs VGG-16, no accuracy loss; "
                                               "Table 5 numbers n/f in stored sources")),
    ("resnet34_p4", "resnet34", 4, Reported(note="paper text: 64.48 % MACs reduction vs ResNet-34; Table 6 n/f")),
    ("resnet50_p4", "resnet50", 4, Reported(top1=76.16, macs=2.85e9, source="second-hand (reference table)",
                                            scope="conv+linear", note="baseline 76.16 % top-1")),
)


def _register() -> None:
    for name, base, part, reported in _ROWS:
        meta = ModelMeta(family="hetconv_imagenet", paper=HETCONV, **IMAGENET, reported=reported,
                         tags=("hetconv_paper", "hetconv", "imagenet"), hetconv_p=part,
                         notes=f"torchvision {base} with every KxK conv but the first as HetConv P{part}")

        def build(base=base, part=part, impl: str = "grouped", **kw) -> nn.Module:
            return hetconv_replace(torchvision.models.get_model(base, weights=None, **kw), part, impl)

        build.__name__ = name
        register_variant(name, build, meta)


_register()
