"""The contention guard on a fake clock, fake calibration kernel and fake load: an injected
slowdown is caught and retried a bounded number of times; a quiet run is not flagged."""
import itertools

import pytest

from bench import guard_store
from bench.grid import Cell
from bench.guard import Guard, GuardSettings, series_line
from bench.runner import TimingSettings, run_cell, store_outcome
from bench.store import ResultStore
from devices.base import Prepared
from devices.cpu import CpuDevice

QUIET_MS = 1.0
# one kernel call per reading and a baseline of 3 back-to-back readings: the fake kernel's sequence maps
# one value to one reading (the multi-block readings and spaced baseline are tested below)
SETTINGS = GuardSettings(retries=2, pause_s=3.0, check_blocks=1, baseline_readings=3, baseline_gap_s=0.0)
SLOW_MS = QUIET_MS * (1 + 2 * SETTINGS.tolerance)  # well beyond the tolerance
FAST = TimingSettings(max_time_s=0.02, min_samples=5, max_iters=50, warmup_cap=10, warmup_max_time_s=0.02)


class FakeMachine:
    """Calibration kernel, clock, sleep and load average of a pretend machine."""

    def __init__(self, calib_times, load=0.0):
        self.calib = iter(calib_times)
        self.load = load
        self.now = 0.0
        self.sleeps = []

    def kernels(self, threads, dtype):
        return lambda: next(self.calib)

    def sleep(self, s):
        self.sleeps.append(s)
        self.now += s

    def guard(self, settings=SETTINGS, **kw):
        return Guard(settings, self.kernels, cores=2, load=lambda: self.load, clock=lambda: self.now,
                     sleep=self.sleep, **kw)


class Counter:
    """A measurement that counts its calls and reports a CPU share."""

    def __init__(self, share=None):
        self.calls, self.share = 0, share

    def __call__(self):
        self.calls += 1
        return self.calls, self.share


def test_quiet_run_is_not_flagged():
    m = FakeMachine(itertools.repeat(QUIET_MS))
    g = m.guard()
    measure = Counter(share=1.0)
    for cell in range(5):
        out = g.run(f"cell {cell}", measure, threads=1)
        assert not out.contended and out.attempts == 1 and out.reasons == []
    assert measure.calls == 5 and m.sleeps == []
    assert not any(r.contended for r in g.series)
    assert series_line([r.to_dict() for r in g.series]).endswith("0 contended check(s)")


def test_injected_slowdown_is_caught_and_retries_are_bounded():
    # quiet baseline (3 calls), then the machine slows down for good
    m = FakeMachine(itertools.chain([QUIET_MS] * 3, itertools.repeat(SLOW_MS)))
    g = m.guard()
    measure = Counter()
    out = g.run("cell", measure, threads=1)
    assert out.contended
    assert out.attempts == SETTINGS.retries + 1
    assert m.sleeps == [SETTINGS.pause_s] * SETTINGS.retries  # paused before every retry, never more
    assert measure.calls == 1  # contended before-checks pause without measuring; the last attempt measures
    assert any("calibration" in r for r in out.reasons)
    assert out.fields()["contended"] is True


def test_no_retries_flags_at_once():
    m = FakeMachine(itertools.chain([QUIET_MS] * 3, itertools.repeat(SLOW_MS)))
    g = m.guard(GuardSettings(retries=0, pause_s=1.0, check_blocks=1, baseline_readings=3, baseline_gap_s=0.0))
    measure = Counter()
    out = g.run("cell", measure, threads=1)
    assert out.contended and out.attempts == 1 and measure.calls == 1 and m.sleeps == []


def test_transient_slowdown_is_retried_and_clears():
    # baseline, then one slow check (before the first attempt), then quiet again
    m = FakeMachine(itertools.chain([QUIET_MS] * 3, [SLOW_MS], itertools.repeat(QUIET_MS)))
    g = m.guard()
    measure = Counter()
    out = g.run("cell", measure, threads=1)
    assert not out.contended and out.attempts == 2 and measure.calls == 1 and len(m.sleeps) == 1


def test_slowdown_during_the_measurement_remeasures():
    # before #1 quiet, after #1 slow (a hog started while measuring), then quiet
    m = FakeMachine(itertools.chain([QUIET_MS] * 4, [SLOW_MS], itertools.repeat(QUIET_MS)))
    g = m.guard()
    measure = Counter()
    out = g.run("cell", measure, threads=1)
    assert not out.contended and measure.calls == 2 and out.value == 2  # the clean second measurement is kept


def test_busy_load_is_contended():
    m = FakeMachine(itertools.repeat(QUIET_MS), load=1 + 2 * (SETTINGS.max_load_per_core + 1))
    out = m.guard().run("cell", Counter(), threads=1)
    assert out.contended and any("load" in r for r in out.reasons)


def test_own_threads_do_not_count_as_load():
    m = FakeMachine(itertools.repeat(QUIET_MS), load=2.0)  # the run's own 2 threads, nothing else
    assert not m.guard().run("cell", Counter(), threads=2).contended


