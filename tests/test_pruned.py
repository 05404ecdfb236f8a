"""Published pruned architectures: widths follow the authors' rules, costs match the papers."""
import pytest
import torch
import torch.nn as nn

import zoo
from bench.costs import model_costs
from zoo import pruned
from zoo.resnet_cifar import BasicBlockCifar

# Li et al. 2017, Table 1: MACs and params of each pruned model (published numbers).
LI_TABLE = {
    "vgg16_cifar_pruned_a": (2.06e8, 5.4e6),
    "resnet56_cifar_pruned_a": (1.12e8, 7.7e5),
    "resnet56_cifar_pruned_b": (9.09e7, 7.3e5),
    "resnet110_cifar_pruned_a": (2.13e8, 1.68e6),
    "resnet110_cifar_pruned_b": (1.55e8, 1.16e6),
    "resnet34_pruned_a": (3.08e9, 1.99e7),
    "resnet34_pruned_b": (2.76e9, 1.93e7),
    "resnet34_pruned_c": (3.37e9, 2.01e7),
}
# SFP / FPGM: MACs reduction (%) of uniform 30 % / 40 % filter pruning (published table).
UNIFORM_TABLE = {(20, 30): 42.2, (20, 40): 54.0, (32, 30): 41.5, (32, 40): 53.2,
                 (56, 30): 41.1, (56, 40): 52.6, (110, 30): 40.8, (110, 40): 52.3}


@pytest.mark.parametrize("name", sorted(LI_TABLE))
def test_li_et_al_configs_reproduce_the_paper_costs(name):
    macs, params = LI_TABLE[name]
    c = model_costs(name)
    assert abs(c.macs / macs - 1) <= 0.01, f"{name}: {c.macs:,} MACs vs {macs:,.0f} published"
    assert abs(c.params / params - 1) <= 0.03, f"{name}: {c.params:,} params vs {params:,.0f} published"
    assert zoo.get_meta(name).reported.macs == macs


@pytest.mark.parametrize("depth,pct", sorted(UNIFORM_TABLE))
def test_uniform_pruning_reproduces_the_reduction_table(depth, pct):
    pruned_macs = model_costs(f"resnet{depth}_cifar_uniform{pct}").macs
    dense_macs = model_costs(f"resnet{depth}_cifar").macs
    reduction = 100 * (1 - pruned_macs / dense_macs)
    assert abs(reduction - UNIFORM_TABLE[(depth, pct)]) <= 1.0, f"{reduction:.2f} % vs {UNIFORM_TABLE[(depth, pct)]} %"


@pytest.mark.slow
@pytest.mark.parametrize("pct,published", [(30, 42.2), (40, 53.5)])
def test_uniform_imagenet_resnet50_matches_fpgm_formula(pct, published):
    reduction = 100 * (1 - model_costs(f"resnet50_uniform{pct}").macs / model_costs("resnet50").macs)
    assert abs(reduction - published) <= 1.0


def test_li_widths_follow_the_authors_layer_ids():
    # ResNet-56-B: skip layer ids 16, 18 (blocks 7, 8), 20 (block 9), 34 (16), 38 (18), 54 (26)
    mids = pruned.li_first_conv_widths((9, 9, 9), (16, 32, 64), (16, 18, 20, 34, 38, 54), (0.6, 0.3, 0.1))
    assert mids[:9] == [6] * 7 + [16, 16]
    assert mids[9:18] == [32] + [22] * 6 + [32, 22]
    assert mids[18:] == [64] + [57] * 7 + [64]
    model = zoo.get_model("resnet56_cifar_pruned_b")
    assert [b.conv1[0].out_channels for b in model.blocks] == mids
    assert all(b.conv2[0].out_channels == b.conv2[1].num_features for b in model.blocks)


def test_resnet34_pruned_c_narrows_only_the_stage3_stream():
    model = zoo.get_model("resnet34_pruned_c")
    assert [b.conv2.out_channels for b in model.layer3] == [204] * 6
    assert [b.conv1.out_channels for b in model.layer3] == [256] * 6
    assert model.layer4[0].conv1.in_channels == 204 and model.layer4[0].downsample[0].in_channels == 204
    assert [b.conv2.out_channels for b in model.layer2] == [128] * 4


