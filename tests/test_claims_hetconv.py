"""HetConv claim study: verdict logic on synthetic samples, depth on blocks of known depth,
and a tiny end-to-end study on CPU."""
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn

from bench.claims.depth import sequential_depth
from bench.claims.layer_ops import LayerOp
from bench.claims.verdicts import (EQUIVALENT, INCONCLUSIVE, MIXED, NOT_MEASURED, REFUTED, SUPPORTED, UNDECIDED,
                                   Timed, exact_verdict, faster_verdict, pair_outcome, spearman_exact,
                                   trend_verdict)
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
    # no difference, measured precisely: shown to be within the ±2 % margin; measured loosely: undecided
    a, b = timed("c", "a", 1.0, seed=1), timed("c", "b", 1.0, seed=2)
    assert faster_verdict([(a, b)])[0] == EQUIVALENT
    a, b = timed("c", "a", 1.0, spread=0.2, seed=1), timed("c", "b", 1.0, spread=0.2, seed=2)
    assert faster_verdict([(a, b)])[0] == INCONCLUSIVE
    assert faster_verdict([])[0] == NOT_MEASURED


def test_significant_effect_below_the_margin_is_not_called_faster_or_slower():
    # 1 % slower with 0.3 % noise over 400 samples: significant, but inside the ±2 % practical margin
    a, b = timed("c", "a", 1.01, n=400, spread=0.003, seed=5), timed("c", "b", 1.0, n=400, spread=0.003, seed=6)
    assert pair_outcome(a.samples_ms, b.samples_ms).significant
    verdict, lines = faster_verdict([(a, b)])
    assert verdict == EQUIVALENT and "equivalent within ±2%" in lines[0]
    # the same 1 % effect with a 0.5 % margin is a decided "slower"
    assert faster_verdict([(a, b)], margin=0.005)[0] == REFUTED


def test_effect_straddling_the_margin_is_undecided_per_pair_and_refutes_only_the_claim_it_cannot_support():
    # 2 % slower: significant, but the CI reaches into the margin band on one side
    a, b = timed("c", "a", 1.02, n=200, spread=0.02, seed=7), timed("c", "b", 1.0, n=200, spread=0.02, seed=8)
    out = pair_outcome(a.samples_ms, b.samples_ms)
    assert out.outcome == UNDECIDED
    # "a is faster than b": a speed-up beyond the margin is ruled out (one-sided), so the claim is refuted ...
    verdict, lines = faster_verdict([(a, b)])
    assert verdict == REFUTED and "speed-up beyond it is ruled out" in lines[0]
    # ... while "b is faster than a" (ratio ~0.98, on the margin) stays undecided: never flipped to supported
    assert faster_verdict([(b, a)])[0] == INCONCLUSIVE


def test_slower_and_within_margin_pairs_together_refute_a_faster_claim():
    # one pair clearly slower, one equivalent: neither supports "faster", so the claim is refuted, not mixed
    slow_a, slow_b = timed("c1", "a", 1.10, n=200, spread=0.01, seed=11), timed("c1", "b", 1.0, n=200, spread=0.01, seed=12)
    eq_a, eq_b = timed("c2", "a", 1.0, n=400, spread=0.003, seed=13), timed("c2", "b", 1.0, n=400, spread=0.003, seed=14)
    verdict, lines = faster_verdict([(slow_a, slow_b), (eq_a, eq_b)])
    assert verdict == REFUTED
    assert "slower in 1/2, within ±2% in 1/2" in lines[0] and "ruled out in 2/2" in lines[0]
    # a pair that is faster beyond the margin next to them makes it mixed
    fast_a, fast_b = timed("c3", "a", 0.8, n=200, spread=0.01, seed=15), timed("c3", "b", 1.0, n=200, spread=0.01, seed=16)
    assert faster_verdict([(slow_a, slow_b), (fast_a, fast_b)])[0] == MIXED


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
                  op_iterations=2, group_min_time_s=0.0)
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


# -- sequential sampling: more rounds while a pair is undecided ---------------------------------

class FakeGroup:
    """Two operators with known latency distributions, timed in rounds on a fake clock."""

    def __init__(self, centers, spread, seed=0):
        self.centers, self.spread = centers, spread
        self.rng = np.random.default_rng(seed)
        self.now = 0.0
        self.rounds = []  # rounds asked for, per extension

    def clock(self):
        return self.now

    def draw(self, rounds):
        out = [list(c * (1 + self.spread * self.rng.standard_normal(rounds))) for c in self.centers]
        self.now += rounds * sum(self.centers) / 1000  # a round takes the sum of its operators' ms
        return out

    def measure(self, rounds, budget_s):
        self.rounds.append(rounds)
        return self.draw(rounds)


