"""HetConv claim study: verdict logic on synthetic samples, depth on blocks of known depth,
and a tiny end-to-end study on CPU."""
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn

from bench.claims.depth import sequential_depth
from bench.claims.layer_ops import LayerOp
from bench.claims.verdicts import (INCONCLUSIVE, MIXED, NOT_MEASURED, REFUTED, SUPPORTED, Timed, exact_verdict,
                                   faster_verdict, spearman_exact, trend_verdict)
from zoo.layers.conv_kinds import ConvKind, conv_bn
from zoo.layers.hetconv import HetConv2d


def timed(case, label, center, n=60, spread=0.02, seed=0):
    rng = np.random.default_rng(seed)
    return Timed(case, label, 1, tuple(center * (1 + spread * rng.standard_normal(n))))


def test_faster_verdicts_on_synthetic_samples():
    fast, slow, same = (timed(f"c{i}", "x", 1.0, seed=i) for i in range(3))
    ref = [timed(f"c{i}", "ref", 1.3, seed=10 + i) for i in range(3)]
    assert faster_verdict([(fast, ref[0]), (slow, ref[1])])[0] == SUPPORTED
    assert faster_verdict([(ref[0], fast)])[0] == REFUTED
    mixed = faster_verdict([(fast, ref[0]), (ref[1], slow)])
    assert mixed[0] == MIXED and "faster in 1/2, slower in 1/2" in mixed[1][0]
    a, b = timed("c", "a", 1.0, seed=1), timed("c", "b", 1.0, seed=2)
    assert faster_verdict([(a, b)])[0] == INCONCLUSIVE
    assert faster_verdict([])[0] == NOT_MEASURED


def test_small_noisy_differences_are_not_called_significant():
    a = timed("c", "a", 1.00, n=8, spread=0.3, seed=3)
    b = timed("c", "b", 1.05, n=8, spread=0.3, seed=4)
    assert faster_verdict([(a, b)])[0] == INCONCLUSIVE


def test_trend_verdicts():
    up = {"c1": [(1, 1.0), (2, 1.5), (4, 2.0), (8, 2.4), (16, 2.6), (32, 2.7)],
          "c2": [(1, 1.0), (2, 1.2), (4, 1.9), (8, 2.2), (16, 2.3), (32, 2.9)]}
    down = {k: [(p, -v) for p, v in pts] for k, pts in up.items()}
    assert trend_verdict(up)[0] == SUPPORTED
    assert trend_verdict(down)[0] == REFUTED
    assert trend_verdict({"c1": up["c1"], "c2": down["c2"]})[0] == MIXED
    # three points in order are not significant evidence (exact p = 1/3 two-sided)
    assert trend_verdict({"c": [(1, 1.0), (2, 2.0), (4, 3.0)]})[0] == INCONCLUSIVE
    rho, p = spearman_exact([1, 2, 3], [1, 2, 3])
    assert rho == pytest.approx(1.0) and p == pytest.approx(1 / 3)


def test_exact_verdict():
    assert exact_verdict([("a", 1.0, 1.0)])[0] == SUPPORTED
    assert exact_verdict([("a", 1.0, 1.0), ("b", 0.5, 0.51)])[0] == REFUTED


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.b(torch.relu(self.a(x))) + self.c(x)  # longest path: a -> b


@pytest.mark.parametrize("module,depth", [
    (nn.Conv2d(4, 4, 3), 1),
    (conv_bn(8, 16, 1, ConvKind("dwc_pwc")), 2),
    (conv_bn(8, 16, 1, ConvKind("gwc_pwc", groups=4)), 2),
    (nn.Sequential(nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 1)), 3),
    (Residual(), 2),
    (nn.Sequential(nn.ReLU(), nn.Flatten()), 0),
])
def test_depth_of_known_blocks(module, depth):
    assert sequential_depth(module) == depth


@pytest.mark.parametrize("impl", ["masked", "grouped", "branches", "folded"])
def test_hetconv_is_one_sequential_layer_in_every_impl(impl):
    assert sequential_depth(HetConv2d(16, 16, 3, 1, 4, impl=impl)) == 1
    assert sequential_depth(HetConv2d(16, 16, 3, 1, 4, impl=impl), expand_hetconv=False) == 1


