"""Train and deploy forms of every registered model compute the same function.

For every variant in the registry (`zoo.list_models()`, so a new model is covered the day it is
registered): randomise BN statistics and affine parameters (and DBB's identity-based 1x1 deltas),
switch to eval mode, and compare the train form with `zoo.deploy_form`. CIFAR models run at their
own 32x32; ImageNet models at 64x64 (every one ends in a global or adaptive pool, and 64 still
leaves a 2x2 map at stride 32, so padded borders are exercised in every stage). The bar is
max |deploy - train| / max |train| <= 1e-5 in fp32.

Tiers come from the declared-costs table, not from a list of names: a model whose deploy form has
more than 50M params (building and copying it dominates) or more than 0.75 GMACs at the test
input is in the slow tier (`make test-all`); everything else runs by default.
"""
from __future__ import annotations

import operator

import pytest
import torch
import torch.fx as fx
import torch.nn as nn

import zoo
from bench import declared
from zoo.dbb import DiverseBranchBlock, IdentityInit1x1
from zoo.layers.conv_fusion import conv_from_kernel
from zoo.layers.hetconv import HetConv2d
from zoo.rmnet import ResidualParts, RMBlock, rm_convert

TOLERANCE = 1e-5
IMAGENET_SIDE = 64
HEAVY_PARAMS = 50e6
HEAVY_MACS_AT_TEST_SIDE = 0.75e9
_DECLARED = declared.load()


def randomise(model: nn.Module, seed: int = 1) -> None:
    """Non-trivial BN statistics/affine parameters and DBB deltas, so every merge is really tested."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            if isinstance(m, IdentityInit1x1):
                m.delta.copy_(torch.randn(m.delta.shape, generator=gen) * 0.1)


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want|."""
    return ((got - want).abs().max() / want.abs().max()).item()


def input_side(meta) -> int:
    """Input side for exactness checks: CIFAR at its own 32; ImageNet reduced to 64 (every ImageNet
    variant ends in a global or adaptive pool, and 64 still leaves a 2x2 map at stride 32)."""
    return min(IMAGENET_SIDE, meta.input_size[1])


def count_convs(model: nn.Module) -> int:
    return sum(isinstance(m, nn.Conv2d) for m in model.modules())


def is_heavy(name: str) -> bool:
    """Slow tier: big deploy forms by the declared table (a model missing from it runs by default)."""
    row = _DECLARED.get(name)
    if row is None:
        return False
    meta = zoo.get_meta(name)
    scale = (input_side(meta) / meta.input_size[1]) ** 2
    return row["params"] > HEAVY_PARAMS or row["macs"] * scale > HEAVY_MACS_AT_TEST_SIDE


