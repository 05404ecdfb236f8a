"""HetConv: every implementation computes the paper's operator, and weights convert exactly."""
import pytest
import torch
import torch.nn.functional as F

from zoo.layers.hetconv import (EXACT_CPU_IMPLS, HetConv2d, hetconv_macs, hetconv_params, hetconv_weight_mask,
                                kxk_channel_mask, convert_hetconv_impl)

SHAPES = [  # (M, N, K, stride, P, H)
    (4, 4, 3, 1, 1, 7), (8, 8, 3, 1, 2, 9), (16, 32, 3, 2, 4, 10), (8, 16, 3, 1, 8, 6),
    (6, 12, 5, 1, 3, 8), (12, 24, 5, 2, 12, 9), (32, 64, 3, 1, 32, 5), (64, 64, 3, 2, 64, 8),
    (16, 16, 7, 1, 4, 11), (3, 6, 3, 1, 3, 5), (64, 128, 3, 1, 16, 4),
]


def literal_hetconv(x, dense, stride, part):
    """The operator written from the paper's definition, filter by filter (independent of the layer code)."""
    n_out, m, k, _ = dense.shape
    pad = k // 2
    outs = []
    for n in range(n_out):
        kxk_ch = [j for j in range(m) if (j - n) % part == 0]
        one_ch = [j for j in range(m) if (j - n) % part != 0]
        y = F.conv2d(x[:, kxk_ch], dense[n:n + 1, kxk_ch], stride=stride, padding=pad)
        if one_ch:
            c = k // 2
            y = y + F.conv2d(x[:, one_ch], dense[n:n + 1, one_ch, c:c + 1, c:c + 1], stride=stride)
        outs.append(y)
    return torch.cat(outs, 1)


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


@pytest.mark.parametrize("m,n,k,s,p,h", SHAPES)
def test_masked_matches_the_papers_definition(m, n, k, s, p, h):
    layer = HetConv2d(m, n, k, s, p, impl="masked")
    x = torch.randn(2, m, h, h)
    ref = literal_hetconv(x, layer.dense_weight(), s, p)
    assert rel_err(layer(x), ref) <= 1e-5


@pytest.mark.parametrize("impl", EXACT_CPU_IMPLS)
@pytest.mark.parametrize("m,n,k,s,p,h", SHAPES)
@pytest.mark.parametrize("bias", [False, True])
def test_every_impl_equals_masked(impl, m, n, k, s, p, h, bias):
    ref = HetConv2d(m, n, k, s, p, bias=bias, impl="masked")
    if bias:
        with torch.no_grad():
            ref.bias.normal_()
    x = torch.randn(3, m, h, h)
    other = ref.convert(impl)
    assert other.impl == impl
    for mode in ("train", "eval"):
        getattr(other, mode)()
        assert rel_err(other(x), ref(x)) <= 1e-5, mode


@pytest.mark.parametrize("m,n,k,s,p,h", SHAPES[:6])
def test_weights_round_trip_between_every_pair_of_impls(m, n, k, s, p, h):
    start = HetConv2d(m, n, k, s, p, impl="masked")
    want = start.dense_weight()
    for a in EXACT_CPU_IMPLS:
        for b in EXACT_CPU_IMPLS:
            assert torch.equal(start.convert(a).convert(b).dense_weight(), want), (a, b)


def test_structural_zeros_follow_the_shifted_arrangement():
    mask = hetconv_weight_mask(6, 8, 3, 4)
    for n in range(6):
        for j in range(8):
            full = bool(mask[n, j].sum() == 9)
            assert full == ((j - n) % 4 == 0)
            assert mask[n, j, 1, 1] == 1  # every channel keeps at least the 1x1 tap
    assert kxk_channel_mask(6, 8, 4).sum(1).tolist() == [2] * 6  # M/P KxK kernels per filter