def test_low_cpu_share_is_contended_on_host_targets_only():
    low = SETTINGS.min_cpu_share / 2
    m = FakeMachine(itertools.repeat(QUIET_MS))
    out = m.guard().run("cell", Counter(share=low), threads=1)
    assert out.contended and any("CPU share" in r for r in out.reasons)
    m = FakeMachine(itertools.repeat(QUIET_MS))
    assert not m.guard(host_bound=False).run("cell", Counter(share=low), threads=1).contended


def test_contended_baseline_moves_down():
    m = FakeMachine(itertools.chain([SLOW_MS] * 3, itertools.repeat(QUIET_MS)))
    g = m.guard()
    out = g.run("cell", Counter(), threads=1)
    assert not out.contended
    assert g.baselines["t1 fp32"] == QUIET_MS
    assert any(r.note.startswith("baseline moved") for r in g.series)


class FakeDevice(CpuDevice):
    """A CPU device whose prepared model does nothing (the guard, not the model, is under test)."""

    def __init__(self):
        pass

    def prepare(self, model, example, **kw):
        return Prepared(run=lambda: None)


def test_run_cell_stores_contended_flag_and_series(tmp_path):
    m = FakeMachine(itertools.chain([QUIET_MS] * 3, itertools.repeat(SLOW_MS)))
    cell = Cell("resnet20_cifar", threads=1)
    with ResultStore(tmp_path / "r.sqlite") as store:
        run_id = store.start_run("cpu", {}, {})
        g = m.guard(on_reading=lambda r: guard_store.add_reading(store, run_id, r))
        outcome = run_cell(FakeDevice(), cell, FAST, guard=g)
        assert outcome.status == "ok" and outcome.info["contended"] is True
        store_outcome(store, run_id, outcome)
        extra = store.results_frame(run_id)["extra"].iloc[0]
        stored = guard_store.series(store, run_id)
    assert (extra["contended"] if isinstance(extra, dict) else '"contended": true' in extra)
    assert len(stored) == len(g.series) and stored[0]["label"] == "baseline"
    assert stored[-1]["contended"] is True


