"""MACs and bytes for the mobile profile's XNNPACK ops, by mapping them to the exported graph's layers.

Without an ETRecord the ETDump events name only the XNNPACK operator ('Convolution (NHWC, F32)
IGEMM #3', 'Fully Connected (NC, F32) GEMM #2'). The ops that do multiply-adds run in the order of
the exported program's MAC nodes (aten.convolution and aten.addmm/mm after decomposition; XNNPACK
runs a 1x1 convolution as Fully Connected), so the i-th MAC event is the i-th MAC node. The mapping
is used only when the counts agree and every pair is compatible (a Convolution event never takes an
addmm node); otherwise no row gets MACs and the summary says why. Each mapped op gets its node's
module path (`nn_module_stack`), MACs (executed: output elements x input channels per group x kernel
area, or x K for a matmul) and bytes moved (input, weight, bias and output at 4 bytes, fp32).
Other XNNPACK ops (transposes, reshapes, adds, clamps, pools) are not mapped: no MACs by the costs
convention, bytes not known.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

MAC_EVENTS = ("convolution", "fully connected", "batch matrix multiply")
_CONV, _MM = "aten.convolution.default", ("aten.addmm.default", "aten.mm.default", "aten.bmm.default")


def _numel(node) -> int:
    val = node.meta.get("val") if hasattr(node, "meta") else None
    return int(math.prod(val.shape)) if val is not None and hasattr(val, "shape") else 0


def _shape(node) -> list[int] | None:
    val = node.meta.get("val") if hasattr(node, "meta") else None
    return list(val.shape) if val is not None and hasattr(val, "shape") else None


def mac_nodes(model: nn.Module, example: torch.Tensor) -> list[dict[str, Any]]:
    """The exported (decomposed) program's MAC nodes in order: module path, op, MACs, bytes, shapes."""
    ep = torch.export.export(model.eval(), (example,)).run_decompositions()
    out = []
    for node in ep.graph.nodes:
        target = str(node.target)
        if node.op != "call_function" or (target != _CONV and target not in _MM):
            continue
        stack = node.meta.get("nn_module_stack") or {}
        path = list(stack.values())[-1][0] if stack else ""
        tensors = [a for a in node.args if hasattr(a, "meta")]
        out_shape = _shape(node)
        if target == _CONV:
            weight = _shape(node.args[1])  # (C_out, C_in / groups, kh, kw)
            macs = _numel(node) * math.prod(weight[1:])
            kind = "conv"
        else:
            a, b = (node.args[1], node.args[2]) if target == "aten.addmm.default" else (node.args[0], node.args[1])
            macs = _numel(node) * _shape(a)[-1]
            kind = "linear"
        nbytes = 4 * (sum(_numel(t) for t in tensors) + _numel(node))
        out.append(dict(path=path, kind=kind, macs=int(macs), bytes=int(nbytes),
                        in_shape=_shape(tensors[0]) if tensors else None, out_shape=out_shape))
    return out


def is_mac_event(name: str) -> bool:
    """True for XNNPACK operators that do multiply-adds (convolution, fully connected, batched matmul)."""
    low = name.lower()
    return any(k in low for k in MAC_EVENTS)


def attach_macs(rows: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> tuple[int, str]:
    """Give the MAC rows of a mobile profile (ETDump order) their node's layer, MACs and bytes, in place.

    Returns (ops mapped, a sentence for the output saying what was and was not mapped)."""
    events = [r for r in rows if r.get("delegated") and is_mac_event(str(r["layer"]))]
    if len(events) != len(nodes):
        return 0, (f"XNNPACK MAC ops not mapped to layers: {len(events)} convolution/fully-connected events vs "
                   f"{len(nodes)} MAC nodes in the exported graph (fused or split by the delegate); no per-op MACs/bytes")
    for ev, node in zip(events, nodes):
        if "convolution" in str(ev["layer"]).lower() and node["kind"] != "conv":
            return 0, (f"XNNPACK MAC ops not mapped to layers: '{ev['layer']}' meets a {node['kind']} node "
                       "in the exported graph's order; no per-op MACs/bytes")
    for ev, node in zip(events, nodes):
        ev.update(layer=f"{ev['layer']} <- {node['path'] or '(model)'}", macs=node["macs"], bytes=node["bytes"],
                  in_shape=node["in_shape"], out_shape=node["out_shape"])
    return len(events), (f"{len(events)} XNNPACK convolution/fully-connected ops mapped in order to the exported "
                         "graph's layers (MACs executed, bytes at fp32); the other ops (transposes, reshapes, adds, "
                         "clamps, pools) have no MACs and no byte count")
