"""Channel shuffle (Zhang et al., ShuffleNet, 2018): let information cross the groups of a group conv.

With `g` groups of `n` channels each, the output channel order is the transpose of the
(g, n) grid: channel `i * n + j` of the input goes to position `j * g + i`. A following group
conv therefore sees one channel from every input group.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Shuffle the channels of NCHW `x` across `groups` (a pure permutation, no arithmetic)."""
    n, c, h, w = x.shape
    if c % groups:
        raise ValueError(f"{c} channels cannot be split into {groups} groups")
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ChannelShuffle(nn.Module):
    """Module form of `channel_shuffle`, so the shuffle shows up in model printouts and traces."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
