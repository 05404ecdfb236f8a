"""ShuffleNet v1 (Zhang et al., CVPR 2018): pointwise group convolution + channel shuffle.

Layout (paper Table 1): 3x3 stem conv at stride 2, 3x3 max pool, three stages of 4 / 8 / 4
units, global average pool, FC. A unit is 1x1 group conv (BN, ReLU) -> channel shuffle ->
3x3 depthwise conv (BN) -> 1x1 group conv (BN), with the bottleneck width a quarter of the
unit's output. Stride-1 units add the input and apply ReLU; the first unit of a stage
(stride 2) concatenates a 3x3 average-pooled copy of the input, so its branch produces only
`out - in` channels. The first pointwise layer of stage 2 is not grouped (its input has few
channels). The shuffle sits after the depthwise conv, as in Megvii's released code: the
depthwise conv is per channel, so this is the paper's unit with permuted weights.

Stage widths for scale 1x are Table 1's (g=1: 144, g=2: 200, g=3: 240, g=4: 272, g=8: 384,
doubling per stage), multiplied by the width scale. Megvii's code (ShuffleNet-Series) gives
only g=3 and g=8; for the other groups a scaled width is rounded to a multiple of 4g so the
bottleneck splits into g groups (our rule; it leaves every g=3 and g=8 width unchanged).
The stem has 12 / 24 / 24 / 48 channels at 0.5x / 1x / 1.5x / 2x (Megvii's code), rounded up
to a multiple of g (16 for g=8 at 0.5x, as in that code). The classifier has no bias (same
code); we pool with an adaptive average pool so any input size works (same MACs at 224).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from zoo.layers.shuffle import ChannelShuffle
from zoo.meta import IMAGENET, ModelMeta, Reported
from zoo.papers import SHUFFLENET_V1
from zoo.registry import register_variant

# Paper Table 1: stage-2 output channels at scale 1x for each group count.
STAGE2_WIDTH = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
STAGE_REPEATS = (4, 8, 4)
STEM_WIDTH = {0.5: 12, 1.0: 24, 1.5: 24, 2.0: 48}


def _round_to(value: float, divisor: int) -> int:
    """`value` rounded to the nearest multiple of `divisor` (halves round up), at least `divisor`."""
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


def stage_widths(groups: int, scale: float) -> tuple[int, int, int]:
    """Output channels of the three stages for `groups` at width `scale`."""
    base = STAGE2_WIDTH[groups]
    return tuple(_round_to(base * (2 ** i) * scale, 4 * groups) for i in range(3))  # type: ignore[return-value]


def stem_width(groups: int, scale: float) -> int:
    """Stem channels: Megvii's value for the scale, rounded up to a multiple of `groups`."""
    c = STEM_WIDTH[scale]
    return -(-c // groups) * groups


class ShuffleUnit(nn.Module):
    """One ShuffleNet v1 unit (stride 1: residual add; stride 2: concat with an avg-pooled input)."""

    def __init__(self, in_ch: int, out_ch: int, groups: int, stride: int, group_first: bool = True) -> None:
        super().__init__()
        self.stride = stride
        mid = out_ch // 4
        branch_out = out_ch - in_ch if stride == 2 else out_ch
        g1 = groups if group_first else 1
        self.compress = nn.Sequential(nn.Conv2d(in_ch, mid, 1, groups=g1, bias=False), nn.BatchNorm2d(mid),
                                      nn.ReLU(inplace=True))
        self.depthwise = nn.Sequential(nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid))
        self.shuffle = ChannelShuffle(groups) if groups > 1 else nn.Identity()
        self.expand = nn.Sequential(nn.Conv2d(mid, branch_out, 1, groups=groups, bias=False), nn.BatchNorm2d(branch_out))
        self.pool = nn.AvgPool2d(3, 2, 1) if stride == 2 else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(self.shuffle(self.depthwise(self.compress(x))))
        if self.pool is None:
            return self.relu(out + x)
        return torch.cat((self.pool(x), self.relu(out)), 1)


