"""ImageNet models whose definitions come from torchvision, with its weights metadata.

torchvision's weights enums carry the ImageNet top-1, the parameter count and the GMACs (its
`_ops`, multiply-adds despite the "GFLOPS" label) of each architecture. Those numbers are copied
here as constants (`TORCHVISION_WEIGHTS`) so that `import zoo` does not import torchvision;
tests/test_external.py compares every constant with the installed torchvision's `weights.meta`,
so an upgrade that changes one fails loudly. No weights are downloaded.

Accuracy recipes: for ResNet-50/101/152 and MobileNet v2/v3-large torchvision's DEFAULT weights
are IMAGENET1K_V2, trained with its 2021 recipe (long schedule, heavy augmentation): 80.86 top-1
for ResNet-50 against the paper-era 76.13. Papers that compress or re-design these networks
compare with the paper-era numbers, so `reported` holds IMAGENET1K_V1 and the V2 figure is kept,
labelled, in `also_reported`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from zoo.meta import IMAGENET, ModelMeta, Reported
from zoo.papers import MOBILENET_V2, MOBILENET_V3, RESNET, SHUFFLENET_V2, VGG
from zoo.registry import register_variant

# The torchvision release the constants below were copied from (its `weights.meta`).
TORCHVISION_VERSION = "0.29.1"
SCOPE = "torchvision _ops (conv+linear multiply-adds)"
# IMAGENET1K_V2 weights come from torchvision's new training recipe, not the paper's.
V2_RECIPE_NOTE = ("torchvision's 2021 training recipe (IMAGENET1K_V2, long schedule and heavy augmentation, "
                  "https://github.com/pytorch/vision/issues/3995): not comparable with paper-era top-1")


@dataclass(frozen=True)
class TorchvisionWeights:
    """One torchvision weights entry's metadata: `enum` is `<WeightsClass>.<member>`."""

    enum: str
    top1: float
    params: int
    gmacs: float  # torchvision's `_ops`

    @property
    def is_v1(self) -> bool:
        """True for the paper-era IMAGENET1K_V1 weights."""
        return self.enum.endswith(".IMAGENET1K_V1")


# arch -> every ImageNet-1K classification weights entry torchvision has for it, V1 first.
TORCHVISION_WEIGHTS: dict[str, tuple[TorchvisionWeights, ...]] = {
    "resnet18": (TorchvisionWeights("ResNet18_Weights.IMAGENET1K_V1", 69.758, 11689512, 1.814),),
    "resnet34": (TorchvisionWeights("ResNet34_Weights.IMAGENET1K_V1", 73.314, 21797672, 3.664),),
    "resnet50": (TorchvisionWeights("ResNet50_Weights.IMAGENET1K_V1", 76.13, 25557032, 4.089),
                 TorchvisionWeights("ResNet50_Weights.IMAGENET1K_V2", 80.858, 25557032, 4.089)),
    "resnet101": (TorchvisionWeights("ResNet101_Weights.IMAGENET1K_V1", 77.374, 44549160, 7.801),
                  TorchvisionWeights("ResNet101_Weights.IMAGENET1K_V2", 81.886, 44549160, 7.801)),
    "resnet152": (TorchvisionWeights("ResNet152_Weights.IMAGENET1K_V1", 78.312, 60192808, 11.514),
                  TorchvisionWeights("ResNet152_Weights.IMAGENET1K_V2", 82.284, 60192808, 11.514)),
    "vgg16": (TorchvisionWeights("VGG16_Weights.IMAGENET1K_V1", 71.592, 138357544, 15.47),),
    "vgg16_bn": (TorchvisionWeights("VGG16_BN_Weights.IMAGENET1K_V1", 73.36, 138365992, 15.47),),
    "mobilenet_v2": (TorchvisionWeights("MobileNet_V2_Weights.IMAGENET1K_V1", 71.878, 3504872, 0.301),
                     TorchvisionWeights("MobileNet_V2_Weights.IMAGENET1K_V2", 72.154, 3504872, 0.301)),
    "mobilenet_v3_large": (TorchvisionWeights("MobileNet_V3_Large_Weights.IMAGENET1K_V1", 74.042, 5483032, 0.217),
                           TorchvisionWeights("MobileNet_V3_Large_Weights.IMAGENET1K_V2", 75.274, 5483032, 0.217)),
    "mobilenet_v3_small": (TorchvisionWeights("MobileNet_V3_Small_Weights.IMAGENET1K_V1", 67.668, 2542856, 0.057),),
    "shufflenet_v2_x0_5": (TorchvisionWeights("ShuffleNet_V2_X0_5_Weights.IMAGENET1K_V1", 60.552, 1366792, 0.04),),
    "shufflenet_v2_x1_0": (TorchvisionWeights("ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1", 69.362, 2278604, 0.145),),
    "shufflenet_v2_x1_5": (TorchvisionWeights("ShuffleNet_V2_X1_5_Weights.IMAGENET1K_V1", 72.996, 3503624, 0.296),),
    "shufflenet_v2_x2_0": (TorchvisionWeights("ShuffleNet_V2_X2_0_Weights.IMAGENET1K_V1", 76.23, 7393996, 0.583),),
}

