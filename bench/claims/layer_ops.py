"""The single layers the HetConv claim study compares, each in deploy form.

For one shape (M = N = channels, H = W = size, 3x3 kernels, stride 1) the study builds:
a standard conv, HetConv with part P in every exact implementation, GWC(P)+PWC (group conv
with P groups, then pointwise) and DWC+PWC (depthwise, then pointwise), each followed by
BatchNorm (and ReLU between the two layers of two-layer kinds), then folded for deploy.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from zoo.layers.conv_kinds import ConvKind, conv_bn
from zoo.layers.hetconv import hetconv_macs
from zoo.layers.reparam import deploy_form

KERNEL = 3


@dataclass(frozen=True)
class LayerOp:
    """One operator of the sweep: kind in {standard, hetconv, gwc_pwc, dwc_pwc}."""

    kind: str
    part: int = 1  # HetConv P, or the GWC group count
    impl: str = ""  # HetConv implementation

    @property
    def label(self) -> str:
        """Short label, e.g. 'hetconv P4 [grouped]', 'GWC4+PWC'."""
        if self.kind == "hetconv":
            return f"hetconv P{self.part} [{self.impl}]"
        if self.kind == "gwc_pwc":
            return f"GWC{self.part}+PWC"
        return {"dwc_pwc": "DWC+PWC", "standard": "standard"}[self.kind]

    def paper_macs(self, channels: int, size: int) -> int:
        """The operator's MACs per image (paper counting; BN folded, bias excluded)."""
        m = n = channels
        hw = size * size
        if self.kind == "standard":
            return hw * n * m * KERNEL * KERNEL
        if self.kind == "hetconv":
            return hetconv_macs(m, n, KERNEL, self.part, size, size)
        groups = m if self.kind == "dwc_pwc" else self.part
        return hw * m * (m // groups) * KERNEL * KERNEL + hw * n * m

    def build(self, channels: int) -> nn.Module:
        """The operator in deploy form (eval, BN folded)."""
        if self.kind == "standard":
            kind = ConvKind()
        elif self.kind == "hetconv":
            kind = ConvKind("hetconv", self.part, impl=self.impl)
        elif self.kind == "gwc_pwc":
            kind = ConvKind("gwc_pwc", groups=self.part)
        else:
            kind = ConvKind("dwc_pwc")
        return deploy_form(conv_bn(channels, channels, 1, kind, KERNEL), inplace=True)
