"""G-GhostNet (Han et al., IJCV 2022): the GPU-efficient Ghost stage on RegNetX backbones.

A G-Ghost stage keeps the stage's first block (which changes resolution and width) and its
last block whole. In between, only a part of the channels ("raw", about half) runs through the
stage's remaining blocks; the other part ("cheap") is made from the first block's output
with a cheap operation, enriched by a "mix" of every intermediate feature of the stage:

    x0 = first(x);  e = x0[:, :raw];  for b in middle: e = b(e)  (keeping each output)
    mix = 1x1-BN-ReLU-1x1-BN( GAP( concat(x0, outputs of the middle blocks) ) )
    c = ReLU( BN(1x1 conv(x0[:, raw:])) + mix )
    out = last( concat(e, c) )

Blocks are RegNetX's (1x1 conv, grouped 3x3 conv with fixed group width, 1x1 conv, each with
BN, residual add). Facts taken from the official code (huawei-noah/Efficient-AI-Backbones,
g_ghost_pytorch/g_ghost_regnet.py); the implementation is ours:
- stem: 3x3 conv, 32 channels, stride 2; stage depths, widths and group widths are RegNetX's
  (3.2GF: 2-6-15-2, 96-192-432-1008, gw 48; 4.0GF: 2-5-14-2, 80-240-560-1360, gw 40;
  8.0GF: 2-5-15-1, 80-240-720-1920, gw 120; 16GF: 2-6-13-1, 256-512-896-2048, gw 128);
- the G-Ghost stage replaces stage 3 always and stages 2 and 4 when they have more than two
  blocks; stage 1 stays plain;
- cheap ratio 0.5; the middle blocks use a group width of int(0.75 * gw) and the raw width
  is rounded down to a multiple of it;
- the cheap operation is a 1x1 conv + BN; the mix is the GAP / 1x1 / BN / ReLU / 1x1 / BN branch
  above, broadcast over space; dropout 0.2 before the classifier (a no-op in eval).
Not confirmed from the paper's text (only from the code): the 0.75 group-width factor, the
1x1 kernel of the cheap operation (the paper's figure suggests a generic cheap op) and the
exact mix design. The deploy form is the network with BN folded (no branches to merge).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from zoo.meta import IMAGENET, ModelMeta, Reported
from zoo.papers import G_GHOSTNET
from zoo.registry import register_variant

CHEAP_RATIO = 0.5
MIDDLE_GROUP_WIDTH_FACTOR = 0.75
STEM_WIDTH = 32


def conv_bn(in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias) followed by BatchNorm."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out_ch))


class XBlock(nn.Module):
    """RegNetX block with bottleneck ratio 1: 1x1, grouped 3x3 (stride), 1x1, plus shortcut, ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, group_width: int) -> None:
        super().__init__()
        groups = out_ch // min(out_ch, group_width)
        self.body = nn.Sequential(
            *conv_bn(in_ch, out_ch), nn.ReLU(inplace=True),
            *conv_bn(out_ch, out_ch, 3, stride, groups), nn.ReLU(inplace=True),
            *conv_bn(out_ch, out_ch),
        )
        self.shortcut = conv_bn(in_ch, out_ch, 1, stride) if (stride != 1 or in_ch != out_ch) else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def raw_width(out_ch: int, middle_group_width: int, cheap_ratio: float = CHEAP_RATIO) -> int:
    """Channels that go through the middle blocks: (1 - ratio) of the stage, a multiple of the group width."""
    return int(out_ch * (1 - cheap_ratio) / middle_group_width) * middle_group_width


