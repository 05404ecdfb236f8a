"""Every registered model builds, runs forward at its own input size with the right shape and no
NaN, and carries complete metadata. (That its deploy form computes the same function is checked
for every model in tests/test_reparam_equivalence.py.)"""
import pytest
import torch

import zoo
from bench import declared
from zoo.meta import CIFAR10, IMAGENET

ALL = zoo.list_models()
_DECLARED = declared.load()
# Forward passes of multi-GMAC ImageNet models cost seconds each on 2 cores: those run in the
# slow tier (`make test-all`); every model still runs in the default tier of `bench costs --check`.
HEAVY_MACS = 2e9
DATASETS = {"cifar10": CIFAR10, "imagenet": IMAGENET}
DEPLOY_TRANSFORMS = ("fold_bn", "reparameterize")


def _tiered(names):
    return [pytest.param(n, marks=pytest.mark.slow) if _DECLARED.get(n, {}).get("macs", 0) > HEAVY_MACS else n
            for n in names]


@pytest.mark.parametrize("name", _tiered(ALL))
def test_builds_and_runs_forward(name):
    meta = zoo.get_meta(name)
    model = zoo.get_model(name).eval()
    x = torch.randn(2, *meta.input_size)
    with torch.inference_mode():
        y = model(x)
    assert tuple(y.shape) == (2, meta.num_classes)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ALL)
def test_has_complete_metadata(name):
    meta = zoo.get_meta(name)
    assert meta.family and meta.notes, "every variant names its family and says where its definition comes from"
    assert meta.paper.title and meta.paper.year and meta.paper.url.startswith("https://")
    expected = DATASETS[meta.dataset]
    assert (meta.input_size, meta.num_classes) == (expected["input_size"], expected["num_classes"])
    assert meta.deploy in DEPLOY_TRANSFORMS
    if meta.parent is not None:
        assert meta.parent in ALL, f"parent {meta.parent} is not registered"
    for r in (meta.reported, *meta.also_reported):
        if any(v is not None for v in (r.top1, r.macs, r.params)):
            assert r.source, "reported numbers carry their source"
        if r.macs is not None:
            assert r.scope, "reported MACs say what they count"
    if meta.reported.macs is None or meta.reported.top1 is None:
        assert meta.reported.note, "a missing reported number is explained (n/f), never left silent"
    assert all(r.note for r in meta.also_reported), "a second reported entry says what sets it apart"

