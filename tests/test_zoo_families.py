"""Zoo families: registration, and costs against the reported numbers for every registered model.

Counting scope (bench.costs): MACs = conv + linear multiply-adds of the deploy form (BN folded,
branches merged) at 224x224 (32x32 for CIFAR), batch 1; params of the deploy form. Sources
state the same scope ("FLOPs" in GhostNet/RepGhost/G-Ghost/ShuffleNet/RepVGG tables are MACs).
A computed count must be within 2 % of the reported one. Where it cannot be, the variant's
metadata says why and the test checks the documented figure instead (`DOCUMENTED`).

Which models are checked comes from the registry (every variant with a reported number), so a
new variant is checked the day it is registered. The fast tests compare the committed
declared-costs table (which tests/test_declared_costs.py ties to the models) with the reported
numbers, and recompute the smallest variant of every family; the slow test recomputes every one.
`EXPECTED_NAMES` is the one written-out list: the variants the issue-6 papers document, so a
variant that silently stops registering is caught.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import zoo
from bench import declared
from bench.costs import model_costs
from zoo.layers.shuffle import channel_shuffle
from zoo.rmnet import RMBlock
from zoo.shufflenet_v1 import STAGE2_WIDTH, stage_widths, stem_width

EXPECTED_NAMES = {
    "ghostnet": ["ghostnet_050", "ghostnet_100", "ghostnet_130"],
    "repghostnet": [f"repghostnet_{w}" for w in ("050", "058", "080", "100", "111", "130", "150", "200")],
    "repvgg": [f"repvgg_{v}" for v in ("a0", "a1", "a2", "b0", "b1", "b1g2", "b1g4", "b2", "b2g4", "b3", "b3g4")],
    "mobilenet_v1": ["mobilenet_v1"],
    "g_ghostnet": [f"g_ghost_regnetx_{v}" for v in ("032", "040", "080", "160")],
    "rmnet": ["rmnet_resnet18", "rmnet_resnet20_cifar", "rmnet_resnet32_cifar", "rmnet_resnet34",
              "rmnet_resnet56_cifar", "rmnet_resnet110_cifar"],
    "dbb": ["dbb_resnet18"],
    "shufflenet_v1": [f"shufflenet_v1_g{g}_x{s}" for g in (1, 2, 3, 4, 8) for s in ("0_5", "1_0", "1_5", "2_0")],
}
# derived variants (bench prune / lowrank, saved by a user) are neither declared nor reported
VARIANTS = [n for n in zoo.list_models() if "derived" not in zoo.get_meta(n).tags]
FAMILIES = sorted({zoo.get_meta(n).family for n in VARIANTS})
REPARAM_FAMILIES = {"repghostnet", "repvgg", "rmnet", "dbb"}
TOLERANCE = 0.02
# (variant, field) -> (what the metadata note must mention, how to check the documented figure)
DOCUMENTED = {
    ("shufflenet_v1_g3_x1_0", "params"): ("0.1M", lambda computed, reported: round(computed / 1e5) * 1e5 == reported),
}
_DECLARED = declared.load()


# a family whose smallest variant is bigger than this is recomputed in the slow tier only
REPRESENTATIVE_MAX_MACS = 2e9


def representatives() -> list[str]:
    """Per family, its smallest variant (by declared MACs) that has reported MACs: recomputed in the fast tier."""
    out = []
    for family in FAMILIES:
        names = [n for n in zoo.list_models(family=family) if n in VARIANTS and zoo.get_meta(n).reported.macs]
        if names:
            smallest = min(names, key=lambda n: _DECLARED.get(n, {}).get("macs", float("inf")))
            if _DECLARED.get(smallest, {}).get("macs", float("inf")) <= REPRESENTATIVE_MAX_MACS:
                out.append(smallest)
    return out


def with_reported(field: str) -> list[str]:
    return [n for n in VARIANTS if getattr(zoo.get_meta(n).reported, field) is not None]


def assert_matches_reported(name: str, field: str, computed: int) -> None:
    reported = getattr(zoo.get_meta(name).reported, field)
    if (name, field) in DOCUMENTED:
        mention, check = DOCUMENTED[(name, field)]
        assert mention in zoo.get_meta(name).reported.note, f"{name}: the exception must be explained in metadata"
        assert check(computed, reported), f"{name} {field}: {computed:,} vs documented {reported:,.0f}"
        return
    rel = computed / reported - 1
    assert abs(rel) <= TOLERANCE, f"{name} {field}: computed {computed:,} vs reported {reported:,.0f} ({rel:+.2%})"


@pytest.mark.parametrize("family", sorted(EXPECTED_NAMES))
def test_family_registers_exactly_the_documented_variants(family):
    assert zoo.list_models(family=family) == sorted(EXPECTED_NAMES[family], key=zoo.registry.natural_key)


@pytest.mark.parametrize("name", VARIANTS)
def test_metadata_names_the_paper_and_deploy_transform(name):
    meta = zoo.get_meta(name)
    assert meta.paper.title and meta.paper.url.startswith("https://arxiv.org/")
    assert meta.deploy == ("reparameterize" if meta.family in REPARAM_FAMILIES else "fold_bn")


def test_declared_table_covers_every_variant():
    assert not [n for n in VARIANTS if n not in _DECLARED]


@pytest.mark.parametrize("name", with_reported("macs"))
def test_declared_macs_match_reported(name):
    assert_matches_reported(name, "macs", _DECLARED[name]["macs"])


@pytest.mark.parametrize("name", with_reported("params"))
def test_declared_params_match_reported(name):
    assert_matches_reported(name, "params", _DECLARED[name]["params"])


# Ops fvcore has no handle for that do no multiply-adds (option-A shortcut padding, torchvision's
# in-place eval Dropout): `bench costs` lists them, as designed; any other unsupported op fails.
ZERO_MAC_UNSUPPORTED = {"aten::pad", "aten::dropout_"}


@pytest.mark.parametrize("name", representatives())
def test_recomputed_costs_match_reported(name):
    costs = model_costs(name)
    assert not set(costs.unsupported_ops) - ZERO_MAC_UNSUPPORTED
    assert_matches_reported(name, "macs", costs.macs)
    if zoo.get_meta(name).reported.params is not None:
        assert_matches_reported(name, "params", costs.params)


@pytest.mark.slow
@pytest.mark.parametrize("name", with_reported("macs"))
def test_every_variant_recomputed_matches_reported(name):
    costs = model_costs(name)
    assert_matches_reported(name, "macs", costs.macs)
    if zoo.get_meta(name).reported.params is not None:
        assert_matches_reported(name, "params", costs.params)


def test_dbb_resnet18_costs_exactly_resnet18():
    dbb, base = model_costs("dbb_resnet18"), model_costs("resnet18")
    assert (dbb.macs, dbb.params) == (base.macs, base.params)


def _rm_extra_macs(name: str) -> tuple[int, int]:
    """(MACs the RM operation adds per the block algebra, MACs of the removed 1x1 projections)."""
    model = zoo.get_model(name).eval()
    sizes: dict[int, int] = {}
    hooks = [b.register_forward_hook(lambda m, i, o: sizes.__setitem__(id(m), o.shape[-1] * o.shape[-2]))
             for b in model.modules() if isinstance(b, RMBlock)]
    with torch.no_grad():
        model(torch.randn(1, *zoo.get_meta(name).input_size))
    for h in hooks:
        h.remove()
    added = removed = 0
    for block in (m for m in model.modules() if isinstance(m, RMBlock)):
        convs = [m for m in block.block.modules() if isinstance(m, nn.Conv2d)]
        c_in, c_out, hw = convs[0].in_channels, convs[0].out_channels, sizes[id(block)]
        added += hw * 9 * c_in * c_in + hw * 9 * c_in * c_out  # Dirac channels out of conv A, into conv B
        if len(convs) == 3:  # a projection shortcut: its 1x1 conv folds into conv B
            removed += hw * c_in * c_out
    return added, removed


@pytest.mark.parametrize("name,base", [("rmnet_resnet20_cifar", "resnet20_cifar"), ("rmnet_resnet18", "resnet18")])
def test_rm_deploy_macs_follow_the_block_algebra(name, base):
    added, removed = _rm_extra_macs(name)
    assert model_costs(name).macs == model_costs(base).macs + added - removed


def test_rm_identity_block_is_c_to_2c_to_c():
    model = zoo.deploy_form(zoo.get_model("rmnet_resnet20_cifar"))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    pairs = list(zip(convs[1::2], convs[2::2]))  # skip the stem
    assert (pairs[0][0].in_channels, pairs[0][0].out_channels, pairs[0][1].out_channels) == (16, 32, 16)


@pytest.mark.parametrize("groups,scale,stem,widths", [
    (3, 0.5, 12, (120, 240, 480)), (3, 1.0, 24, (240, 480, 960)), (3, 2.0, 48, (480, 960, 1920)),
    (8, 0.5, 16, (192, 384, 768)), (8, 1.5, 24, (576, 1152, 2304)),  # Megvii's released configs
    (1, 1.0, 24, (144, 288, 576)), (2, 1.0, 24, (200, 400, 800)), (4, 1.0, 24, (272, 544, 1088)),  # Table 1
])
def test_shufflenet_v1_widths_follow_table1_and_megvii(groups, scale, stem, widths):
    assert stem_width(groups, scale) == stem and stage_widths(groups, scale) == widths


@pytest.mark.parametrize("groups", [1, 2, 4, 8])
@pytest.mark.parametrize("scale", [0.5, 1.0, 1.5, 2.0])
def test_shufflenet_v1_widths_split_into_groups(groups, scale):
    widths = stage_widths(groups, scale)
    assert all(w % (4 * groups) == 0 for w in widths) and stem_width(groups, scale) % groups == 0
    table1 = [STAGE2_WIDTH[groups] * 2**i * scale for i in range(3)]
    assert all(abs(w - t) <= 2 * groups for w, t in zip(widths, table1)), "nearest multiple of 4g to Table 1 x scale"


def test_channel_shuffle_interleaves_groups():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]
    with pytest.raises(ValueError):
        channel_shuffle(x, 4)
