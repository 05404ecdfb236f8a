"""RepGhostNet (Chen et al., 2022): the Ghost module re-parameterised for hardware.

RepGhost replaces the Ghost module's concatenation by an addition: in training a BN
"identity" branch runs beside the cheap depthwise conv; `reparameterize()` merges it into
the depthwise conv, so the deploy form has no concat and no extra branch. Definitions are
timm's (`repghostnet_050` ... `repghostnet_200`, after ChengpengChen/RepGhost); the train
form is what `get_model` builds, the deploy form is `zoo.deploy_form(model)`.
"""
from __future__ import annotations

import timm
import torch.nn as nn

from zoo.meta import IMAGENET, ModelMeta, Reported
from zoo.papers import REPGHOST
from zoo.registry import register_variant

_SRC = "ChengpengChen/RepGhost README (via the reference table)"
# timm name -> (width multiplier, top-1 %, MACs, params, ARM latency ms with MNN)
VARIANTS = {
    "repghostnet_050": (0.5, 66.9, 43e6, 2.3e6, 25.1),
    "repghostnet_058": (0.58, 68.9, 60e6, 2.5e6, 31.9),
    "repghostnet_080": (0.8, 72.2, 96e6, 3.3e6, 44.5),
    "repghostnet_100": (1.0, 74.2, 142e6, 4.1e6, 62.2),
    "repghostnet_111": (1.11, 75.1, 170e6, 4.5e6, 71.5),
    "repghostnet_130": (1.3, 76.4, 231e6, 5.5e6, 92.9),
    "repghostnet_150": (1.5, 77.5, 301e6, 6.6e6, 116.9),
    "repghostnet_200": (2.0, 78.8, 516e6, 9.8e6, 190.0),
}


def _register() -> None:
    for name, (width, top1, macs, params, latency) in VARIANTS.items():
        meta = ModelMeta(
            family="repghostnet", paper=REPGHOST, **IMAGENET, deploy="reparameterize",
            reported=Reported(top1=top1, macs=macs, params=params, latency_ms=latency, source=_SRC,
                              scope="conv+linear, deploy form (README FLOPs = MACs)",
                              note="latency: ARM CPU with MNN, batch 1 (README); not comparable to our targets"),
            tags=("imagenet", "timm", "reparam"),
            notes=f"definition: timm {timm.__version__} `{name}` (width {width}x); train form has the BN identity "
                  "branch, deploy form merges it (RepGhostModule.reparameterize)",
        )

        def build(arch=name, **kw) -> nn.Module:
            return timm.create_model(arch, pretrained=False, **kw)

        build.__name__ = name
        register_variant(name, build, meta)


_register()
