"""RepVGG (Ding et al., CVPR 2021): a VGG-style plain network trained with residual branches.

Each training block is 3x3 conv-BN + 1x1 conv-BN + (when shapes allow) a BN identity branch;
`reparameterize()` merges them into one 3x3 conv, so the deploy form is a stack of 3x3 convs
and ReLUs. Definitions are timm's ByobNet RepVGG configs (stage depths 1-2-4-14-1 for A,
1-4-6-16-1 for B, widths 64*a / 128*a / 256*a / 512*b, grouped 3x3 convs with g groups in
every second block of the `g` variants). timm has no B1g2, so `repvgg_b1g2` is built from
timm's ByobNet with B1's widths and 2 groups, in the same layout as timm's B1g4.
"""
from __future__ import annotations

from dataclasses import dataclass

import timm
import torch.nn as nn
from timm.models.byobnet import ByobNet, ByoBlockCfg, ByoModelCfg

from zoo.meta import IMAGENET, ModelMeta, Reported
from zoo.papers import REPVGG
from zoo.registry import register_variant

_TABLE = "DingXiaoH/RepVGG and mmpretrain, via the reference table"
_MMPRETRAIN = "open-mmlab/mmpretrain configs/repvgg README (deploy column; checkpoints converted from DingXiaoH/RepVGG)"
_SCOPE = "conv+linear, deploy form (README Flops = MACs)"


@dataclass(frozen=True)
class RepVggVariant:
    """One row of the variant table; `epochs` is the training length of the reported accuracy."""

    name: str
    top1: float
    macs: float
    params: float
    epochs: int = 120
    source: str = _TABLE


VARIANTS = (
    RepVggVariant("repvgg_a0", 72.41, 1.36e9, 8.31e6),
    RepVggVariant("repvgg_a1", 74.46, 2.37e9, 12.79e6),
    RepVggVariant("repvgg_a2", 76.48, 5.12e9, 25.5e6),
    RepVggVariant("repvgg_b0", 75.14, 3.06e9, 14.34e6),
    RepVggVariant("repvgg_b1", 78.37, 11.82e9, 51.83e6),
    RepVggVariant("repvgg_b1g2", 77.79, 8.82e9, 41.36e6, source=_MMPRETRAIN),
    RepVggVariant("repvgg_b1g4", 77.58, 7.32e9, 36.13e6),
    RepVggVariant("repvgg_b2", 78.78, 18.39e9, 80.32e6),
    RepVggVariant("repvgg_b2g4", 79.38, 11.34e9, 55.78e6, epochs=200, source=_MMPRETRAIN),
    RepVggVariant("repvgg_b3", 80.52, 26.22e9, 110.96e6, epochs=200),
    RepVggVariant("repvgg_b3g4", 80.22, 16.08e9, 75.63e6, epochs=200, source=_MMPRETRAIN),
)


def b1g2_config() -> ByoModelCfg:
    """RepVGG-B1g2: B1's widths (2, 2, 2, 4) with 2-group 3x3 convs in every second block."""
    def group_size(chs: int, idx: int) -> int:
        # 0 means a dense conv; odd block indices in a stage are grouped, as in timm's g4 configs
        return chs // 2 if (idx + 1) % 2 == 0 else 0

    widths = (64 * 2, 128 * 2, 256 * 2, 512 * 4)
    blocks = tuple(ByoBlockCfg(type="rep", d=d, c=c, gs=group_size) for d, c in zip((4, 6, 16, 1), widths))
    return ByoModelCfg(blocks=blocks, stem_type="rep", stem_chs=64)


def repvgg_b1g2_model(**kw) -> nn.Module:
    """RepVGG-B1g2 in its train form, built from timm's ByobNet (random weights)."""
    return ByobNet(cfg=b1g2_config(), **kw)


def _register() -> None:
    for v in VARIANTS:
        note = "top-1 after 200 epochs with autoaugment, label smoothing and mixup" if v.epochs == 200 else ""
        meta = ModelMeta(
            family="repvgg", paper=REPVGG, **IMAGENET, deploy="reparameterize",
            reported=Reported(top1=v.top1, macs=v.macs, params=v.params, source=v.source, scope=_SCOPE, note=note),
            tags=("imagenet", "timm", "reparam"),
            notes=(f"definition: timm {timm.__version__} ByobNet with a B1g2 config of ours" if v.name == "repvgg_b1g2"
                   else f"definition: timm {timm.__version__} `{v.name}`")
            + "; deploy form: RepVggBlock.reparameterize merges 3x3, 1x1 and identity branches",
        )
        if v.name == "repvgg_b1g2":
            build = repvgg_b1g2_model
        else:
            def build(arch=v.name, **kw) -> nn.Module:
                return timm.create_model(arch, pretrained=False, **kw)

            build.__name__ = v.name
        register_variant(v.name, build, meta)


_register()
