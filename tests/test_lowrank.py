"""Low-rank factorisation: exactness, rank selection, registered variants and `bench lowrank`."""
import json

import pytest
import torch
import torch.nn as nn

import zoo
from bench.cli import main
from bench.costs import model_costs
from zoo import derived, lowrank
from zoo.lowrank import LowRankConv2d


@pytest.mark.parametrize("cin,cout,stride", [(16, 32, 2), (64, 16, 1), (3, 16, 1)])
def test_full_rank_factorisation_is_exact(cin, cout, stride):
    conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=True)
    lr = LowRankConv2d.from_conv(conv, lowrank.full_rank(conv))
    x = torch.randn(2, cin, 9, 9)
    with torch.no_grad():
        assert torch.allclose(lr(x), conv(x), atol=1e-5)


def test_truncation_is_the_best_rank_r_approximation():
    weight = torch.randn(24, 8, 3, 3)
    mat = weight.reshape(24, -1).double()
    u, s, vh = torch.linalg.svd(mat, full_matrices=False)
    for rank in (1, 5, 8):
        left, right = lowrank.truncated_factors(weight, rank)
        best = (u[:, :rank] * s[:rank]) @ vh[:rank]
        assert torch.allclose((left @ right).double(), best, atol=1e-4)


def test_energy_rank_on_known_singular_values():
    u, _ = torch.linalg.qr(torch.randn(4, 4))
    v, _ = torch.linalg.qr(torch.randn(36, 4))
    weight = (u @ torch.diag(torch.tensor([4.0, 2.0, 1.0, 1.0])) @ v.T).reshape(4, 4, 3, 3)
    # cumulative energy shares: 16/22 = 0.727, 20/22 = 0.909, 21/22 = 0.955, 1.0
    assert [lowrank.rank_from_energy(weight, e) for e in (0.5, 0.9, 0.95, 0.96, 1.0)] == [1, 2, 3, 4, 4]


def test_rank_ratio_and_skipped_layers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 64, 1), nn.Conv2d(64, 64, 3, groups=4),
                          nn.Conv2d(64, 32, 3))
    ranks = lowrank.factorize_model(model, rank_ratio=0.5)
    # conv 0: rank 2 of 4 saves (2*(27+4) < 108); 1x1 and grouped convs stay dense
    assert ranks == {"0": 2, "3": 16}
    assert isinstance(model[0], LowRankConv2d) and isinstance(model[1], nn.Conv2d)
    # a factorisation that would cost more MACs is not made: 3->4 at full rank 4: 4*(27+4) > 4*27
    assert lowrank.factorize_model(nn.Sequential(nn.Conv2d(3, 4, 3)), rank_ratio=1.0) == {}
    # factorising again leaves the factorised convs alone
    assert lowrank.factorize_model(model, rank_ratio=0.5) == {}


def test_registered_variant_cost_follows_the_factorised_formula():
    # every conv of ResNet-56 has C_in = C_out (but the stride-2 ones and the stem) and rank C/2:
    # per-layer ratio 0.5 * (1 + 1/9) = 0.556 of its dense MACs
    ratio = model_costs("resnet56_cifar_lowrank50").macs / model_costs("resnet56_cifar").macs
    assert 0.545 < ratio < 0.565
    model = zoo.get_model("resnet56_cifar_lowrank50")
    ranks = [m.rank for m in model.modules() if isinstance(m, LowRankConv2d)]
    assert len(ranks) == 55 and set(ranks) == {8, 16, 32}
    assert zoo.get_meta("resnet56_cifar_lowrank50").parent == "resnet56_cifar"


def test_bench_lowrank_saves_a_variant_that_rebuilds(variants, capsys):
    assert main(["lowrank", "resnet20_cifar", "--rank-ratio", "0.5", "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["name"] == "resnet20_cifar_lowrank_r50"
    spec = derived.read_spec(variants / "resnet20_cifar_lowrank_r50.json")
    assert spec.kind == "lowrank" and len(spec.lowrank_ranks) == 19
    assert row["macs"] == model_costs("resnet20_cifar_lowrank_r50").macs < row["parent_macs"]
    rebuilt = zoo.get_model("resnet20_cifar_lowrank_r50")
    assert sum(isinstance(m, LowRankConv2d) for m in rebuilt.modules()) == 19


def test_bench_lowrank_energy_finds_the_rank_of_a_low_rank_checkpoint(variants, tmp_path, capsys):
    """A checkpoint whose 3x3 weights have rank C/4 (as after LRPET training) is factorised at
    exactly that rank, and the factorised model computes the same function."""
    parent = zoo.get_model("resnet20_cifar").eval()
    true_rank = {}
    with torch.no_grad():
        for name, m in parent.named_modules():
            if lowrank.factorizable(m):
                r = max(1, lowrank.full_rank(m) // 4)
                left, right = lowrank.truncated_factors(m.weight, r)
                m.weight.copy_((left @ right).reshape_as(m.weight))
                true_rank[name] = r
    ckpt = tmp_path / "r20_lowrank.pt"
    torch.save(parent.state_dict(), ckpt)
    assert main(["lowrank", "resnet20_cifar", "--energy", "0.999", "--checkpoint", str(ckpt)]) == 0
    capsys.readouterr()
    assert derived.read_spec(variants / "resnet20_cifar_lowrank_e99p9.json").lowrank_ranks == true_rank
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        got, want = zoo.get_model("resnet20_cifar_lowrank_e99p9")(x), parent(x)
    assert (got - want).abs().max() <= 1e-4 * want.abs().max()


@pytest.mark.parametrize("args", [["--rank-ratio", "0"], ["--rank-ratio", "1"], ["--rank-ratio", "1.5"],
                                  ["--energy", "-0.1"], ["--energy", "nan"]])
def test_bench_lowrank_rejects_bad_ratios(variants, capsys, args):
    assert main(["lowrank", "resnet20_cifar"] + args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be in (0, 1)" in err
    assert not variants.exists() or not any(variants.iterdir())


def test_bench_lowrank_needs_exactly_one_rank_rule(variants, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["lowrank", "resnet20_cifar", "--rank-ratio", "0.5", "--energy", "0.9"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
