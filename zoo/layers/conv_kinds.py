"""The convolution kinds a HetConv-paper variant can use in place of a standard KxK conv.

`ConvKind` names the replacement; `conv_bn` builds it followed by BatchNorm, so one model
definition serves the baseline, every HetConv part value and the two-layer baselines the
paper compares against (group- or depth-wise conv followed by a pointwise conv).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from zoo.layers.hetconv import HetConv2d


@dataclass(frozen=True)
class ConvKind:
    """How a KxK conv layer is realised.

    kind: "standard" | "hetconv" | "gwc_pwc" | "dwc_pwc".
    part: HetConv part value P; 0 means "PC" (P = the layer's input channels).
    groups: groups of the group-wise conv in "gwc_pwc".
    impl: HetConv implementation (see zoo.layers.hetconv.IMPLS).
    """

    kind: str = "standard"
    part: int = 1
    groups: int = 1
    impl: str = "grouped"

    def describe(self) -> str:
        """Short label, e.g. 'P4', 'PC', 'GWC4+PWC'."""
        if self.kind == "hetconv":
            return "PC" if self.part == 0 else f"P{self.part}"
        if self.kind == "gwc_pwc":
            return f"GWC{self.groups}+PWC"
        if self.kind == "dwc_pwc":
            return "DWC+PWC"
        return "standard"


STANDARD = ConvKind()


def conv_bn(in_ch: int, out_ch: int, stride: int, kind: ConvKind = STANDARD, kernel_size: int = 3) -> nn.Sequential:
    """A KxK conv of `kind` followed by BatchNorm (two-layer kinds get BN+ReLU in between)."""
    k, pad = kernel_size, kernel_size // 2
    if kind.kind == "standard":
        return nn.Sequential(nn.Conv2d(in_ch, out_ch, k, stride, pad, bias=False), nn.BatchNorm2d(out_ch))
    if kind.kind == "hetconv":
        part = in_ch if kind.part == 0 else kind.part
        return nn.Sequential(HetConv2d(in_ch, out_ch, k, stride, part, impl=kind.impl), nn.BatchNorm2d(out_ch))
    if kind.kind in ("gwc_pwc", "dwc_pwc"):
        groups = in_ch if kind.kind == "dwc_pwc" else kind.groups
        return nn.Sequential(
            nn.Conv2d(in_ch, in_ch, k, stride, pad, groups=groups, bias=False),
            nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_ch, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
    raise ValueError(f"unknown conv kind '{kind.kind}'")