class GhostStage(nn.Module):
    """A G-Ghost stage of `depth` >= 2 blocks (see the module docstring)."""

    def __init__(self, in_ch: int, out_ch: int, depth: int, stride: int, group_width: int,
                 cheap_ratio: float = CHEAP_RATIO) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError("a G-Ghost stage needs a first and a last block (depth >= 2)")
        middle_gw = int(group_width * MIDDLE_GROUP_WIDTH_FACTOR)
        self.raw = raw_width(out_ch, middle_gw, cheap_ratio)
        cheap = out_ch - self.raw
        self.first = XBlock(in_ch, out_ch, stride, group_width)
        self.middle = nn.ModuleList(XBlock(self.raw, self.raw, 1, middle_gw) for _ in range(depth - 2))
        mixed = out_ch + self.raw * (depth - 2)
        self.mix = nn.Sequential(nn.AdaptiveAvgPool2d(1), *conv_bn(mixed, cheap), nn.ReLU(inplace=True),
                                 *conv_bn(cheap, cheap))
        self.cheap = conv_bn(cheap, cheap)
        self.cheap_relu = nn.ReLU(inplace=True)
        self.last = XBlock(out_ch, out_ch, 1, group_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.first(x)
        features = [x0]
        e = x0[:, : self.raw]
        for block in self.middle:
            e = block(e)
            features.append(e)
        mix = self.mix(torch.cat(features, 1))
        c = self.cheap_relu(self.cheap(x0[:, self.raw:]) + mix)
        return self.last(torch.cat((e, c), 1))


def plain_stage(in_ch: int, out_ch: int, depth: int, stride: int, group_width: int) -> nn.Sequential:
    """An ordinary RegNetX stage."""
    return nn.Sequential(*(XBlock(in_ch if i == 0 else out_ch, out_ch, stride if i == 0 else 1, group_width)
                           for i in range(depth)))


@dataclass(frozen=True)
class RegNetXConfig:
    """Stage depths and widths and the group width of a RegNetX model."""

    depths: tuple[int, int, int, int]
    widths: tuple[int, int, int, int]
    group_width: int


class GGhostRegNet(nn.Module):
    """RegNetX with G-Ghost stages (stage 3 always, stages 2 and 4 when deeper than two blocks)."""

    def __init__(self, cfg: RegNetXConfig, num_classes: int = 1000, cheap_ratio: float = CHEAP_RATIO) -> None:
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, STEM_WIDTH, 3, 2), nn.ReLU(inplace=True))
        stages, in_ch = [], STEM_WIDTH
        for i, (depth, width) in enumerate(zip(cfg.depths, cfg.widths)):
            ghost = i == 2 or (i in (1, 3) and depth > 2)
            stages.append(GhostStage(in_ch, width, depth, 2, cfg.group_width, cheap_ratio) if ghost
                          else plain_stage(in_ch, width, depth, 2, cfg.group_width))
            in_ch = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.pool(self.stages(self.stem(x))), 1)))


@dataclass(frozen=True)
class GGhostVariant:
    """One row of the variant table."""

    suffix: str
    cfg: RegNetXConfig
    reported: Reported


_SRC = "huawei-noah/Efficient-AI-Backbones g_ghost_pytorch README (via the reference table)"


def _reported(top1: float, macs: float, params: float) -> Reported:
    return Reported(top1=top1, macs=macs, params=params, source=_SRC, scope="conv+linear (README FLOPs = MACs)")


VARIANTS = (
    GGhostVariant("032", RegNetXConfig((2, 6, 15, 2), (96, 192, 432, 1008), 48), _reported(77.8, 1.8e9, 10.5e6)),
    GGhostVariant("040", RegNetXConfig((2, 5, 14, 2), (80, 240, 560, 1360), 40), _reported(78.6, 2.2e9, 15.7e6)),
    GGhostVariant("080", RegNetXConfig((2, 5, 15, 1), (80, 240, 720, 1920), 120), _reported(79.0, 4.2e9, 24.6e6)),
    GGhostVariant("160", RegNetXConfig((2, 6, 13, 1), (256, 512, 896, 2048), 128), _reported(79.9, 9.0e9, 32.4e6)),
)


def _register() -> None:
    for v in VARIANTS:
        name = f"g_ghost_regnetx_{v.suffix}"
        meta = ModelMeta(
            family="g_ghostnet", paper=G_GHOSTNET, **IMAGENET, reported=v.reported,
            tags=("imagenet", "own_impl"),
            notes=f"own implementation on RegNetX-{int(v.suffix) / 10:.1f}GF (depths {v.cfg.depths}, widths "
                  f"{v.cfg.widths}, group width {v.cfg.group_width}); configs and stage design from the official "
                  "code; unconfirmed in the paper's text: the 0.75 group-width factor of the middle blocks, the 1x1 "
                  "cheap operation and the exact mix branch",
        )

        def build(cfg=v.cfg, **kw) -> nn.Module:
            return GGhostRegNet(cfg, **kw)

        build.__name__ = name
        register_variant(name, build, meta)


_register()
