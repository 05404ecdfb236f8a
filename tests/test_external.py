"""zoo/external.py: the torchvision metadata it carries as constants.

The constants are copied from torchvision's `weights.meta` so that `import zoo` need not import
torchvision; these tests compare each one with the installed torchvision, so an upgrade that
changes a number (or adds weights we do not describe) fails here instead of silently drifting.
"""
from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest
import torchvision

import zoo
import zoo.external
from zoo.external import TORCHVISION_MODELS, TORCHVISION_VERSION, TORCHVISION_WEIGHTS


def _installed_weights(arch: str) -> dict[str, dict]:
    """enum text -> meta of every installed ImageNet-1K weights entry with a top-1 for `arch`."""
    enum_cls = torchvision.models.get_model_weights(arch)
    out = {}
    for w in enum_cls:
        acc = w.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
        if acc is not None and not math.isnan(acc):
            out[f"{enum_cls.__name__}.{w.name}"] = w.meta
    return out


def test_constants_were_copied_from_the_installed_torchvision_release():
    assert torchvision.__version__.split("+")[0] == TORCHVISION_VERSION, (
        "torchvision changed: re-check TORCHVISION_WEIGHTS against its weights meta and bump TORCHVISION_VERSION")


def test_every_registered_torchvision_model_has_constants():
    assert set(TORCHVISION_WEIGHTS) == set(TORCHVISION_MODELS)
    assert set(zoo.list_models(tag="torchvision")) == set(TORCHVISION_MODELS)


@pytest.mark.parametrize("arch", sorted(TORCHVISION_WEIGHTS))
def test_constants_equal_installed_weights_meta(arch):
    installed = _installed_weights(arch)
    ours = {w.enum: w for w in TORCHVISION_WEIGHTS[arch]}
    assert set(ours) == set(installed), f"{arch}: torchvision's weights entries changed"
    for enum, w in ours.items():
        meta = installed[enum]
        assert w.top1 == meta["_metrics"]["ImageNet-1K"]["acc@1"], enum
        assert w.params == meta["num_params"], enum
        assert w.gmacs == meta["_ops"], enum


@pytest.mark.parametrize("arch", sorted(TORCHVISION_WEIGHTS))
def test_reported_is_the_paper_era_v1_and_newer_recipes_are_labelled(arch):
    meta = zoo.get_meta(arch)
    v1 = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
    assert meta.reported.top1 == v1.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert "IMAGENET1K_V1" in meta.reported.source and TORCHVISION_VERSION in meta.reported.source
    others = [e for e in _installed_weights(arch) if not e.endswith(".IMAGENET1K_V1")]
    assert [r.source.split("(")[-1].rstrip(")") for r in meta.also_reported] == others
    assert all("recipe" in r.note and r.top1 is not None for r in meta.also_reported)


def test_resnet50_default_top1_is_comparable_with_its_hetconv_variant():
    """The point of V1 by default: resnet50_p4 (76.16) is compared with ResNet-50 trained the same era."""
    assert zoo.get_meta("resnet50").reported.top1 == 76.13
    assert [r.top1 for r in zoo.get_meta("resnet50").also_reported] == [80.858]


@pytest.mark.parametrize("arch", ["resnet50", "resnet101", "resnet152"])
def test_v1_5_resnets_say_so_and_point_to_the_paper_layout(arch):
    notes = zoo.get_meta(arch).notes
    assert "v1.5" in notes and "resnet50_v1" in notes
    assert "resnet50_v1" in zoo.list_models()


def test_zoo_show_prints_also_reported(capsys):
    from bench.cli import main

    assert main(["zoo", "show", "resnet50"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["reported"]["top1"] == 76.13
    assert shown["also_reported"][0]["top1"] == 80.858 and "IMAGENET1K_V2" in shown["also_reported"][0]["source"]


def test_external_imports_torchvision_only_inside_builders():
    """`import zoo` must stay fast: no module-level torchvision/timm import in zoo/external.py."""
    tree = ast.parse(Path(zoo.external.__file__).read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    assert names and not [n for n in names if n.split(".")[0] in ("torchvision", "timm")]
