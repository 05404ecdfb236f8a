"""Published pruned architectures as exact per-layer widths (channels removed, not masked).

- Li et al., "Pruning Filters for Efficient ConvNets" (ICLR 2017), Table 1: VGG-16-pruned-A on
  CIFAR-10, ResNet-56/110-pruned-A/B, ResNet-34-pruned-A/B/C. Only the first conv of each
  residual block is pruned; a per-stage ratio is applied except at "sensitive" layers that are
  skipped. Layer ids follow the authors' code (Eric-mingjie/rethinking-network-pruning,
  `res56prune.py`, `res110prune.py`, `imagenet/l1-norm-pruning/prune.py`): id 1 is the stem, id
  2i + 2 the first conv of block i (1x1 projections are not counted); kept filters =
  int(width * (1 - ratio)). ResNet-34-pruned-C is not in that code: the paper prunes the
  identity feature maps (residual stream) of stage 3 by 20 %, which we build as a 204-wide stage.
- Uniform 30 % / 40 % filter pruning, the SFP (He et al., IJCAI 2018) and FPGM (He et al.,
  CVPR 2019) setting: every conv loses the same share of filters. The residual stream keeps its
  width, so a block's last conv writes its kept channels back with a scatter-add (index_add),
  as in SFP's own small-model code (he-y/soft-filter-pruning, `imagenet_resnet_small.py`);
  the stem is pruned too and feeds the first block narrow. Kept filters are rounded to the
  nearest integer: the papers' reduction tables use continuous ratios (their `cal_flop.py`),
  while SFP's training code keeps width - int(ratio * width), which prunes less (ResNet-20 at
  30 %: 39.0 % fewer MACs instead of the table's 42.2 %).
- ThiNet (Luo et al., ICCV 2017 / TPAMI 2018) on ResNet-50: the first two convs of every
  bottleneck keep int(rate * width) filters, rate 0.3 / 0.5 / 0.7 (widths from
  Roll920/ThiNet_Code `ThiNet_TPAMI/ResNet50/net_generator.py`). ThiNet pruned the Caffe
  ResNet-50, whose stride-2 sits on the first 1x1 conv (`resnet50_v1`, the dense parent here).
  On VGG-16, conv1_1 ... conv4_3 keep half their filters and conv5 / FC layers are unchanged
  (`ThiNet_TPAMI/VGG16`, ratio 0.5; the "ThiNet-Conv" model of the README).
- NISP (Yu et al., CVPR 2018) and SNF (Liu et al., 2021) do not publish per-layer widths in
  any source we hold: they are listed in `UNREGISTERED_RESULTS` with their reported numbers and
  are not registered (an invented architecture would not be theirs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torchvision

from zoo.layers.conv_kinds import conv_bn
from zoo.meta import CIFAR10, IMAGENET, ModelMeta, Paper, Reported
from zoo.papers import FPGM, NISP, PRUNING_FILTERS, SNF, SOFT_FILTER_PRUNING, THINET, RESNET
from zoo.registry import register_variant
from zoo.resnet_cifar import CifarResNetBase, ResNetCifar, ShortcutA, block_plan
from zoo.vgg_cifar import VGGCifar


# --------------------------------------------------------------------------- blocks
class ScatterAdd(nn.Module):
    """Add a branch of `branch_width` channels into the first channels of a wider residual.

    The kept channels of a pruned last conv are a subset of the residual stream; `index` says
    which ones (a buffer, so checkpoints can carry the real positions; default: the first ones).
    A branch as wide as the stream is a plain add.
    """

    def __init__(self, branch_width: int, width: int) -> None:
        super().__init__()
        if branch_width > width:
            raise ValueError(f"branch of {branch_width} channels cannot be added into {width}")
        self.narrow = branch_width < width
        self.register_buffer("index", torch.arange(branch_width), persistent=self.narrow)

    def forward(self, residual: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
        if self.narrow:
            return residual.index_add(1, self.index, branch)
        return residual + branch


class ChannelScatter(nn.Module):
    """Shortcut from a narrow input into a wider stream: the input lands on `index`, zeros elsewhere."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.out_ch = out_ch
        self.register_buffer("index", torch.arange(in_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.new_zeros(x.shape[0], self.out_ch, x.shape[2], x.shape[3])
        return out.index_add(1, self.index, x)


class ScatterBlockCifar(nn.Module):
    """CIFAR BasicBlock whose two convs keep `mid` filters; conv2's output is scattered back."""

    def __init__(self, in_ch: int, width: int, mid: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv_bn(in_ch, mid, stride)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = conv_bn(mid, mid, 1)
        if stride != 1:
            self.shortcut: nn.Module = ShortcutA(in_ch, width, stride)
        elif in_ch != width:  # the first block reads the pruned stem
            self.shortcut = ChannelScatter(in_ch, width)
        else:
            self.shortcut = nn.Identity()
        self.merge = ScatterAdd(mid, width)
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.conv2(self.relu1(self.conv1(x)))
        return self.relu2(self.merge(self.shortcut(x), branch))


class SoftPrunedResNetCifar(CifarResNetBase):
    """CIFAR ResNet after uniform (SFP/FPGM-style) pruning: `keep` filters per stage, `stem` in the stem."""

    def __init__(self, depth: int, keep: Sequence[int], stem: int, widths: Sequence[int] = (16, 32, 64),
                 num_classes: int = 10) -> None:
        super().__init__()
        plan = block_plan(depth, tuple(widths), stem)
        blocks = [ScatterBlockCifar(c_in, c_out, keep[stage], stride) for stage, c_in, c_out, stride in plan]
        self._assemble(stem, blocks, widths[-1], num_classes)


@dataclass(frozen=True)
class SlimBlock:
    """Widths of one residual block of an ImageNet ResNet.

    mids: output widths of the inner convs, (conv1,) for a BasicBlock, (conv1, conv2) for a
    Bottleneck. out: width of the last conv if narrower than the residual stream (its output
    is scattered back), None for the full stream width.
    """

    mids: tuple[int, ...]
    out: int | None = None


@dataclass(frozen=True)
class SlimResNetConfig:
    """Per-layer widths of a torchvision-style ResNet (names conv1, bn1, layer1..4, fc)."""

    bottleneck: bool
    layers: tuple[int, ...]
    stage_widths: tuple[int, ...]  # residual stream width of each stage
    blocks: tuple[SlimBlock, ...]
    stem: int = 64
    stride_in_1x1: bool = False  # Caffe ResNet-50 (v1): stride 2 on the first 1x1 conv


def _conv_bn(in_ch: int, out_ch: int, k: int, stride: int = 1) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    return nn.Conv2d(in_ch, out_ch, k, stride, k // 2, bias=False), nn.BatchNorm2d(out_ch)


def _projection(in_ch: int, width: int, stride: int) -> nn.Module | None:
    if stride == 1 and in_ch == width:
        return None
    return nn.Sequential(*_conv_bn(in_ch, width, 1, stride))


class SlimBasicBlock(nn.Module):
    """torchvision BasicBlock with free widths."""

    def __init__(self, in_ch: int, width: int, widths: SlimBlock, stride: int, stride_in_1x1: bool = False) -> None:
        super().__init__()
        out = widths.out or width
        self.conv1, self.bn1 = _conv_bn(in_ch, widths.mids[0], 3, stride)
        self.conv2, self.bn2 = _conv_bn(widths.mids[0], out, 3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(in_ch, width, stride)
        self.merge = ScatterAdd(out, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.merge(identity, out))


class SlimBottleneck(nn.Module):
    """torchvision Bottleneck with free widths; the stride sits on the 3x3 (v1.5) or the first 1x1 (v1)."""

    def __init__(self, in_ch: int, width: int, widths: SlimBlock, stride: int, stride_in_1x1: bool = False) -> None:
        super().__init__()
        m1, m2 = widths.mids
        out = widths.out or width
        s1, s2 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1, self.bn1 = _conv_bn(in_ch, m1, 1, s1)
        self.conv2, self.bn2 = _conv_bn(m1, m2, 3, s2)
        self.conv3, self.bn3 = _conv_bn(m2, out, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(in_ch, width, stride)
        self.merge = ScatterAdd(out, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.merge(identity, out))


class SlimResNet(nn.Module):
    """ImageNet ResNet built from a `SlimResNetConfig` (7x7 stem, max-pool, 4 stages, GAP, FC)."""

    def __init__(self, cfg: SlimResNetConfig, num_classes: int = 1000) -> None:
        super().__init__()
        if len(cfg.blocks) != sum(cfg.layers):
            raise ValueError(f"{len(cfg.blocks)} block widths for {sum(cfg.layers)} blocks")
        block_cls = SlimBottleneck if cfg.bottleneck else SlimBasicBlock
        self.conv1, self.bn1 = _conv_bn(3, cfg.stem, 7, 2)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_ch, i = cfg.stem, 0
        for stage, (n, width) in enumerate(zip(cfg.layers, cfg.stage_widths)):
            blocks = []
            for b in range(n):
                stride = 2 if (stage > 0 and b == 0) else 1
                blocks.append(block_cls(in_ch, width, cfg.blocks[i], stride, cfg.stride_in_1x1))
                in_ch, i = width, i + 1
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class VGGGlobalPool(nn.Module):
    """VGG features followed by global average pooling and one FC layer (ThiNet-GAP's head)."""

    def __init__(self, cfg: Sequence[int | str], num_classes: int = 1000) -> None:
        super().__init__()
        self.features = torchvision.models.vgg.make_layers(list(cfg), batch_norm=False)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear([c for c in cfg if c != "M"][-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


# --------------------------------------------------------------------------- width rules
RESNET_LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
IMAGENET_PLANES = (64, 128, 256, 512)
CIFAR_WIDTHS = (16, 32, 64)
VGG16_IMAGENET_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def li_first_conv_widths(blocks_per_stage: Sequence[int], widths: Sequence[int], skip: Sequence[int],
                         ratios: Sequence[float]) -> list[int]:
    """Kept filters of each block's first conv under Li et al.'s rule (layer id 2i+2 = block i)."""
    mids, i = [], 0
    for n, w, ratio in zip(blocks_per_stage, widths, ratios):
        for _ in range(n):
            mids.append(w if (2 * i + 2) in skip else int(w * (1 - ratio)))
            i += 1
    return mids


def uniform_keep(width: int, rate: float) -> int:
    """Filters kept when `rate` of `width` is pruned, rounded to the nearest integer."""
    return max(1, round(width * (1 - rate)))


def dense_resnet_config(depth: int, stride_in_1x1: bool = False) -> SlimResNetConfig:
    """The unpruned torchvision-layout ResNet of `depth` as a width config."""
    bottleneck = depth >= 50
    layers = RESNET_LAYERS[depth]
    mids = [(p, p) if bottleneck else (p,) for n, p in zip(layers, IMAGENET_PLANES) for _ in range(n)]
    return SlimResNetConfig(bottleneck, layers, tuple(p * (4 if bottleneck else 1) for p in IMAGENET_PLANES),
                            tuple(SlimBlock(m) for m in mids), stride_in_1x1=stride_in_1x1)


def li_resnet34_config(skip: Sequence[int], ratios: Sequence[float],
                       stage_widths: Sequence[int] = IMAGENET_PLANES) -> SlimResNetConfig:
    """ResNet-34 with Li et al.'s first-conv pruning and optional narrower residual stages."""
    mids = li_first_conv_widths(RESNET_LAYERS[34], IMAGENET_PLANES, skip, ratios)
    return SlimResNetConfig(False, RESNET_LAYERS[34], tuple(stage_widths), tuple(SlimBlock((m,)) for m in mids))


def uniform_resnet_config(depth: int, rate: float) -> SlimResNetConfig:
    """SFP/FPGM uniform pruning of an ImageNet bottleneck ResNet: every conv keeps (1 - rate).

    Projections keep the full stream width (SFP's `skip_downsample`); conv3 scatters back.
    """
    layers = RESNET_LAYERS[depth]
    blocks = tuple(SlimBlock((uniform_keep(p, rate), uniform_keep(p, rate)), out=uniform_keep(4 * p, rate))
                   for n, p in zip(layers, IMAGENET_PLANES) for _ in range(n))
    return SlimResNetConfig(True, layers, tuple(4 * p for p in IMAGENET_PLANES), blocks, stem=uniform_keep(64, rate))


def thinet_resnet50_config(rate: float) -> SlimResNetConfig:
    """ThiNet on the Caffe ResNet-50: conv1 and conv2 of every bottleneck keep int(rate * width)."""
    layers = RESNET_LAYERS[50]
    blocks = tuple(SlimBlock((int(rate * p), int(rate * p))) for n, p in zip(layers, IMAGENET_PLANES) for _ in range(n))
    return SlimResNetConfig(True, layers, tuple(4 * p for p in IMAGENET_PLANES), blocks, stride_in_1x1=True)


def thinet_vgg16_cfg(rate: float = 0.5, pruned_layers: int = 10) -> list[int | str]:
    """VGG-16 cfg with the first `pruned_layers` convs keeping int(rate * width) filters."""
    cfg, conv_i = [], 0
    for v in VGG16_IMAGENET_CFG:
        if v == "M":
            cfg.append(v)
            continue
        cfg.append(int(rate * v) if conv_i < pruned_layers else v)
        conv_i += 1
    return cfg


# --------------------------------------------------------------------------- variant table
@dataclass(frozen=True)
class PrunedVariant:
    """One registered pruned architecture."""

    name: str
    parent: str
    build: Callable[..., nn.Module]
    paper: Paper
    reported: Reported
    cifar: bool
    method: str  # tag: li_l1 | uniform | thinet
    notes: str = ""


@dataclass(frozen=True)
class UnregisteredResult:
    """A published pruning result whose per-layer widths are not available: metadata only."""

    method: str
    parent: str
    paper: Paper
    reported: Reported
    reason: str


_LI = "Li et al. 2017 Table 1"


def _li(top1: float, macs: float, params: float) -> Reported:
    return Reported(top1, macs, params, source=_LI + " (top-1 = 100 - error)", scope="conv+linear")


_LI_CIFAR = {  # name: (depth, skip layer ids, per-stage ratios, reported)
    "resnet56_cifar_pruned_a": (56, (16, 20, 38, 54), (0.1, 0.1, 0.1), _li(93.10, 1.12e8, 7.7e5)),
    "resnet56_cifar_pruned_b": (56, (16, 18, 20, 34, 38, 54), (0.6, 0.3, 0.1), _li(93.06, 9.09e7, 7.3e5)),
    "resnet110_cifar_pruned_a": (110, (36,), (0.5, 0.0, 0.0), _li(93.55, 2.13e8, 1.68e6)),
    "resnet110_cifar_pruned_b": (110, (36, 38, 74), (0.5, 0.4, 0.3), _li(93.30, 1.55e8, 1.16e6)),
}
_LI_RESNET34_SKIP = (2, 8, 14, 16, 26, 28, 30, 32)
_LI_RESNET34 = {  # name: (ratios, stage widths, reported, note)
    "resnet34_pruned_a": ((0.3, 0.3, 0.3, 0.0), IMAGENET_PLANES, _li(72.56, 3.08e9, 1.99e7), ""),
    "resnet34_pruned_b": ((0.5, 0.6, 0.4, 0.0), IMAGENET_PLANES, _li(72.17, 2.76e9, 1.93e7), ""),
    "resnet34_pruned_c": ((0.0, 0.0, 0.0, 0.0), (64, 128, int(256 * (1 - 0.2)), 512),
                          _li(72.48, 3.37e9, 2.01e7),
                          "widths derived from the paper's text (stage-3 identity maps and the convs writing them "
                          "pruned by 20 %); not in the authors' code"),
}
# Published MACs reductions of the uniform setting (SFP paper / FPGM code's cal_flop.py), percent.
UNIFORM_CIFAR_REDUCTION = {(20, 30): 42.2, (20, 40): 54.0, (32, 30): 41.5, (32, 40): 53.2,
                           (56, 30): 41.1, (56, 40): 52.6, (110, 30): 40.8, (110, 40): 52.3}
UNIFORM_IMAGENET_NOTE = {
    (50, 30): "FPGM's cal_flop.py formula: 42.2 % fewer MACs; top-1 n/f in stored sources",
    (50, 40): "FPGM's cal_flop.py formula: 53.5 % fewer MACs; top-1 n/f in stored sources",
    (101, 30): "SFP / FPGM abstracts: 42 % fewer MACs (~4.51 GMACs left); top-1 n/f in stored sources",
    (101, 40): "reduction and top-1 n/f in stored sources",
}
_THINET_README = "Roll920/ThiNet_Code README (FLOPs there are 2 x MACs)"
_THINET_SCOPE = "conv+linear (ThiNet's FLOPs_and_size.py, halved)"
_THINET = {  # rate: reported
    0.7: Reported(74.03, 4.88e9 / 2, 16.94e6, source=_THINET_README + ", ThiNet_TPAMI row", scope=_THINET_SCOPE),
    0.5: Reported(72.03, 1.71e9, 12.38e6, source="second-hand (reference table)", scope="conv+linear"),
    0.3: Reported(68.17, 1.10e9, 8.66e6, source="second-hand (reference table)", scope="conv+linear"),
}

UNREGISTERED_RESULTS = (
    UnregisteredResult("nisp", "resnet56_cifar", NISP, Reported(93.01, 81.0e6, 0.49e6, source="NISP paper (reference table)"),
                       "per-layer widths are not published (only a pruning-ratio figure)"),
    UnregisteredResult("snf", "resnet56_cifar", SNF, Reported(note="52.94 % fewer MACs, +0.14 % top-1 (abstract)"),
                       "searched per-layer widths are not in any stored source"),
    UnregisteredResult("snf", "resnet110_cifar", SNF, Reported(note="68.68 % fewer MACs, +0.03 % top-1 (abstract)"),
                       "searched per-layer widths are not in any stored source"),
)


def _li_cifar_builder(depth: int, skip: tuple[int, ...], ratios: tuple[float, ...]) -> Callable[..., nn.Module]:
    n = (depth - 2) // 6
    mids = li_first_conv_widths((n, n, n), CIFAR_WIDTHS, skip, ratios)
    return lambda **kw: ResNetCifar(depth, mids=mids, **kw)


def _uniform_cifar_builder(depth: int, rate: float) -> Callable[..., nn.Module]:
    keep = [uniform_keep(w, rate) for w in CIFAR_WIDTHS]
    return lambda **kw: SoftPrunedResNetCifar(depth, keep, uniform_keep(CIFAR_WIDTHS[0], rate), **kw)


def _slim_builder(cfg: SlimResNetConfig) -> Callable[..., nn.Module]:
    return lambda **kw: SlimResNet(cfg, **kw)


def _variants() -> list[PrunedVariant]:
    out = [PrunedVariant(
        "vgg16_cifar_pruned_a", "vgg16_cifar",
        lambda **kw: VGGCifar(cfg=(32, 64, "M", 128, 128, "M", 256, 256, 256, "M", 256, 256, 256, "M", 256, 256, 256), **kw),
        PRUNING_FILTERS, _li(93.40, 2.06e8, 5.4e6), True, "li_l1",
        "conv1_1 and conv4_2 ... conv5_3 pruned (cfg 32-64-M-128-128-M-256x3-M-256x3-M-256x3)")]
    for name, (depth, skip, ratios, rep) in _LI_CIFAR.items():
        out.append(PrunedVariant(name, f"resnet{depth}_cifar", _li_cifar_builder(depth, skip, ratios), PRUNING_FILTERS,
                                 rep, True, "li_l1", f"first conv of each block; skip layers {list(skip)}, "
                                                     f"per-stage ratios {list(ratios)}"))
    for name, (ratios, stages, rep, note) in _LI_RESNET34.items():
        out.append(PrunedVariant(name, "resnet34", _slim_builder(li_resnet34_config(_LI_RESNET34_SKIP, ratios, stages)),
                                 PRUNING_FILTERS, rep, False, "li_l1",
                                 note or f"first conv of each block; skip layers {list(_LI_RESNET34_SKIP)}, "
                                         f"per-stage ratios {list(ratios)}"))
    for depth in (20, 32, 56, 110):
        for pct in (30, 40):
            red = UNIFORM_CIFAR_REDUCTION[(depth, pct)]
            top1 = 93.36 if (depth, pct) == (56, 40) else None
            note = f"published MACs reduction {red} %" + ("; FPGM reports 93.26 % top-1 in the same setting"
                                                           if top1 else "; top-1 n/f in stored sources")
            out.append(PrunedVariant(
                f"resnet{depth}_cifar_uniform{pct}", f"resnet{depth}_cifar", _uniform_cifar_builder(depth, pct / 100),
                SOFT_FILTER_PRUNING, Reported(top1, source="SFP paper (reference table)", note=note), True, "uniform",
                f"every conv keeps {100 - pct} % of its filters (rounded); block outputs scattered into the "
                f"full-width residual"))
    for depth in (50, 101):
        for pct in (30, 40):
            out.append(PrunedVariant(
                f"resnet{depth}_uniform{pct}", f"resnet{depth}", _slim_builder(uniform_resnet_config(depth, pct / 100)),
                FPGM, Reported(note=UNIFORM_IMAGENET_NOTE[(depth, pct)]), False, "uniform",
                f"every conv but the projections keeps {100 - pct} % of its filters (rounded); conv3 outputs "
                f"scattered into the full-width residual"))
    for rate, rep in _THINET.items():
        pct = round(rate * 100)
        out.append(PrunedVariant(
            f"resnet50_thinet{pct}", "resnet50_v1", _slim_builder(thinet_resnet50_config(rate)), THINET, rep, False,
            "thinet", f"conv1 and conv2 of every bottleneck keep int({rate} x width); Caffe ResNet-50 layout"))
    out.append(PrunedVariant(
        "vgg16_thinet", "vgg16",
        lambda **kw: torchvision.models.VGG(torchvision.models.vgg.make_layers(thinet_vgg16_cfg(), batch_norm=False),
                                            init_weights=False, **kw),
        THINET, Reported(69.74, 9.58e9 / 2, 131.44e6, source=_THINET_README + ", ThiNet_TPAMI VGG16 row",
                         scope=_THINET_SCOPE), False,
        "thinet", "conv1_1 ... conv4_3 keep half their filters; conv5 and the FC layers unchanged (ThiNet-Conv)"))
    out.append(PrunedVariant(
        "vgg16_thinet_gap", "vgg16", lambda **kw: VGGGlobalPool(thinet_vgg16_cfg(), **kw), THINET,
        Reported(source="ThiNet abstract", note="3.31x fewer MACs and 16.63x fewer params than VGG-16, top-5 -0.52 %"),
        False, "thinet",
        "ThiNet-GAP: vgg16_thinet's convs, FC layers replaced by global average pooling + one FC; widths derived "
        "from the paper's description (not in the authors' code)"))
    return out


def _register() -> None:
    dense_v1 = ModelMeta(
        family="resnet", paper=RESNET, **IMAGENET,
        reported=Reported(75.30, 7.72e9 / 2, 25.56e6, source=_THINET_README + ", original ResNet50 row",
                          scope=_THINET_SCOPE),
        tags=("imagenet", "dense_parent"),
        notes="ResNet-50 v1 (Caffe/original layout: stride 2 on the first 1x1 of a stage); ThiNet's dense parent")
    register_variant("resnet50_v1", _slim_builder(dense_resnet_config(50, stride_in_1x1=True)), dense_v1)
    for v in _variants():
        meta = ModelMeta(
            family="pruned", paper=v.paper, **(CIFAR10 if v.cifar else IMAGENET), reported=v.reported,
            tags=("pruned", v.method, "cifar" if v.cifar else "imagenet"), notes=v.notes, parent=v.parent)
        register_variant(v.name, v.build, meta)


_register()