def test_borderline_effect_gets_more_rounds_and_then_a_decision():
    from bench.claims.sequential import STOP_DECIDED, extend_until_decided
    from bench.claims.verdicts import SLOWER

    extended = 0
    for seed in range(6):  # 4 % slower, 4 % noise: 10 rounds often cannot tell
        g = FakeGroup((1.04, 1.0), spread=0.04, seed=seed)
        seq = extend_until_decided(g.draw(10), [(0, 1)], g.measure, looks=3, max_rounds=500, max_time_s=60,
                                   clock=g.clock)
        assert seq.stop == STOP_DECIDED and seq.outcomes == [SLOWER] and seq.note() == "", seed
        assert len(seq.samples[0]) == 10 + sum(g.rounds) == len(seq.samples[1])
        assert seq.looks == 1 + len(g.rounds)  # one look per extension, after the first
        extended += bool(g.rounds)
    assert extended >= 3  # most needed more rounds before the decision
    # a clear effect is decided at the first look, without extra rounds
    g = FakeGroup((1.5, 1.0), spread=0.03, seed=2)
    seq = extend_until_decided(g.draw(10), [(0, 1)], g.measure, looks=3, max_rounds=500, max_time_s=60,
                               clock=g.clock)
    assert seq.looks == 1 and g.rounds == [] and seq.stop == STOP_DECIDED


def test_every_look_tests_at_alpha_split_over_the_looks(monkeypatch):
    import bench.claims.sequential as sequential
    from bench.claims.sequential import look_alpha

    seen = []
    real = sequential.pair_outcome

    def spy(cand, ref, alpha, margin):
        seen.append(alpha)
        return real(cand, ref, alpha, margin)

    monkeypatch.setattr(sequential, "pair_outcome", spy)
    g = FakeGroup((1.0, 1.0), spread=0.3, seed=3)  # never decided: uses every look
    seq = sequential.extend_until_decided(g.draw(10), [(0, 1)], g.measure, looks=4, alpha=0.01, max_rounds=10_000,
                                          max_time_s=1e9, clock=g.clock)
    assert seq.looks == 4 and seq.stop == sequential.STOP_LOOKS and "undecided" in seq.note()
    assert seen == [pytest.approx(0.01 / 4)] * 4 and look_alpha(0.01, 4) == pytest.approx(0.0025)
    with pytest.raises(ValueError):
        look_alpha(0.01, 0)


def test_extension_respects_the_time_and_round_caps_on_a_fake_clock():
    from bench.claims.sequential import STOP_ROUNDS, STOP_TIME, extend_until_decided

    # rounds of 200 ms and a 3 s extension cap: 4x growth would want 30 more rounds (6 s)
    g = FakeGroup((100.0, 100.0), spread=0.3, seed=4)
    first = g.draw(10)
    start = g.now
    seq = extend_until_decided(first, [(0, 1)], g.measure, looks=5, max_rounds=10_000, max_time_s=3.0,
                               clock=g.clock)
    assert seq.stop == STOP_TIME and g.now - start <= 3.0 and g.rounds
    # a round cap: never more rounds in all than max_rounds
    g = FakeGroup((1.0, 1.0), spread=0.3, seed=5)
    seq = extend_until_decided(g.draw(10), [(0, 1)], g.measure, looks=5, max_rounds=55, max_time_s=1e9,
                               clock=g.clock)
    assert seq.stop == STOP_ROUNDS and len(seq.samples[0]) <= 55 and g.rounds


def test_study_verdicts_use_the_split_alpha(monkeypatch):
    import bench.claims.hetconv_study as hs
    from bench.claims.hetconv_config import QUICK
    from bench.claims.verdicts import ALPHA

    alphas = []
    monkeypatch.setattr(hs, "faster_verdict", lambda pairs, alpha: (alphas.append(alpha), (NOT_MEASURED, []))[1])
    hs.compute_verdicts(hs.StudyResult(replace(QUICK, looks=3), "cpu", {}))
    assert alphas and all(a == pytest.approx(ALPHA / 3) for a in alphas)