def test_pc_has_one_kxk_kernel_per_filter():
    layer = HetConv2d(16, 32, 3, 1, 16, impl="grouped")
    dense = layer.dense_weight()
    nonzero_kxk = (dense.abs().sum((2, 3)) != dense[:, :, 1, 1].abs()).sum(1)
    assert nonzero_kxk.max().item() == 1


def test_paper_cost_formula():
    # ratio to a standard conv is 1/P + (1 - 1/P)/K^2
    m, n, k, h = 64, 128, 3, 8
    std = h * h * n * m * k * k
    for p in (1, 2, 4, 8, 16, 32, 64):
        assert hetconv_macs(m, n, k, p, h, h) / std == pytest.approx(1 / p + (1 - 1 / p) / k ** 2, rel=1e-12)
    layer = HetConv2d(m, n, k, 1, 4)
    assert layer.paper_params() == hetconv_params(m, n, k, 4) == int((layer.dense_weight() != 0).sum())


def test_trained_gradients_never_touch_structural_zeros():
    layer = HetConv2d(8, 8, 3, 1, 4, impl="grouped").train()
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    layer(torch.randn(2, 8, 6, 6)).square().sum().backward()
    opt.step()
    assert (layer.dense_weight() * (1 - layer.weight_mask)).abs().max() == 0
    # ... and the grouped layer still equals its masked conversion after the step
    x = torch.randn(1, 8, 6, 6)
    layer.eval()
    assert rel_err(layer(x), layer.convert("masked")(x)) <= 1e-5


@pytest.mark.parametrize("impl", EXACT_CPU_IMPLS)
def test_sgd_steps_keep_structural_zeros_in_every_impl(impl):
    """After training steps (momentum, weight decay) each impl still computes a HetConv: its eval output
    is the literal operator on its dense weight, and a stored dense weight keeps its structural zeros."""
    layer = HetConv2d(8, 8, 3, 1, 4, impl=impl).train()
    opt = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    for _ in range(2):
        opt.zero_grad()
        layer(torch.randn(2, 8, 6, 6)).square().sum().backward()
        opt.step()
    if impl in ("masked", "folded"):  # the raw parameter, not dense_weight() (which masks)
        assert (layer.weight.detach() * (1 - layer.weight_mask)).abs().max() == 0
    layer.eval()
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        assert rel_err(layer(x), literal_hetconv(x, layer.dense_weight(), 1, 4)) <= 1e-5


@pytest.mark.parametrize("kwargs,msg", [
    (dict(in_channels=6, out_channels=8, part=4), "must divide"),
    (dict(in_channels=8, out_channels=6, part=4, impl="grouped"), "divisible"),
    (dict(in_channels=8, out_channels=8, part=2, kernel_size=2), "odd"),
    (dict(in_channels=8, out_channels=8, part=2, impl="fast"), "unknown HetConv impl"),
    (dict(in_channels=8, out_channels=8, part=16), "must divide"),
])
def test_bad_configurations_are_rejected(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        HetConv2d(**kwargs)


def test_streams_impl_refuses_cpu_tensors():
    layer = HetConv2d(8, 8, 3, 1, 2, impl="grouped_streams")
    with pytest.raises(RuntimeError, match="needs CUDA"):
        layer(torch.randn(1, 8, 4, 4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_streams_impl_equals_masked_on_cuda():
    ref = HetConv2d(32, 64, 3, 1, 4, impl="masked").cuda().eval()
    x = torch.randn(2, 32, 16, 16, device="cuda")
    assert rel_err(ref.convert("grouped_streams")(x), ref(x)) <= 1e-4


def test_convert_impl_in_a_model():
    model = torch.nn.Sequential(HetConv2d(8, 16, 3, 1, 4, impl="masked"), torch.nn.ReLU(),
                                HetConv2d(16, 16, 3, 2, 4, impl="masked")).eval()
    x = torch.randn(1, 8, 8, 8)
    want = model(x)
    convert_hetconv_impl(model, "branches")
    assert {m.impl for m in model.modules() if isinstance(m, HetConv2d)} == {"branches"}
    assert rel_err(model(x), want) <= 1e-5