TORCHVISION_MODELS = {
    "resnet18": ("resnet", RESNET), "resnet34": ("resnet", RESNET), "resnet50": ("resnet", RESNET),
    "resnet101": ("resnet", RESNET), "resnet152": ("resnet", RESNET),
    "vgg16": ("vgg", VGG), "vgg16_bn": ("vgg", VGG),
    "mobilenet_v2": ("mobilenet_v2", MOBILENET_V2),
    "mobilenet_v3_large": ("mobilenet_v3", MOBILENET_V3), "mobilenet_v3_small": ("mobilenet_v3", MOBILENET_V3),
    "shufflenet_v2_x0_5": ("shufflenet_v2", SHUFFLENET_V2), "shufflenet_v2_x1_0": ("shufflenet_v2", SHUFFLENET_V2),
    "shufflenet_v2_x1_5": ("shufflenet_v2", SHUFFLENET_V2), "shufflenet_v2_x2_0": ("shufflenet_v2", SHUFFLENET_V2),
}

# The paper's own counts (ResNet paper, Table 1: "FLOPs" there are multiply-adds) for the
# bottleneck ResNets, whose torchvision definition is the v1.5 layout.
_PAPER_GMACS = {"resnet50": 3.8, "resnet101": 7.6, "resnet152": 11.3}


def _as_reported(w: TorchvisionWeights, note: str = "") -> Reported:
    return Reported(top1=w.top1, macs=round(w.gmacs * 1e9), params=w.params,
                    source=f"torchvision {TORCHVISION_VERSION} weights meta ({w.enum})", scope=SCOPE, note=note)


def torchvision_reported(name: str) -> Reported:
    """Top-1, params and GMACs of torchvision's paper-era IMAGENET1K_V1 weights for `name`."""
    weights = TORCHVISION_WEIGHTS[name]
    note = ("paper-era weights; torchvision's DEFAULT is the V2 recipe, kept in `also_reported`"
            if len(weights) > 1 else "")
    return _as_reported(next(w for w in weights if w.is_v1), note)


def torchvision_also_reported(name: str) -> tuple[Reported, ...]:
    """torchvision's other weights entries for `name` (the V2 recipe), each labelled in its note."""
    return tuple(_as_reported(w, V2_RECIPE_NOTE) for w in TORCHVISION_WEIGHTS[name] if not w.is_v1)


def _notes(name: str) -> str:
    if name not in _PAPER_GMACS:
        return "definition: torchvision"
    gmacs = TORCHVISION_WEIGHTS[name][0].gmacs
    hint = ("for the paper's layout use `resnet50_v1` (Caffe-style, registered in zoo/pruned.py)"
            if name == "resnet50" else "the paper's layout of this depth is not registered (`resnet50_v1` is, "
                                       "for ResNet-50)")
    return (f"definition: torchvision, which is ResNet v1.5: the stride-2 of a stage's first bottleneck is on "
            f"the 3x3 conv, not the first 1x1 as in the paper, so it costs {gmacs} G MACs against the paper's "
            f"{_PAPER_GMACS[name]} G; {hint}")


def _register() -> None:
    for name, (family, paper) in TORCHVISION_MODELS.items():
        meta = ModelMeta(family=family, paper=paper, **IMAGENET, reported=torchvision_reported(name),
                         also_reported=torchvision_also_reported(name), tags=("imagenet", "torchvision"),
                         notes=_notes(name))

        def build(arch=name, **kw) -> nn.Module:
            import torchvision  # here, not at module level: `import zoo` must not pay for torchvision

            return torchvision.models.get_model(arch, weights=None, **kw)

        build.__name__ = name
        register_variant(name, build, meta)


_register()