def test_thinet_widths_are_int_rate_times_width():
    model = zoo.get_model("resnet50_thinet50")
    for layer, planes in zip((model.layer1, model.layer2, model.layer3, model.layer4), (64, 128, 256, 512)):
        for block in layer:
            assert (block.conv1.out_channels, block.conv2.out_channels, block.conv3.out_channels) == \
                   (planes // 2, planes // 2, 4 * planes)
    # Caffe layout: the stride-2 of a stage is on the first 1x1 conv
    assert model.layer2[0].conv1.stride == (2, 2) and model.layer2[0].conv2.stride == (1, 1)
    assert zoo.get_meta("resnet50_thinet50").parent == "resnet50_v1"


@pytest.mark.slow
@pytest.mark.parametrize("name,macs,params", [
    ("resnet50_thinet70", 4.88e9 / 2, 16.94e6), ("resnet50_thinet50", 1.71e9, 12.38e6),
    ("resnet50_thinet30", 1.10e9, 8.66e6), ("vgg16_thinet", 9.58e9 / 2, 131.44e6)])
def test_thinet_costs_match_the_readme(name, macs, params):
    c = model_costs(name)
    assert abs(c.macs / macs - 1) <= 0.01 and abs(c.params / params - 1) <= 0.01


@pytest.mark.slow
def test_thinet_gap_matches_the_abstract_ratios():
    dense, gap = model_costs("vgg16"), model_costs("vgg16_thinet_gap")
    assert abs(dense.macs / gap.macs - 3.31) <= 0.03
    assert abs(dense.params / gap.params - 16.63) <= 0.17


def test_scatter_block_equals_a_dense_block_with_pruned_filters_zeroed():
    """The physically smaller SFP block computes what the masked dense block computes."""
    torch.manual_seed(0)
    width, keep = 16, 11
    small = pruned.ScatterBlockCifar(width, width, keep, 1).eval()
    kept = torch.tensor([0, 2, 3, 5, 6, 7, 9, 10, 12, 13, 15])
    small.merge.index.copy_(kept)
    dense = BasicBlockCifar(width, width, 1).eval()
    with torch.no_grad():
        for bn in (small.conv1[1], small.conv2[1]):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.1)
        for layer in (dense.conv1, dense.conv2):
            layer[0].weight.zero_()
            layer[1].bias.zero_()  # a pruned filter's BN must output 0, as in a truly removed channel
            layer[1].running_mean.zero_()
        dense.conv1[0].weight[:keep].copy_(small.conv1[0].weight)
        dense.conv1[1].weight[:keep].copy_(small.conv1[1].weight)
        dense.conv1[1].bias[:keep].copy_(small.conv1[1].bias)
        dense.conv2[0].weight[kept, :keep] = small.conv2[0].weight  # advanced indexing: assign, not copy_
        dense.conv2[1].weight[kept] = small.conv2[1].weight
        dense.conv2[1].bias[kept] = small.conv2[1].bias
        x = torch.randn(2, width, 8, 8)
        assert torch.allclose(small(x), dense(x), atol=1e-5)


def test_uniform_blocks_are_physically_smaller():
    model = zoo.get_model("resnet56_cifar_uniform40")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert max(c.out_channels for c in convs) == 38  # 64 * 0.6 = 38.4
    assert model.stem[0].out_channels == 10  # 16 * 0.6 = 9.6
    x = torch.randn(1, 3, 32, 32)
    assert model.eval()(x).shape == (1, 10)


def test_nisp_and_snf_are_metadata_only():
    methods = {r.method for r in pruned.UNREGISTERED_RESULTS}
    assert methods == {"nisp", "snf"}
    assert all(r.reason for r in pruned.UNREGISTERED_RESULTS)
    assert not zoo.list_models("*nisp*,*snf*")


def test_every_pruned_variant_names_a_registered_dense_parent():
    names = [n for n in zoo.list_models(tag="pruned") if "derived" not in zoo.get_meta(n).tags]
    assert {"vgg16_cifar_pruned_a", "resnet56_cifar_pruned_a", "resnet110_cifar_pruned_b", "resnet34_pruned_c",
            "resnet56_cifar_uniform30", "resnet50_uniform40", "resnet50_thinet50", "vgg16_thinet"} <= set(names)
    for n in names:
        parent = zoo.get_meta(n).parent
        assert parent in zoo.list_models() and "pruned" not in zoo.get_meta(parent).tags
