"""Give an FX-traced model's inlined ops back their modules, so that per-layer rows say where they came from.

The deploy form of most zoo models is an FX GraphModule (BN folding traces the model): a
block's residual add, a shortcut's slicing or a concat then runs in the graph's own forward,
not inside the block, and would all be charged to "(model)". FX records, per node, the stack of
modules whose forward created it (`node.meta["nn_module_stack"]`). `scoped` returns a new
GraphModule, sharing every parameter and submodule with the original, in which each such
call_function / call_method node becomes a call of a tiny module registered under the innermost
original path ("blocks.3.add_2"), so hooks, profiler ranges and fvcore scopes all see it there.

The extra module call per op costs a few microseconds; it is inside the profiled iterations,
so it shows in the stated profiler overhead, never in the end-to-end p50.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

import torch.nn as nn


class ScopedOp(nn.Module):
    """Runs one graph op (a function, or a method of its first argument) as a module call."""

    def __init__(self, target: Callable | str, method: bool) -> None:
        super().__init__()
        self.target, self.method = target, method

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The op itself."""
        if self.method:
            return getattr(args[0], self.target)(*args[1:], **kwargs)
        return self.target(*args, **kwargs)


def scoped(model: nn.Module) -> nn.Module:
    """`model` itself unless it is an FX GraphModule with inlined module ops; then the rewritten copy
    (module docstring). The original is never changed."""
    import torch.fx as fx

    if not isinstance(model, fx.GraphModule):
        return model
    graph = copy.deepcopy(model.graph)
    moves = []
    for node in graph.nodes:
        stack = node.meta.get("nn_module_stack") or {}
        if node.op in ("call_function", "call_method") and stack:
            path = list(stack)[-1]
            path = stack[path][0] if isinstance(stack[path], tuple) else path
            moves.append((node, f"{path}.{node.name}" if path else node.name))
    if not moves:
        return model
    out = fx.GraphModule(model, graph)
    for node, target in moves:
        out.add_submodule(target, ScopedOp(node.target, node.op == "call_method"))
        node.op, node.target = "call_module", target
    out.recompile()
    out.train(model.training)
    return out
