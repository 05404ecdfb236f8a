"""Sequential depth: the number of convolution layers on the longest path through a block.

The HetConv paper says DWC+PWC and GWC+PWC have "latency one" (an extra sequential layer)
while HetConv has "zero latency". That is a statement about graph structure: we trace the
block with torch.fx and count conv-like nodes on the longest input-to-output path, so
parallel branches (HetConv's grouped KxK and 1x1) count once and stacked layers add up.
"""
from __future__ import annotations

import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from zoo.layers.hetconv import HetConv2d

_CONV_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, HetConv2d)
_CONV_FUNCTIONS = (F.conv1d, F.conv2d, F.conv3d, F.linear)


class _DepthTracer(fx.Tracer):
    """Treat HetConv2d as one layer (its inner convs run in parallel by definition)."""

    def __init__(self, expand_hetconv: bool = False) -> None:
        super().__init__()
        self.expand_hetconv = expand_hetconv

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, HetConv2d):
            return not self.expand_hetconv
        return super().is_leaf_module(m, qualname)


def _is_conv(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules.get(node.target), _CONV_MODULES)
    if node.op == "call_function":
        return node.target in _CONV_FUNCTIONS
    return False


def sequential_depth(module: nn.Module, expand_hetconv: bool = True) -> int:
    """Conv layers on the longest path of `module`'s FX graph.

    With `expand_hetconv` (default) HetConv2d is traced through, so the depth reflects the
    implementation's real kernels (grouped: KxK and 1x1 in parallel, depth 1); otherwise a
    HetConv2d counts as one layer.
    """
    tracer = _DepthTracer(expand_hetconv)
    graph = tracer.trace(module)
    modules = dict(module.named_modules())
    depth: dict[fx.Node, int] = {}
    for node in graph.nodes:  # FX graphs are topologically ordered
        preds = [a for a in node.all_input_nodes]
        base = max((depth[p] for p in preds), default=0)
        depth[node] = base + (1 if _is_conv(node, modules) else 0)
    return max(depth.values(), default=0)