def test_decision_pairs_of_a_layer_group():
    from bench.claims.hetconv_config import QUICK
    from bench.claims.hetconv_study import compared_ops, choose_impls, layer_pairs, network_pairs, ops_for

    cfg = replace(QUICK, parts=(1, 4, 0), impls=("grouped", "folded"))
    cands = ops_for(16, cfg)
    ops = compared_ops(cands, choose_impls(cands, [1.0] * len(cands), cfg.impls), ())
    pairs = {(ops[c][0].label, ops[r][0].label) for c, r in layer_pairs(ops, 16, cfg)}
    het = {op.part: op.label for op, how in ops if how}
    std = next(op.label for op, _ in ops if op.kind == "standard")
    dwc = next(op.label for op, _ in ops if op.kind == "dwc_pwc")
    assert pairs == {(het[4], std), (het[16], std), (het[16], dwc)}  # P1 is a standard conv: not compared
    assert network_pairs(["vgg16_cifar", "vgg16_cifar_pc", "vgg16_cifar_dwc_pwc"]) == [(1, 2)]
    assert network_pairs(["vgg16_cifar"]) == []
# --- claim charts: at most MAX_SERIES series per panel, bars linear from zero, at most MAX_WIDTH_PX ----

def _many_cases_study(n_cases: int = 16):
    """A StudyResult with `n_cases` cases (standard, HetConv P=2 and P=M, DWC+PWC), random samples."""
    import random

    from bench.claims.hetconv_config import QUICK
    from bench.claims.hetconv_study import LayerResult, StudyResult
    from bench.claims.layer_ops import LayerOp

    rng = random.Random(1)
    layers = []
    for i in range(n_cases):
        channels, size = 16 * (1 + i % 4), 4 * (1 + i // 4)
        for op in (LayerOp("standard"), LayerOp("hetconv", 2, "grouped"), LayerOp("hetconv", channels, "grouped"),
                   LayerOp("dwc_pwc")):
            base = rng.uniform(0.05, 5.0)
            layers.append(LayerResult(channels, size, 1, op, op.paper_macs(channels, size), 1,
                                      [base * rng.uniform(0.97, 1.03) for _ in range(9)],
                                      chosen_by="calibration" if op.kind == "hetconv" else ""))
    return StudyResult(config=QUICK, target="cpu", fingerprint={}, layers=layers)


def test_claim_charts_split_series_use_linear_bars_from_zero_and_stay_narrow():
    from bench.claims.hetconv_report import MAX_SERIES, MAX_WIDTH_PX, matched_figure, speedup_figure

    study = _many_cases_study(16)
    speed = speedup_figure(study, "t", "f")
    assert len(speed.axes) >= 2
    cases = [line.get_label() for ax in speed.axes for line in ax.get_lines() if line.get_label().startswith("C")]
    assert sorted(cases) == sorted({r.case for r in study.layers})  # every case drawn once
    for ax in speed.axes:
        lines = [line for line in ax.get_lines() if line.get_label().startswith("C")]
        assert len(lines) <= MAX_SERIES
        assert len({line.get_color() for line in lines}) == len(lines)  # no colour repeats in a panel
    matched = matched_figure(study, "t", "f")
    assert len(matched.axes) >= 2
    for ax in matched.axes:
        assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
        assert len(ax.get_xticks()) <= MAX_SERIES
    for fig in (speed, matched):
        assert fig.get_figwidth() * fig.dpi <= MAX_WIDTH_PX


def test_a_counterexample_refutes_a_claim_over_every_case_while_undecided_cases_are_counted():
    slow_a, slow_b = timed("c1", "a", 1.10, n=200, spread=0.01, seed=21), timed("c1", "b", 1.0, n=200, spread=0.01, seed=22)
    noisy_a, noisy_b = timed("c2", "a", 1.0, n=8, spread=0.3, seed=23), timed("c2", "b", 1.0, n=8, spread=0.3, seed=24)
    assert pair_outcome(noisy_a.samples_ms, noisy_b.samples_ms).outcome == UNDECIDED
    verdict, lines = faster_verdict([(slow_a, slow_b), (noisy_a, noisy_b)])
    assert verdict == REFUTED and "faster in 0/2" in lines[0] and "ruled out in 1/2" in lines[0]
    # faster where decided, undecided elsewhere: not every case shown, so not supported
    fast_a, fast_b = timed("c3", "a", 0.8, n=200, spread=0.01, seed=25), timed("c3", "b", 1.0, n=200, spread=0.01, seed=26)
    assert faster_verdict([(fast_a, fast_b), (noisy_a, noisy_b)])[0] == MIXED
