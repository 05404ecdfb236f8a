"""Every registered model builds, runs forward with the right shape and no NaN, and its deploy
form computes the same function (BN folding is exact with randomised BN statistics)."""
import pytest
import torch
import torch.nn as nn

import zoo
from zoo.layers.hetconv import HetConv2d

from bench import declared

ALL = zoo.list_models()
SMALL = [n for n in ALL if zoo.get_meta(n).dataset == "cifar10"]
_DECLARED = declared.load()
# Forward passes of multi-GMAC ImageNet models cost seconds each on 2 cores: those run in the
# slow tier (`make test-all`); every model still runs in the default tier of `bench costs --check`.
HEAVY_MACS = 2e9


def _tiered(names):
    return [pytest.param(n, marks=pytest.mark.slow) if _DECLARED.get(n, {}).get("macs", 0) > HEAVY_MACS else n
            for n in names]


def randomise_bn(model: nn.Module) -> None:
    """Non-trivial BN statistics and affine parameters, so folding is really tested."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


@pytest.mark.parametrize("name", _tiered(ALL))
def test_builds_and_runs_forward(name):
    meta = zoo.get_meta(name)
    model = zoo.get_model(name).eval()
    x = torch.randn(2, *meta.input_size)
    with torch.inference_mode():
        y = model(x)
    assert tuple(y.shape) == (2, meta.num_classes)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", SMALL)
def test_deploy_form_is_exact(name):
    meta = zoo.get_meta(name)
    model = zoo.get_model(name)
    randomise_bn(model)
    model.eval()
    x = torch.randn(2, *meta.input_size)
    with torch.no_grad():
        want = model(x)
        deployed = zoo.deploy_form(model)
        got = deployed(x)
    assert ((got - want).abs().max() / want.abs().max()).item() <= 1e-5
    left = [m for m in deployed.modules() if isinstance(m, nn.BatchNorm2d)]
    assert not left, f"{len(left)} BatchNorm2d left unfolded"


@pytest.mark.parametrize("impl", ["masked", "grouped", "branches", "folded"])
def test_deploy_form_converts_hetconv_impl(impl):
    model = zoo.get_model("resnet56_cifar_p4")
    randomise_bn(model)
    model.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        want = model(x)
        deployed = zoo.deploy_form(model, impl=impl)
        assert {m.impl for m in deployed.modules() if isinstance(m, HetConv2d)} == {impl}
        assert ((deployed(x) - want).abs().max() / want.abs().max()).item() <= 1e-5
