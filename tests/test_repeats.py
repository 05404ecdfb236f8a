"""Repeats: `--repeat` reruns the command in fresh processes; claim verdicts are published only
when every repeat agrees, and never when the effect is within the between-repeat spread."""
import sys

import pytest

from bench.claims.repeats import UNSTABLE, aggregate, render_markdown, summary_of
from bench.claims.verdicts import INCONCLUSIVE, MIXED, REFUTED, SUPPORTED, Verdict
from bench.errors import BenchError
from bench.repeat import check_repeat, run_repeats, without_repeat

CLAIM = "PC is faster than DWC+PWC"
PAIR = "C128 H16 b1: PC / DWC+PWC"


def summary(verdict, ratio=None, claim=CLAIM):
    return summary_of([Verdict(claim, "m", verdict, [], {} if ratio is None else {PAIR: ratio})])


def test_agreeing_repeats_publish_the_verdict():
    # a clear effect (ratios far from 1) with a small spread
    (v,) = aggregate([summary(SUPPORTED, r) for r in (0.60, 0.61, 0.62)])
    assert v.verdict == SUPPORTED and v.per_repeat == [SUPPORTED] * 3
    (s,) = v.spreads
    assert s.values == (0.60, 0.61, 0.62) and s.spread == pytest.approx(max(s.values) - min(s.values))


def test_disagreeing_repeats_are_unstable_with_each_verdict_shown():
    per = [MIXED, MIXED, REFUTED]  # the three quick runs
    (v,) = aggregate([summary(x, r) for x, r in zip(per, (1.01, 0.99, 1.03))])
    assert v.verdict == UNSTABLE and v.per_repeat == per
    text = render_markdown([v], 3)
    assert UNSTABLE in text and "mixed, mixed, refuted" in text


def test_effect_within_the_spread_of_the_claims_boundary_is_never_supported_or_refuted():
    # "faster by more than 2 %" has its boundary at ratio 1/1.02: medians closer to it than the spread are not published
    ratios = (1.00, 0.985, 1.02)  # all "refuted", but a rerun could land below 1/1.02
    (v,) = aggregate([summary(REFUTED, r) for r in ratios])
    assert v.verdict == INCONCLUSIVE and "spread" in v.reason
    (s,) = v.spreads
    assert s.beyond_boundary(REFUTED) <= s.spread
    ratios = (0.97, 0.99, 0.95)  # all "supported": 3 % faster, 4 % spread
    (v,) = aggregate([summary(SUPPORTED, r) for r in ratios])
    assert v.verdict == INCONCLUSIVE


def test_effect_larger_than_the_spread_stands():
    (v,) = aggregate([summary(REFUTED, r) for r in (1.30, 1.31, 1.29)])
    assert v.verdict == REFUTED and v.reason == ""
    # 1-5 % slower: far from any speed-up, although the spread (4 %) exceeds the 3 % slow-down itself
    (v,) = aggregate([summary(REFUTED, r) for r in (1.03, 1.01, 1.05)])
    assert v.verdict == REFUTED


def test_verdicts_without_ratios_and_a_single_repeat():
    (v,) = aggregate([summary(SUPPORTED)])
    assert v.verdict == SUPPORTED and v.spreads == []
    assert aggregate([]) == []


def test_claim_missing_from_a_repeat_is_unstable():
    (v,) = aggregate([summary(SUPPORTED, 0.5), {"verdicts": []}])
    assert v.verdict == UNSTABLE and v.per_repeat == [SUPPORTED, "missing"]


def test_without_repeat_strips_both_spellings():
    assert without_repeat(["run", "--repeat", "3", "--device", "cpu", "--repeat=2"]) == ["run", "--device", "cpu"]


def test_run_repeats_starts_fresh_processes_of_the_same_command():
    seen = []
    codes = run_repeats(["claim", "hetconv", "--repeat", "2", "--quick"], 2, lambda k: ["--out", f"o/repeat-{k}"],
                        runner=lambda cmd: seen.append(cmd) or 0)
    assert codes == [0, 0]
    assert seen == [[sys.executable, "-m", "bench", "claim", "hetconv", "--quick", "--out", f"o/repeat-{k}"]
                    for k in (1, 2)]


