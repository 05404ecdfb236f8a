"""Registry: registration, wildcard listing, natural sort, lookup errors, metadata."""
import dataclasses

import pytest
import torch.nn as nn

import zoo
from zoo.meta import CIFAR10, ModelMeta, Paper
from zoo.registry import UnknownModelError, natural_key, register_model, unregister_model


def test_duplicate_registration_is_rejected():
    meta = ModelMeta(family="t", paper=Paper("t", 2020), **CIFAR10)

    @register_model(meta)
    def _tmp_registry_model():
        return nn.Identity()

    try:
        with pytest.raises(ValueError, match="already registered"):
            register_model(meta)(_tmp_registry_model)
    finally:
        unregister_model("_tmp_registry_model")


def test_wildcards_and_natural_sort():
    names = zoo.list_models("vgg16_cifar_p*", exclude="*_se,*_pruned_*")
    assert names == ["vgg16_cifar_p2", "vgg16_cifar_p4", "vgg16_cifar_p8", "vgg16_cifar_p16",
                     "vgg16_cifar_p32", "vgg16_cifar_p64", "vgg16_cifar_pc"]
    assert sorted(["a10", "a2", "a1"], key=natural_key) == ["a1", "a2", "a10"]


def test_family_and_tag_filters():
    assert set(zoo.list_models(family="resnet_cifar", tag="hetconv")) == {
        "resnet56_cifar_p2", "resnet56_cifar_p4", "resnet56_cifar_p2_se", "resnet56_cifar_p4_se"}
    fams = {zoo.get_meta(n).family for n in zoo.list_models(family="vgg*")}
    assert "vgg_cifar" in fams and all(f.startswith("vgg") for f in fams)


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError) as exc:
        zoo.get_model("vgg16_cifr_p4")
    assert str(exc.value).startswith("unknown model 'vgg16_cifr_p4'; did you mean vgg16_cifar_p4")


def test_pattern_matching_nothing_is_an_error():
    with pytest.raises(UnknownModelError, match="matches no model"):
        zoo.resolve_patterns("nothing_like_this_*")


def test_metadata_is_frozen_and_complete():
    for name in zoo.list_models():
        meta = zoo.get_meta(name)
        with pytest.raises(dataclasses.FrozenInstanceError):
            meta.family = "x"  # type: ignore[misc]
        assert meta.paper.title and meta.paper.year
        assert meta.dataset in ("cifar10", "imagenet")
        assert len(meta.input_size) == 3 and meta.num_classes > 0
        r = meta.reported
        if r.top1 is not None or r.macs is not None:
            assert r.source, f"{name}: reported numbers need a source"
        if r.macs is not None:
            assert r.scope, f"{name}: reported MACs need a counting scope"


def test_hetconv_paper_names_exist():
    want = ["vgg16_cifar", "vgg16_cifar_p4", "vgg16_cifar_pc_se", "vgg16_cifar_dwc_pwc", "vgg16_cifar_gwc4_pwc",
            "resnet20_cifar", "resnet32_cifar", "resnet56_cifar", "resnet110_cifar", "resnet56_cifar_p2",
            "resnet56_cifar_p4_se", "mobilenet_cifar", "mobilenet_cifar_p32", "mobilenet_cifar_p32_se",
            "vgg16_p4", "resnet34_p4", "resnet50_p4"]
    missing = [n for n in want if n not in zoo.list_models()]
    assert not missing
