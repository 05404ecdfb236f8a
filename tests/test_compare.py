"""`bench compare` and bench/compare.py on synthetic samples: statistics, verdicts, thresholds,
fingerprint matching, sources (run id, .sqlite, JSON), report text and exit codes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bench.cell import Cell
from bench.cli import main
from bench.compare import (
    VERDICT_FASTER, VERDICT_INCONCLUSIVE, VERDICT_NOT_COMPARABLE, VERDICT_SLOWER, VERDICT_UNCHANGED, CellData,
    RunData, Thresholds, build_thresholds, compare_cell, compare_runs, match_fingerprints, pool_runs,
)
from bench.errors import BenchError
from bench.store import ResultStore

FP = {"cpu_model": "Test CPU 9000", "arch": "x86_64", "torch": "2.14.1", "os": "Linux", "python": "3.12.0",
      "cores_logical": 2, "threads": 1, "cpu_freq_mhz": 2400.0, "git_commit": "aaa", "device": "cpu"}


def latency(n: int = 400, scale: float = 1.0, seed: int = 0, median_ms: float = 10.0) -> list[float]:
    """Right-skewed synthetic latencies (lognormal, ~3 % spread) with the given median x scale."""
    rng = np.random.default_rng(seed)
    return list(median_ms * scale * rng.lognormal(0.0, 0.03, n))


def cell(samples, model="resnet20_cifar", status="ok", **kw) -> CellData:
    base = dict(model=model, batch=1, dtype="fp32", layout="nchw", impl=None, threads=1, compile=False)
    base.update(kw)
    data = {k: base.pop(k) for k in ("message", "impl_ran") if k in base}
    return CellData(Cell(**base), status=status, samples_ms=list(samples), **data)


def run_data(cells: list[CellData], fp=None, label="run", interleaved=False) -> RunData:
    return RunData(label=label, run_ids=[label], target="cpu", fingerprint=dict(fp or FP), git_commit="aaa",
                   created_at="2026-01-01T00:00:00+00:00", cells={c.key(): c for c in cells}, interleaved=interleaved)


# -- statistics and verdicts --------------------------------------------------------------------
# Single runs per side are judged on their samples only when the sides were interleaved (one
# process alternating calls, like `bench claim` or benchmarks/aa_false_alarms.py): `interleaved=True`.

def test_ten_percent_slowdown_is_a_regression():
    c = compare_cell(cell(latency(seed=1)), cell(latency(scale=1.10, seed=2)), threshold=0.05, interleaved=True)
    assert c.verdict == VERDICT_SLOWER and c.regression
    assert 1.08 < c.ratio < 1.12 and c.ci_low > 1.05 and c.p_value < 0.01


def test_two_percent_slowdown_is_slower_but_not_a_regression():
    c = compare_cell(cell(latency(seed=1)), cell(latency(scale=1.02, seed=2)), threshold=0.05, interleaved=True)
    assert c.verdict == VERDICT_SLOWER and not c.regression
    assert "within the 5.0% threshold" in c.note


def test_same_distribution_is_unchanged_and_faster_is_faster():
    same = compare_cell(cell(latency(seed=1)), cell(latency(seed=2)), threshold=0.05, interleaved=True)
    assert same.verdict == VERDICT_UNCHANGED and not same.regression
    fast = compare_cell(cell(latency(seed=1)), cell(latency(scale=0.8, seed=2)), threshold=0.05, interleaved=True)
    assert fast.verdict == VERDICT_FASTER and not fast.regression and fast.ratio < 0.85


def test_large_but_insignificant_slowdown_is_not_a_regression():
    # three wildly spread samples each: the median moved 20 % but nothing is significant
    c = compare_cell(cell([10.0, 30.0, 5.0]), cell([12.0, 35.0, 4.0]), threshold=0.05, interleaved=True)
    assert c.verdict == VERDICT_UNCHANGED and not c.regression
    assert "not significant" in c.note


@pytest.mark.parametrize("base, new, reason", [
    (None, cell(latency()), "only in NEW"),
    (cell(latency()), None, "only in BASE"),
    (cell([], status="error", message="boom"), cell(latency()), "BASE error: boom"),
    (cell(latency()), cell([], status="oom"), "NEW oom"),
    (cell([1.0]), cell(latency()), "BASE has 1 sample(s)"),
])
def test_not_comparable_cells_say_why(base, new, reason):
    c = compare_cell(base, new, threshold=0.05, interleaved=True)
    assert c.verdict == VERDICT_NOT_COMPARABLE and not c.regression
    assert c.note == reason


def test_compare_runs_matches_cells_and_sorts_regressions_first():
    base = run_data([cell(latency(seed=1), model="a_model"), cell(latency(seed=3), model="z_model"),
                     cell(latency(seed=5), model="z_model", batch=8)], interleaved=True)
    new = run_data([cell(latency(seed=2), model="a_model"), cell(latency(scale=1.2, seed=4), model="z_model"),
                    cell(latency(seed=6), model="new_model")], interleaved=True)
    cmp = compare_runs(base, new)
    assert [(c.model, c.batch) for c in cmp.cells][0] == ("z_model", 1)
    assert [c.model for c in cmp.regressions] == ["z_model"]
    counts = cmp.counts()
    assert counts == {VERDICT_SLOWER: 1, VERDICT_FASTER: 0, VERDICT_UNCHANGED: 1, VERDICT_INCONCLUSIVE: 0,
                      VERDICT_NOT_COMPARABLE: 2}
    assert "1 regression(s)" in cmp.summary_line()


def test_changed_default_impl_still_matches_and_is_shown():
    base = run_data([cell(latency(seed=1), impl_ran="grouped")])
    new = run_data([cell(latency(seed=2), impl_ran="masked")])
    (c,) = compare_runs(base, new).cells
    assert c.verdict != VERDICT_NOT_COMPARABLE and c.impl == "grouped -> masked"


def test_no_common_cell_is_a_usage_error():
    with pytest.raises(BenchError, match="no cell in common"):
        compare_runs(run_data([cell(latency(), model="a")]), run_data([cell(latency(), model="b")]))


# -- thresholds ---------------------------------------------------------------------------------

def test_per_model_threshold_override_changes_the_gate():
    base = run_data([cell(latency(seed=1), model="vgg16_cifar_p4"), cell(latency(seed=3), model="resnet20_cifar")],
                    interleaved=True)
    new = run_data([cell(latency(scale=1.10, seed=2), model="vgg16_cifar_p4"),
                    cell(latency(scale=1.10, seed=4), model="resnet20_cifar")], interleaved=True)
    cmp = compare_runs(base, new, build_thresholds(overrides=["vgg16_cifar*=15%"]))
    flagged = {c.model: c.regression for c in cmp.cells}
    assert flagged == {"vgg16_cifar_p4": False, "resnet20_cifar": True}


def test_threshold_sources_and_precedence(tmp_path):
    toml = tmp_path / "t.toml"
    toml.write_text('[thresholds]\ndefault = "3%"\n"vgg*" = "10%"\nresnet20_cifar = 0.2\n')
    js = tmp_path / "t.json"
    js.write_text(json.dumps({"vgg*": "12%"}))
    th = build_thresholds(None, ["resnet20_cifar=7%"], [str(toml), str(js)])
    assert th.default == pytest.approx(0.03)
    assert th.for_model("vgg16_cifar") == pytest.approx(0.12)  # the later file wins
    assert th.for_model("resnet20_cifar") == pytest.approx(0.07)  # --threshold-for wins over files
    assert th.for_model("mobilenet_cifar") == pytest.approx(0.03)
    assert build_thresholds("8%", [], [str(toml)]).default == pytest.approx(0.08)
    assert Thresholds(overrides=(("res*", 0.2), ("resnet20_cifar", 0.1))).for_model("resnet20_cifar") == 0.1


@pytest.mark.parametrize("kwargs, text", [
    (dict(default="fast"), "is not a percentage"),
    (dict(default="-5%"), "must be between"),
    (dict(overrides=["resnet20_cifar"]), "is not MODEL=PCT"),
    (dict(overrides=["=5%"]), "is not MODEL=PCT"),
    (dict(files=["/nonexistent/t.toml"]), "cannot read"),
])
def test_bad_thresholds_raise_one_line_errors(kwargs, text):
    with pytest.raises(BenchError, match=text):
        build_thresholds(**kwargs)


def test_bad_threshold_file_contents(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(BenchError, match="not valid TOML"):
        build_thresholds(files=[str(bad)])
    nested = tmp_path / "n.json"
    nested.write_text(json.dumps({"vgg*": {"x": 1}}))
    with pytest.raises(BenchError, match="must map model names"):
        build_thresholds(files=[str(nested)])


# -- fingerprints -------------------------------------------------------------------------------

def test_jitter_fields_are_ignored_but_reported():
    other = {**FP, "cpu_freq_mhz": 3100.0, "git_commit": "bbb-dirty"}
    check = match_fingerprints(FP, other)
    assert check.ok
    assert set(check.jittered) == {"cpu_freq_mhz", "git_commit"}


def test_differing_fingerprint_refuses_listing_fields_unless_forced():
    other = {**FP, "cpu_model": "Other CPU", "torch": "2.15.0", "cpu_freq_mhz": 1.0}
    base, new = run_data([cell(latency(seed=1))]), run_data([cell(latency(seed=2))], fp=other)
    with pytest.raises(BenchError) as exc:
        compare_runs(base, new)
    msg = str(exc.value)
    assert exc.value.code == 2
    assert "cpu_model: 'Test CPU 9000' -> 'Other CPU'" in msg and "torch: '2.14.1' -> '2.15.0'" in msg
    assert "cpu_freq_mhz" not in msg and "--force" in msg
    forced = compare_runs(base, new, force=True)
    assert forced.forced and set(forced.fingerprint.differing) == {"cpu_model", "torch"}


def test_field_missing_on_one_side_counts_as_a_difference():
    fp = dict(FP)
    fp.pop("torch")
    assert set(match_fingerprints(FP, fp).differing) == {"torch"}


def test_pool_runs_concatenates_samples_and_keeps_failures():
    r1 = run_data([cell([1.0, 2.0]), cell([3.0, 4.0], model="m2")], label="r1")
    r2 = run_data([cell([5.0]), cell([], model="m2", status="error", message="x")], label="r2")
    pooled = pool_runs([r1, r2], "pooled")
    assert pooled.run_ids == ["r1", "r2"]
    by_model = {c.model: c for c in pooled.cells.values()}
    assert by_model["resnet20_cifar"].samples_ms == [1.0, 2.0, 5.0]
    assert by_model["m2"].status == "error"
    assert r1.cells[cell([]).key()].samples_ms == [1.0, 2.0]  # inputs are not modified
    with pytest.raises(BenchError, match="differ in cpu_model"):
        pool_runs([r1, run_data([cell([1.0])], fp={**FP, "cpu_model": "x"})], "pooled")


def _pooled(scales: list[float], seed: int) -> CellData:
    runs = [run_data([cell(latency(n=300, scale=sc, seed=seed + i))], label=f"r{seed + i}")
            for i, sc in enumerate(scales)]
    (only,) = pool_runs(runs, "pooled").cells.values()
    return only


def test_pooled_rounds_use_the_between_round_spread():
    # NEW's rounds (processes) disagree: -3 %, +10 %, +25 %. As flat samples the pooled +10 % looks
    # certain; with the spread between rounds in the CI it is not established
    base, new = _pooled([1.0, 1.0, 1.0], 1), _pooled([0.97, 1.10, 1.25], 10)
    scattered = compare_cell(base, new, threshold=0.05)
    assert scattered.ci_method == "rounds" and scattered.verdict == VERDICT_UNCHANGED and not scattered.regression
    assert scattered.ci_low < 1.0 < scattered.ci_high
    flat = compare_cell(cell(base.samples_ms), cell(new.samples_ms), threshold=0.05, interleaved=True)
    assert flat.ci_method == "samples" and flat.regression
    # a slowdown present in every round is still caught
    steady = compare_cell(_pooled([1.0, 1.01, 0.99], 20), _pooled([1.10, 1.09, 1.11], 30), threshold=0.05)
    assert steady.ci_method == "rounds" and steady.regression and steady.ci_low > 1.05


def test_rounds_are_paired_so_the_machines_drift_cancels():
    # the machine was 20 % slower in round 3 and 20 % faster in round 1, for both revisions alike
    base, new = _pooled([0.8, 1.0, 1.25], 1), _pooled([0.88, 1.10, 1.375], 10)
    c = compare_cell(base, new, threshold=0.05, interleaved=True)
    assert c.regression and 1.08 < c.ci_low and c.ci_high < 1.12
    from bench.significance import grouped_bootstrap_ratio_ci

    lo, hi = grouped_bootstrap_ratio_ci(base.sample_groups(), new.sample_groups(), paired=False)
    assert lo < 1.0 < hi  # unpaired, the drift would swamp the +10 %


def test_sample_groups_split_pooled_samples_back():
    pooled = _pooled([1.0, 2.0, 3.0], 1)
    groups = pooled.sample_groups()
    assert [len(g) for g in groups] == [300, 300, 300]
    assert [round(float(np.median(g))) for g in groups] == [10, 20, 30]
    assert cell([1.0, 2.0]).sample_groups() == [[1.0, 2.0]]


# -- gates that do not cry wolf -----------------------------------------------------------------

def _shifted_runs(n_runs: int, scale: float, seed: int, run_sd: float = 0.04) -> list[RunData]:
    """Separately made runs of one code: each run's whole distribution shifted by its own luck
    (lognormal, `run_sd` between runs), as back-to-back processes on a shared machine are."""
    shifts = np.random.default_rng(seed).lognormal(0.0, run_sd, n_runs)
    return [run_data([cell(latency(n=300, scale=scale * float(sh), seed=seed * 100 + i))], label=f"r{seed}-{i}")
            for i, sh in enumerate(shifts)]


def test_separate_single_runs_with_a_between_run_shift_are_inconclusive_not_regressions():
    # the reported A/A pair: identical code, NEW's process 6.4 % slower as a whole
    base, new = cell(latency(seed=1)), cell(latency(scale=1.064, seed=2))
    c = compare_cell(base, new, threshold=0.05)
    assert c.verdict == VERDICT_INCONCLUSIVE and not c.regression
    assert 1.05 < c.ratio < 1.08 and c.ci_low is None and c.p_value is None
    assert c.note.startswith("one run per side") and "bench regress" in c.note
    # judged on the samples alone (as if interleaved), the process shift looks like a certain regression
    assert compare_cell(base, new, threshold=0.05, interleaved=True).regression
    one_base = compare_cell(pool_runs(_shifted_runs(1, 1.0, 3), "b").cells[base.key()],
                            pool_runs(_shifted_runs(3, 1.10, 4), "n").cells[base.key()], threshold=0.05)
    assert one_base.verdict == VERDICT_INCONCLUSIVE and one_base.note.startswith("one run on BASE")


def test_pooled_aa_runs_with_between_run_shifts_are_not_called_regressions():
    flagged, called = 0, 0
    for trial in range(10):
        base = pool_runs(_shifted_runs(3, 1.0, 10 + trial), "A")
        new = pool_runs(_shifted_runs(3, 1.0, 50 + trial), "A'")
        (c,) = compare_runs(base, new).cells
        assert c.ci_method == "rounds" and c.runs_base == c.runs_new == 3
        flagged += c.regression
        called += c.verdict in (VERDICT_SLOWER, VERDICT_FASTER)
    assert flagged == 0
    flat_flags = sum(compare_cell(cell(pool_runs(_shifted_runs(3, 1.0, 10 + t), "A").cells[cell([]).key()].samples_ms),
                                  cell(pool_runs(_shifted_runs(3, 1.0, 50 + t), "A'").cells[cell([]).key()].samples_ms),
                                  threshold=0.0, interleaved=True).verdict != VERDICT_UNCHANGED for t in range(10))
    # treating two processes' samples as one population calls most of them "significant"; the two-level CI
    # calls fewer (with only 3 runs per side the bootstrap still understates the between-run spread)
    assert flat_flags >= 5 and called < flat_flags


def test_pooled_ten_percent_slowdown_is_still_caught():
    for trial in range(3):
        base = pool_runs(_shifted_runs(3, 1.0, 100 + trial, run_sd=0.01), "A")
        new = pool_runs(_shifted_runs(3, 1.10, 200 + trial, run_sd=0.01), "B")
        (c,) = compare_runs(base, new).cells
        assert c.verdict == VERDICT_SLOWER and c.regression and c.ci_low > 1.05


def test_gate_uses_the_ci_lower_bound_not_the_point_estimate():
    rng = np.random.default_rng(7)
    base = cell(list(10.0 * rng.lognormal(0.0, 0.15, 400)))
    new = cell(list(10.6 * rng.lognormal(0.0, 0.15, 400)))
    c = compare_cell(base, new, threshold=0.05, interleaved=True)
    assert c.ratio > 1.05 and 1.0 < c.ci_low < 1.05  # the setup: beyond 5 % but not established
    assert c.verdict == VERDICT_SLOWER and not c.regression
    assert "CI reaches below the 5.0% threshold" in c.note
    assert compare_cell(base, new, threshold=0.01, interleaved=True).regression  # clears a 1 % gate


# -- the command --------------------------------------------------------------------------------

def _store_run(store: ResultStore, scale: float, seed: int, fp=None, models=("resnet20_cifar", "mobilenet_cifar"),
               load=None):
    from bench.stats import summarize

    run_id = store.start_run("cpu", dict(fp or FP), {"grid": {}})
    for i, model in enumerate(models):
        samples = latency(scale=scale, seed=seed + i)
        store.add_result(run_id, dict(model=model, batch=1, dtype="fp32", layout="nchw", impl=None, threads=1,
                                      compile=False), summarize(samples), samples, {"macs": 1, "params": 1},
                         extra=load)
    store.finish_run(run_id)
    return run_id


@pytest.fixture
def db(tmp_path):
    """A store with six separately made runs: three of the base code, three 10 % slower."""
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        ids = [_store_run(store, 1.0, 10 * i) for i in range(1, 4)]
        ids += [_store_run(store, 1.10, 10 * i) for i in range(4, 7)]
    return path, ids


def test_cli_one_run_per_side_is_inconclusive_and_exits_0(db, capsys):
    path, (b1, b2, _, s1, _, _) = db
    for base, new in ((b1, b2), (b1, s1)):
        assert main(["compare", base, new, "--db", str(path)]) == 0
        out = capsys.readouterr().out
        assert "# fingerprints match" in out and "0 regression(s)" in out and "2 inconclusive" in out
        assert "INCONCLUSIVE 2 cell(s), not gated" in out and "bench regress" in out and "REGRESSION" not in out
    assert "+10" in out or "+9" in out  # the ratio is still reported


def test_cli_pooled_runs_gate_by_run_ids(db, capsys):
    path, (b1, b2, b3, s1, s2, s3) = db
    assert main(["compare", f"{b1},{b2}", f"{b3},latest~2", "--db", str(path)]) == 0  # A/A pooled: quiet
    assert "0 regression(s)" in capsys.readouterr().out
    assert main(["compare", f"{b1},{b2},{b3}", f"{s1},{s2},{s3}", "--db", str(path)]) == 1
    out = capsys.readouterr().out
    assert "2 regression(s)" in out and "# CIs: two-level bootstrap over the pooled runs (3 BASE, 3 NEW)" in out
    assert out.count("REGRESSION resnet20_cifar") == 1 and "CI lower bound > threshold 5.0%" in out
    assert main(["compare", f"{b1},{b2},{b3}", f"{s1},{s2},{s3}", "--db", str(path), "--threshold", "20%"]) == 0
    assert main(["compare", "latest~5,latest~4", "latest~1,latest", "--db", str(path)]) == 1
    assert main(["compare", f"{b1},{b1}", f"{s1},{s2}", "--db", str(path)]) == 2
    assert "names the same run twice" in capsys.readouterr().err


def test_cli_json_format_and_output_file(db, tmp_path, capsys):
    path, (b1, b2, b3, s1, s2, s3) = db
    report = tmp_path / "out" / "report.json"
    assert main(["compare", f"{b1},{b2},{b3}", f"{s1},{s2},{s3}", "--db", str(path), "--format", "json",
                 "--output", str(report)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["regressions"] == 2 and doc["fingerprint"]["match"] is True and doc["load_warning"] is None
    assert {c["model"] for c in doc["cells"]} == {"resnet20_cifar", "mobilenet_cifar"}
    assert all(c["verdict"] == "slower" and c["ci_low"] > 1.05 and c["runs_base"] == 3 for c in doc["cells"])
    assert json.loads(report.read_text()) == doc


def test_cli_two_sqlite_files_and_two_json_exports(tmp_path, capsys):
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    with ResultStore(a) as sa, ResultStore(b) as sb:
        for i in range(3):
            _store_run(sa, 1.0, 10 * i)
            newest_b = _store_run(sb, 1.10, 100 + 10 * i)
        sa.export_json(tmp_path / "a.json")
        sb.export_json(tmp_path / "b.json")
    assert main(["compare", str(a), str(b)]) == 0  # newest run of each: inconclusive
    out = capsys.readouterr().out
    assert f"run {newest_b} in {b}" in out and "2 inconclusive" in out
    assert main(["compare", str(a), str(b), "--all-runs"]) == 1
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--all-runs"]) == 1
    assert main(["compare", str(b), str(a), "--all-runs"]) == 0  # NEW is faster: not a regression
    assert "2 faster" in capsys.readouterr().out


def test_cli_refuses_other_machine_and_force_compares(tmp_path, capsys):
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    with ResultStore(a) as sa, ResultStore(b) as sb:
        for i in range(2):
            _store_run(sa, 1.0, 1 + 10 * i)
            _store_run(sb, 1.10, 2 + 10 * i, fp={**FP, "cpu_model": "Other CPU", "cpu_freq_mhz": 999.0})
    assert main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fingerprints differ" in err and "cpu_model" in err
    assert main(["compare", str(a), str(b), "--force", "--all-runs"]) == 1
    captured = capsys.readouterr()
    assert "WARNING: fingerprints differ" in captured.out and "--force" in captured.err


def test_cli_warns_when_the_sides_ran_under_different_load(tmp_path, capsys):
    path = tmp_path / "r.sqlite"
    fp = {**FP, "cores_logical": 2}
    with ResultStore(path) as store:
        quiet = [_store_run(store, 1.0, 10 * i, fp=fp, load={"load_avg_1m": 0.3, "cpu_share": 0.99})
                 for i in range(1, 3)]
        also_quiet = [_store_run(store, 1.0, 10 * i, fp=fp, load={"load_avg_1m": 0.6, "cpu_share": 0.97})
                      for i in range(3, 5)]
        hog = [_store_run(store, 1.0, 10 * i, fp=fp, load={"load_avg_1m": 3.1, "cpu_share": 0.55})
               for i in range(5, 7)]
    assert main(["compare", ",".join(quiet), ",".join(also_quiet), "--db", str(path)]) == 0
    assert "different load" not in capsys.readouterr().out  # 0.15 per core apart, shares 2 % apart
    assert main(["compare", ",".join(quiet), ",".join(hog), "--db", str(path)]) == 0
    captured = capsys.readouterr()
    line = next(ln for ln in captured.out.splitlines() if "different load" in ln)
    assert line.startswith("# WARNING") and "0.30 (BASE) vs 3.10 (NEW) on 2 logical core(s)" in line
    assert "CPU share 0.99 (BASE) vs 0.55 (NEW)" in line and "rule:" in line
    assert "different load" in captured.err


@pytest.mark.parametrize("argv, text", [
    (["nope", "latest"], "BASE 'nope' is neither a file nor a run id"),
    (["latest", "latest~9"], "has only 6 run(s)"),
    (["latest~x", "latest"], "latest~N with N a whole number"),
    (["latest", "latest", "--threshold", "abc"], "--threshold: 'abc' is not a percentage"),
    (["latest", "latest", "--alpha", "2"], "--alpha: 2 must be between 0 and 1"),
    (["latest", "latest", "--threshold-for", "vgg"], "is not MODEL=PCT"),
])
def test_cli_usage_errors_exit_2_with_one_line(db, capsys, argv, text):
    path, _ = db
    assert main(["compare", *argv, "--db", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err


def test_cli_missing_db_and_non_export_file(tmp_path, capsys):
    assert main(["compare", "r1", "r2", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "no database" in capsys.readouterr().err
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    assert main(["compare", str(junk), str(junk)]) == 2
    assert "not a zoobench JSON export" in capsys.readouterr().err


def test_help_text():
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--help"])
    assert exc.value.code == 0