class ShuffleNetV1(nn.Module):
    """ShuffleNet v1 with `groups` groups at width `scale` (0.5, 1.0, 1.5 or 2.0)."""

    def __init__(self, groups: int = 3, scale: float = 1.0, num_classes: int = 1000) -> None:
        super().__init__()
        if groups not in STAGE2_WIDTH or scale not in STEM_WIDTH:
            raise ValueError(f"ShuffleNet v1 has groups in {sorted(STAGE2_WIDTH)} and scale in {sorted(STEM_WIDTH)}")
        c0 = stem_width(groups, scale)
        self.stem = nn.Sequential(nn.Conv2d(3, c0, 3, 2, 1, bias=False), nn.BatchNorm2d(c0), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        units, in_ch = [], c0
        for stage, (width, repeats) in enumerate(zip(stage_widths(groups, scale), STAGE_REPEATS)):
            for i in range(repeats):
                units.append(ShuffleUnit(in_ch, width, groups, 2 if i == 0 else 1, group_first=not (stage == 0 and i == 0)))
                in_ch = width
        self.units = nn.Sequential(*units)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.units(self.stem(x))), 1))


@dataclass(frozen=True)
class ShuffleV1Variant:
    """One row of the variant table: groups, width scale and what a source reports."""

    groups: int
    scale: float
    reported: Reported = Reported()


_MEGVII = "megvii-model/ShuffleNet-Series ShuffleNetV1 README (top-1 = 100 - top-1 error)"
_NF = "n/f: stored sources report only g=3 and g=8 (Megvii's README); the paper's Table 2 errors were not retrievable"


_ROUNDING = ("the README prints params to 0.1M: g3 1.0x counts 1.852M (-2.5% from 1.9M), which the README's "
             "precision rounds to 1.9M")


def _megvii(top1: float, macs: float, params: float, note: str = "") -> Reported:
    return Reported(top1=top1, macs=macs, params=params, source=_MEGVII, scope="conv+linear (FLOPs in the README = MACs)",
                    note=note)


_REPORTED = {
    (3, 0.5): _megvii(57.3, 38e6, 0.7e6), (3, 1.0): _megvii(67.8, 138e6, 1.9e6, _ROUNDING),
    (3, 1.5): _megvii(71.6, 292e6, 3.4e6), (3, 2.0): _megvii(74.1, 524e6, 5.4e6),
    (8, 0.5): _megvii(58.8, 40e6, 1.0e6), (8, 1.0): _megvii(68.0, 138e6, 2.4e6),
    (8, 1.5): _megvii(71.0, 290e6, 4.3e6), (8, 2.0): _megvii(72.9, 522e6, 6.5e6),
}
VARIANTS = tuple(ShuffleV1Variant(g, s, _REPORTED.get((g, s), Reported(note=_NF)))
                 for g in sorted(STAGE2_WIDTH) for s in sorted(STEM_WIDTH))


def variant_name(v: ShuffleV1Variant) -> str:
    """Registry name, e.g. shufflenet_v1_g3_x1_0."""
    return f"shufflenet_v1_g{v.groups}_x{str(v.scale).replace('.', '_')}"


def _register() -> None:
    for v in VARIANTS:
        widths = stage_widths(v.groups, v.scale)
        meta = ModelMeta(
            family="shufflenet_v1", paper=SHUFFLENET_V1, **IMAGENET, reported=v.reported,
            tags=("imagenet", "own_impl"),
            notes=f"own implementation; g={v.groups}, {v.scale}x; stem {stem_width(v.groups, v.scale)}, "
                  f"stages {widths[0]}/{widths[1]}/{widths[2]}"
                  + ("" if v.groups in (3, 8) else "; widths = Table 1 x scale rounded to a multiple of 4g (our rule)"),
        )

        def build(groups=v.groups, scale=v.scale, **kw) -> nn.Module:
            return ShuffleNetV1(groups, scale, **kw)

        build.__name__ = variant_name(v)
        register_variant(build.__name__, build, meta)


_register()