def test_layer_op_macs_match_counters():
    from bench.costs import count_module
    for op in (LayerOp("standard"), LayerOp("gwc_pwc", 4), LayerOp("dwc_pwc"), LayerOp("hetconv", 4, "branches")):
        counted = count_module(op.build(32), torch.randn(1, 32, 8, 8))["executed_macs"]
        assert counted == op.paper_macs(32, 8), op.label


def test_tiny_study_end_to_end(tmp_path):
    from bench.claims.base import StudyContext, run_study
    from bench.claims.hetconv import HetConvStudy
    from bench.claims.hetconv_config import QUICK
    from bench.claims.report_base import ReportFolder
    from devices.registry import get_device

    cfg = replace(QUICK, shapes=((16, 8),), parts=(1, 4, 0), impls=("grouped", "folded"),
                  network_models=("vgg16_cifar_pc", "vgg16_cifar_dwc_pwc"), min_samples=5, group_max_time_s=0.5,
                  calibration_samples=3, calibration_max_time_s=0.3, warmup_max_time_s=0.3, op_case=(16, 8, 1),
                  op_iterations=2)
    seen = []
    device = get_device("cpu")
    study = HetConvStudy()
    run = run_study(study, device, cfg, StudyContext(device.name, device.fingerprint(threads=1),
                                                     on_result=lambda cell, m: seen.append(cell.model)))
    result = run.result
    claims = {v.claim: v.verdict for v in run.verdicts}
    assert claims["MACs ratio to a standard conv is 1/P + (1 - 1/P)/K^2"] == SUPPORTED
    assert claims["HetConv adds no sequential layer; DWC+PWC and GWC+PWC add one"] == SUPPORTED
    streams = next(v for v in run.verdicts if "separate streams" in v.claim)
    assert streams.verdict == NOT_MEASURED and "grouped_streams" in streams.evidence[0]
    assert "cuda" not in " ".join(streams.evidence).lower()  # says what is missing, not which device
    # every cell went to the store callback: the compared ones and, marked, the calibration pass
    compared = [m for m in seen if not m.startswith("calibration:")]
    assert len(compared) == len(result.layers) + len(result.networks) and "vgg16_cifar_pc" in compared
    assert len(seen) - len(compared) == len(result.calibration) + len(result.networks)
    # one compared HetConv impl per (case, P), chosen by calibration between the two candidates
    hetconv = [r for r in result.layers if r.op.kind == "hetconv"]
    assert sorted(r.op.part for r in hetconv) == [1, 4, 16] and all(r.chosen_by == "calibration" for r in hetconv)
    folder = ReportFolder(tmp_path, study.report_files(run.target, run.fingerprint))
    md = study.write_report(run, folder)
    text = md.read_text()
    assert "| claim | what was measured | verdict |" in text
    assert run.fingerprint["cpu_model"] in text and run.fingerprint["torch"] in text  # provenance header
    assert "HetConv impl chosen by calibration" in text
    assert (tmp_path / md.name.replace(".md", "-speedup.png")).stat().st_size > 1000
    rows = (tmp_path / md.name.replace(".md", "-layers.csv")).read_text().count("\n")
    assert rows == len(result.layers) + len(result.calibration) + len(result.networks) + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(study.report_files(run.target, run.fingerprint))
    # the per-op section: every operator of the breakdown, its conv parts' MACs those of the operator
    assert "## Per-op breakdown at C16 H8 batch 1" in text
    ops = {r.op.label: r for r in result.op_breakdown.rows}
    assert {"standard", "hetconv P4 [grouped]", "hetconv P4 [folded]", "DWC+PWC"} <= set(ops)
    for label in ("standard", "DWC+PWC"):
        assert f"| {label} |" in text
        assert sum(ops[label].conv_macs.values()) == ops[label].op.paper_macs(16, 8), label
    hw, m = 8 * 8, 16  # grouped P4: a KxK conv over M/P channels per filter, then a 1x1 conv over all M
    assert ops["hetconv P4 [grouped]"].conv_macs == {"KxK conv": hw * m * (m // 4) * 9, "1x1 conv": hw * m * m}
    assert ops["standard"].parts_ms["1x1 conv"] == 0 and ops["DWC+PWC"].parts_ms["1x1 conv"] > 0