def test_bad_repeat_count():
    assert check_repeat(None) == 1
    with pytest.raises(BenchError):
        check_repeat(0)


@pytest.mark.parametrize("cmd", [["run", "--device", "cpu", "--models", "resnet20_cifar"], ["claim", "hetconv"]])
def test_cli_refuses_repeat_zero(tmp_path, cmd):
    from bench.cli import main

    assert main([*cmd, "--db", str(tmp_path / "r.sqlite"), "--repeat", "0"]) == 2


def test_cell_spreads_over_repeated_runs(tmp_path):
    from bench.grid import Cell
    from bench.repeat import cell_spreads
    from bench.stats import summarize
    from bench.store import ResultStore

    cell, other = Cell("resnet20_cifar", threads=1), Cell("resnet32_cifar", threads=1)
    p50s = [1.0, 1.2, 1.1]
    with ResultStore(tmp_path / "r.sqlite") as store:
        runs = []
        for i, p50 in enumerate(p50s):
            run_id = store.start_run("cpu", {}, {})
            store.add_result(run_id, cell, summarize([p50] * 5), [p50] * 5, extra={"contended": i == 1})
            if i == 0:  # a cell missing from the other repeats has no spread
                store.add_result(run_id, other, summarize([2.0] * 5), [2.0] * 5)
            runs.append(run_id)
        (row,) = cell_spreads(store, runs)
    assert row["cell"] == cell.label() and row["runs"] == 3 and row["contended_runs"] == 1
    assert (row["p50_min_ms"], row["p50_max_ms"]) == (min(p50s), max(p50s))
    assert row["spread"] == f"{(max(p50s) - min(p50s)) / sorted(p50s)[1]:.1%}"


def test_one_robust_counterexample_keeps_a_refutation_while_a_noisy_pair_does_not_publish_support():
    def two(verdict, r1, r2):
        return summary_of([Verdict(CLAIM, "m", verdict, [], {PAIR: r1, "C256 H14 b1: PC / DWC+PWC": r2})])

    # pair 1 robustly slower; pair 2 noisy around 1: the refutation stands on pair 1
    (v,) = aggregate([two(REFUTED, 1.06, x) for x in (0.99, 1.05, 1.01)])
    assert v.verdict == REFUTED
    # neither pair far enough from the boundary: inconclusive
    (v,) = aggregate([two(REFUTED, a, b) for a, b in ((1.00, 0.99), (0.985, 1.05), (1.02, 1.01))])
    assert v.verdict == INCONCLUSIVE
    # support needs every pair beyond its spread
    (v,) = aggregate([two(SUPPORTED, 0.60, x) for x in (0.97, 0.99, 0.95)])
    assert v.verdict == INCONCLUSIVE


def test_cell_spreads_with_cells_with_and_without_impl(tmp_path):
    # `bench run --models default --repeat 3` crashed printing its spreads: a frame mixing an impl and NULL
    # reads NULL as NaN, which Cell.from_mapping took for an impl and Cell.label could not join
    from bench.grid import Cell
    from bench.repeat import cell_spreads
    from bench.stats import summarize
    from bench.store import ResultStore

    plain, grouped = Cell("resnet20_cifar", threads=1), Cell("vgg16_cifar_p4", impl="grouped", threads=1)
    with ResultStore(tmp_path / "r.sqlite") as store:
        runs = []
        for p50 in (1.0, 1.1):
            run_id = store.start_run("cpu", {}, {})
            store.add_result(run_id, plain, summarize([p50] * 5), [p50] * 5)
            store.add_result(run_id, grouped, summarize([p50 * 2] * 5), [p50 * 2] * 5)
            runs.append(run_id)
        rows = cell_spreads(store, runs)
    assert sorted(r["cell"] for r in rows) == sorted([plain.label(), grouped.label()])


def test_cell_from_a_frame_row_reads_nan_impl_as_none():
    from bench.cell import Cell

    row = {"model": "resnet20_cifar", "batch": 1, "dtype": "fp32", "layout": "nchw", "impl": float("nan"),
           "threads": 1.0, "compile": 0}
    assert Cell.from_mapping(row).impl is None and "nan" not in Cell.from_mapping(row).label()
