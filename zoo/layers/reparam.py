"""Deploy transforms: fold BatchNorm into the preceding conv and call re-parameterisation hooks.

Latency and cost are always taken on the deploy form, the network one would ship: BN folded
into conv weights, multi-branch training blocks (RepVGG, RepGhost, DBB, ...) merged.
"""
from __future__ import annotations

import copy

import torch
import torch.fx as fx
import torch.nn as nn

from zoo.layers.hetconv import HetConv2d

# Only names whose meaning is "merge train-time branches in place"; `fuse` is too ambiguous.
_REPARAM_METHODS = ("reparameterize", "switch_to_deploy")


def fold_bn_into_conv(conv: nn.Module, bn: nn.BatchNorm2d) -> None:
    """Fold eval-mode `bn` into `conv` (nn.Conv2d or HetConv2d) in place; the conv gains a bias."""
    std = torch.sqrt(bn.running_var + bn.eps)
    gamma = bn.weight if bn.affine else torch.ones_like(std)
    beta = bn.bias if bn.affine else torch.zeros_like(std)
    scale = (gamma / std).detach()
    with torch.no_grad():
        old_bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
        new_bias = beta.detach() + (old_bias - bn.running_mean) * scale
        if isinstance(conv, HetConv2d):
            conv.load_dense_weight(conv.dense_weight() * scale.view(-1, 1, 1, 1))
        else:
            conv.weight.mul_(scale.view(-1, *([1] * (conv.weight.dim() - 1))))
        if conv.bias is None:
            conv.bias = nn.Parameter(new_bias.clone())
        else:
            conv.bias.copy_(new_bias)


def _is_norm_act(m: nn.Module) -> bool:
    """timm's BatchNormAct2d (BN, then drop, then activation in one module)."""
    try:
        from timm.layers.norm_act import BatchNormAct2d
    except ImportError:  # timm is optional for this module
        return False
    return type(m) is BatchNormAct2d


class _LeafTracer(fx.Tracer):
    """FX tracer that keeps HetConv2d opaque (its forward has impl-dependent control flow) and
    timm's BatchNormAct2d whole (traced through, its BN would be a functional call FX cannot fold)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, HetConv2d) or _is_norm_act(m) or super().is_leaf_module(m, qualname)


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    if not isinstance(bn, nn.BatchNorm2d) or not bn.track_running_stats:
        return False
    if isinstance(conv, HetConv2d):
        return True
    return isinstance(conv, nn.Conv2d) and conv.out_channels == bn.num_features


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int]:
    """Fold every conv -> BN pair; returns (model, number folded).

    Traces with torch.fx so pairs inside arbitrary blocks are found. A model FX cannot trace
    falls back to adjacent (conv, bn) pairs inside nn.Sequential containers.
    """
    model.eval()
    try:
        graph = _LeafTracer().trace(model)
        gm = fx.GraphModule(model, graph)
    except Exception:  # noqa: BLE001 - untraceable model: fall back to the structural rule
        return model, _fold_sequential_pairs(model)
    modules = dict(gm.named_modules())
    folded = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules.get(node.target), nn.BatchNorm2d):
            continue
        src = node.args[0]
        if not isinstance(src, fx.Node) or src.op != "call_module" or len(src.users) != 1:
            continue
        conv, bn = modules[src.target], modules[node.target]
        if not _foldable(conv, bn):
            continue
        fold_bn_into_conv(conv, bn)
        if _is_norm_act(bn):
            # the BN is gone but its drop + activation stay, in the same graph position
            gm.set_submodule(node.target, nn.Sequential(bn.drop, bn.act))
        else:
            node.replace_all_uses_with(src)
            gm.graph.erase_node(node)
        folded += 1
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return gm, folded


def _fold_sequential_pairs(model: nn.Module) -> int:
    folded = 0
    for mod in model.modules():
        if not isinstance(mod, nn.Sequential):
            continue
        keys = list(mod._modules)
        for a, b in zip(keys, keys[1:]):
            conv, bn = mod._modules[a], mod._modules[b]
            if _foldable(conv, bn):
                fold_bn_into_conv(conv, bn)
                mod._modules[b] = nn.Identity()
                folded += 1
    return folded


def reparameterize_model(model: nn.Module) -> tuple[nn.Module, int]:
    """Call the first re-parameterisation hook each module has (timm / paper-code names).

    Returns (model, number of modules re-parameterised).
    """
    count = 0
    for mod in list(model.modules()):
        if mod is model:
            continue
        for meth in _REPARAM_METHODS:
            fn = getattr(mod, meth, None)
            if callable(fn) and not isinstance(mod, nn.Sequential):
                fn()
                count += 1
                break
    return model, count


def deploy_form(model: nn.Module, impl: str | None = None, inplace: bool = False) -> nn.Module:
    """The deploy form of `model`: eval mode, re-parameterised, BN folded, HetConv impl set.

    `impl` converts every HetConv2d to that implementation first (None keeps the model's).
    The input model is left untouched unless `inplace`.
    """
    from zoo.layers.hetconv import convert_hetconv_impl

    m = model if inplace else copy.deepcopy(model)
    m.eval()
    if impl is not None:
        convert_hetconv_impl(m, impl)
    with torch.no_grad():
        m, _ = reparameterize_model(m)
        m, _ = fold_batchnorm(m)
    return m.eval()