def tiered(names: list[str]) -> list:
    """`names` as pytest params, the heavy ones marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if is_heavy(n) else n for n in names]


@pytest.mark.parametrize("name", tiered(zoo.list_models()))
def test_deploy_form_equals_train_form(name):
    meta = zoo.get_meta(name)
    model = zoo.get_model(name)
    randomise(model)
    model.eval()
    side = input_side(meta)
    x = torch.randn(2, meta.input_size[0], side, side)
    with torch.no_grad():
        want = model(x)
        deployed = zoo.deploy_form(model)
        got = deployed(x)
    assert tuple(got.shape) == (2, meta.num_classes) and torch.isfinite(got).all()
    assert relative_error(got, want) <= TOLERANCE
    assert not [m for m in deployed.modules() if isinstance(m, nn.BatchNorm2d)], "BatchNorm left unfolded"


@pytest.mark.parametrize("impl", ["masked", "grouped", "branches", "folded"])
def test_deploy_form_converts_hetconv_impl(impl):
    model = zoo.get_model("resnet56_cifar_p4")
    randomise(model)
    model.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        want = model(x)
        deployed = zoo.deploy_form(model, impl=impl)
        assert {m.impl for m in deployed.modules() if isinstance(m, HetConv2d)} == {impl}
        assert relative_error(deployed(x), want) <= TOLERANCE


@pytest.mark.parametrize("name,depth", [("repvgg_a0", 22), ("repvgg_b1g2", 28)])
def test_repvgg_deploys_to_a_plain_3x3_stack(name, depth):
    model = zoo.get_model(name)
    deployed = zoo.deploy_form(model)
    convs = [m for m in deployed.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == depth < count_convs(model)  # 1 + stage depths; train form also has 1x1 branches
    assert all(c.kernel_size == (3, 3) and c.bias is not None for c in convs)
    if name.endswith("g2"):
        assert sorted({c.groups for c in convs}) == [1, 2]


def test_deploy_form_leaves_the_train_model_untouched():
    model = zoo.get_model("repvgg_a0").eval()
    before = count_convs(model)
    zoo.deploy_form(model)
    assert count_convs(model) == before


@pytest.mark.parametrize("stride,side", [(1, 8), (1, 7), (2, 8), (2, 7)])
def test_dbb_block_merges_exactly(stride, side):
    block = DiverseBranchBlock(6, 10, 3, stride)
    randomise(block, seed=stride * 10 + side)
    block.eval()
    x = torch.randn(2, 6, side, side)
    with torch.no_grad():
        want = block(x)
        block.reparameterize()
        got = block(x)
    assert block.merged is not None and not hasattr(block, "kxk")
    assert relative_error(got, want) <= TOLERANCE


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c)


@pytest.mark.parametrize("shortcut", ["identity", "pad", "projection"])
@pytest.mark.parametrize("side", [7, 8])
def test_rm_operation_on_one_block(shortcut, side):
    """RM on a lone block, odd and even sizes: the Dirac channels sample where the shortcut does."""
    in_ch, out_ch = (8, 8) if shortcut == "identity" else (8, 12)
    stride = 1 if shortcut == "identity" else 2
    parts = ResidualParts(nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False), _bn(out_ch),
                          nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False), _bn(out_ch), shortcut)
    if shortcut == "projection":
        parts.proj, parts.proj_bn = nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), _bn(out_ch)
    if shortcut == "pad":
        parts.pad_front = (out_ch - in_ch) // 2
    modules = nn.ModuleList([parts.conv1, parts.bn1, parts.conv2, parts.bn2] +
                            ([parts.proj, parts.proj_bn] if parts.proj is not None else []))
    randomise(modules)
    modules.eval()
    x = torch.relu(torch.randn(2, in_ch, side, side))  # a block input is the output of a ReLU

    def reference(x):
        out = parts.bn2(parts.conv2(torch.relu(parts.bn1(parts.conv1(x)))))
        if shortcut == "identity":
            short = x
        elif shortcut == "projection":
            short = parts.proj_bn(parts.proj(x))
        else:
            sub = x[:, :, ::2, ::2]
            pad = out_ch - in_ch
            short = nn.functional.pad(sub, (0, 0, 0, 0, pad // 2, pad - pad // 2))
        return torch.relu(out + short)

    with torch.no_grad():
        want = reference(x)
        plain = rm_convert(parts)
        got = plain(x)
    assert relative_error(got, want) <= TOLERANCE
    assert [type(m) for m in plain] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU]
    assert plain[0].out_channels == out_ch + in_ch and plain[2].in_channels == out_ch + in_ch


def _has_residual_add(gm: fx.GraphModule) -> bool:
    adds = {operator.add, operator.iadd, torch.add}
    return any((n.op == "call_function" and n.target in adds) or (n.op == "call_method" and n.target in ("add", "add_"))
               for n in gm.graph.nodes)


@pytest.mark.parametrize("name", ["rmnet_resnet18", "rmnet_resnet20_cifar"])
def test_rmnet_deploy_form_is_plain(name):
    model = zoo.get_model(name)
    train_graph = fx.symbolic_trace(model)
    assert _has_residual_add(train_graph), "the train form should have residual additions"
    deployed = zoo.deploy_form(model)
    assert isinstance(deployed, fx.GraphModule) and not _has_residual_add(deployed)
    blocks = [m for m in model.modules() if isinstance(m, RMBlock)]
    assert blocks and all(b.plain is None for b in blocks), "deploy_form must not touch the train model"


@pytest.mark.parametrize("name", ["dbb_resnet18", "rmnet_resnet20_cifar", "rmnet_resnet18"])
def test_fused_deploy_form_keeps_float64(name):
    """DBB and RM build new convs from merged kernels: they must keep the model's dtype (fp64 here),
    and in fp64 the merge is exact to far below the fp32 bar."""
    meta = zoo.get_meta(name)
    model = zoo.get_model(name).double()
    randomise(model)
    model.eval()
    side = input_side(meta)
    x = torch.randn(2, meta.input_size[0], side, side, dtype=torch.float64)
    with torch.no_grad():
        want = model(x)
        deployed = zoo.deploy_form(model)
        got = deployed(x)
    assert {p.dtype for p in deployed.parameters()} == {torch.float64}
    assert got.dtype == torch.float64 and relative_error(got, want) <= 1e-10


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_conv_from_kernel_keeps_dtype_and_device(dtype):
    template = nn.Conv2d(4, 6, 3, 2, 1, bias=False)
    weight, bias = torch.randn(6, 4, 3, 3, dtype=dtype), torch.randn(6, dtype=dtype)
    conv = conv_from_kernel(template, (weight, bias))
    assert conv.weight.dtype == conv.bias.dtype == dtype and conv.weight.device == weight.device
    assert torch.equal(conv.weight, weight) and torch.equal(conv.bias, bias)
    assert (conv.stride, conv.padding) == (template.stride, template.padding)