def test_series_is_empty_without_guard(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        run_id = store.start_run("cpu", {}, {})
        assert guard_store.series(store, run_id) == []
    assert series_line([]) == ""


@pytest.mark.parametrize("argv", [["--guard-tolerance", "200%"], ["--guard-retries", "-1"], ["--guard-pause", "x"]])
def test_bad_guard_options_exit_2(tmp_path, argv):
    from bench.cli import main

    assert main(["run", "--device", "cpu", "--models", "resnet20_cifar", "--db", str(tmp_path / "r.sqlite"),
                 *argv]) == 2


def test_contended_cells_shown_by_results_and_compare(tmp_path, capsys):
    from bench.cli import main

    db = tmp_path / "r.sqlite"
    cell = Cell("resnet20_cifar", threads=1)
    with ResultStore(db) as store:
        runs = []
        for slowed in (False, True):  # BASE quiet, NEW under an injected slowdown
            run_id = store.start_run("cpu", {}, {})
            after_baseline = SLOW_MS if slowed else QUIET_MS
            m = FakeMachine(itertools.chain([QUIET_MS] * 3, itertools.repeat(after_baseline)))
            store_outcome(store, run_id, run_cell(FakeDevice(), cell, FAST, guard=m.guard()))
            runs.append(run_id)
    assert main(["results", "--db", str(db), "--format", "json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert [r["contended"] for r in rows] == [False, True]
    main(["compare", runs[0], runs[1], "--db", str(db)])
    out = capsys.readouterr()
    (line,) = [ln for ln in out.out.splitlines() if "measured under contention" in ln]
    assert "NEW: resnet20_cifar" in line and "BASE:" not in line  # only the slowed run's cell is named


def test_claim_study_groups_are_guarded():
    from bench.claims.hetconv_config import QUICK
    from bench.claims.hetconv_study import _time_planned

    m = FakeMachine(itertools.chain([QUIET_MS] * 3, itertools.repeat(SLOW_MS)))
    g = m.guard(GuardSettings(retries=1, pause_s=0.0, check_blocks=1, baseline_readings=3, baseline_gap_s=0.0))
    meas, note = _time_planned(CpuDevice(), [lambda: None, lambda: None], QUICK, round_s=1e-4, guard=g,
                               label="layers C8 H8 b1")
    assert "contended" in note
    assert all(x.extra["contended"] is True for x in meas)
    assert any(r.label.startswith("layers C8 H8 b1") for r in g.series)


def test_report_provenance_states_load_and_guard():
    import json

    import pandas as pd

    from bench.report.provenance import load_text

    rows = pd.DataFrame({"extra": [json.dumps({"load_avg_1m": 0.5, "contended": False, "calib_drift": [0.01, 0.02]}),
                                   json.dumps({"load_avg_1m": 2.5, "contended": True, "calib_drift": [0.4, 0.5]})]})
    text = load_text(rows)
    assert "0.50-2.50" in text and "1 of 2 cells contended" in text and "+1.0% to +50.0%" in text
    assert load_text(pd.DataFrame({"extra": [json.dumps({"load_avg_1m": 1.0})]})).endswith("contention guard off")
    assert load_text(pd.DataFrame({"extra": [None]})) == ""


def test_claim_repeat_aggregates_fresh_processes(tmp_path, monkeypatch, capsys):
    """--repeat N starts N children (faked here: each writes its summary) and publishes the aggregate."""
    import json
    import subprocess

    from bench.claims.repeats import summary_of
    from bench.claims.verdicts import MIXED, SUPPORTED, Verdict
    from bench.cli import main

    per_repeat = iter([SUPPORTED, MIXED])
    seen = []
    real_run = subprocess.run

    def fake_run(cmd, *a, **kw):
        if list(cmd[1:3]) != ["-m", "bench"]:  # the fingerprint's own probes (git, ...) run for real
            return real_run(cmd, *a, **kw)
        seen.append(cmd)
        path = cmd[cmd.index("--summary-json") + 1]
        verdict = next(per_repeat)
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(summary_of([Verdict("claim A", "m", verdict), Verdict("claim B", "m",
                                                                                             SUPPORTED)])))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr("bench.repeat.subprocess.run", fake_run)
    out = tmp_path / "out"
    assert main(["claim", "hetconv", "--quick", "--repeat", "2", "--out", str(out), "--db",
                 str(tmp_path / "r.sqlite")]) == 0
    assert len(seen) == 2 and all("--repeat" not in cmd for cmd in seen)
    printed = capsys.readouterr().out
    assert "unstable" in printed and "supported, mixed" in printed
    (md,) = out.glob("*-repeats.md")
    assert "| claim B | supported | supported, supported |" in md.read_text()


def test_device_provides_its_own_calibration_kernel():
    from bench.guard import kernel_factory_for

    class OwnKernel(CpuDevice):
        def calibration_kernel(self, threads, dtype):
            return lambda: 42.0 + (threads or 0)

    assert kernel_factory_for("cpu", OwnKernel())(2, "fp32")() == 44.0
    # a device without one gets the torch GEMM (ms per GEMM, positive)
    assert CpuDevice().calibration_kernel(1, "fp32") is None
    assert kernel_factory_for("cpu", CpuDevice())(1, "fp32")() > 0
    g = Guard(SETTINGS, kernel_factory_for("cpu", OwnKernel()), cores=2, load=lambda: 0.0)
    assert g.baseline(1) == 43.0 and not g.check("cell", 1).reasons


# -- readings of several blocks, a spaced baseline, a tolerance from the machine's quiet spread ----------

def test_one_hiccup_block_in_a_reading_does_not_flag():
    # default settings: a reading is the median of 5 blocks; a baseline is 8 readings 0.25 s apart
    blocks = itertools.chain([QUIET_MS] * (8 * 5), itertools.cycle([QUIET_MS, QUIET_MS, 3 * QUIET_MS, QUIET_MS, QUIET_MS]))
    m = FakeMachine(blocks)
    g = m.guard(GuardSettings(retries=2, pause_s=3.0))
    out = g.run("cell", Counter(), threads=1)
    assert not out.contended and out.attempts == 1
    assert m.sleeps == [GuardSettings().baseline_gap_s] * 7  # the baseline's readings are spread out in time


def test_baseline_is_the_typical_speed_and_its_spread_sets_the_tolerance():
    # a VM that switches between a fast and a +30 % state: the baseline lands between them, the tolerance above
    # (a baseline of one fast reading with the fixed 15 % would flag every check in the slow state)
    states = [1.0, 1.3, 1.0, 1.3, 1.0, 1.3, 1.0, 1.3, 1.3, 1.0]  # 10 readings of one block each
    m = FakeMachine(itertools.chain(states, itertools.cycle([1.0, 1.3])))
    g = m.guard(GuardSettings(check_blocks=1, baseline_readings=10, baseline_gap_s=0.0))
    for cell in range(4):
        assert not g.run(f"cell {cell}", Counter(), threads=1).contended  # both states are this machine's quiet
    base, tol = g.baselines["t1 fp32"], g.tolerances["t1 fp32"]
    assert base == pytest.approx(1.15)
    assert tol == pytest.approx(1.5 * (1.3 / 1.15 - 1))  # SPREAD_FACTOR x the spread above the median
    assert g.series[0].tolerance == pytest.approx(tol, abs=1e-4) and "quiet spread" in g.series[0].note
    assert all(r.tolerance == pytest.approx(tol, abs=1e-4) for r in g.series)


def test_a_noisy_baseline_never_raises_the_tolerance_past_the_cap():
    # a baseline taken on a very noisy machine: the tolerance stops at max_tolerance, so 2x is still caught
    settings = GuardSettings(check_blocks=1, baseline_readings=5, baseline_gap_s=0.0, retries=0)
    m = FakeMachine(itertools.chain([1.0, 1.0, 1.0, 1.9, 1.9], itertools.repeat(2.0 * 1.0 * 1.05)))
    g = m.guard(settings)
    assert g.baseline(1) == 1.0 and g.tolerances["t1 fp32"] == settings.max_tolerance
    out = g.run("cell", Counter(), threads=1)
    assert out.contended and any("calibration" in r for r in out.reasons)
