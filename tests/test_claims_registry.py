"""The claim-study protocol end to end: a tiny fake study registered in one line runs through
`bench claim fake` (tmp db and out), plus the command's guards (unknown name, existing files,
thread count restored) and the HetConv study's calibration, rounds budget and index matching
on a fake device with known per-operator latencies."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from statistics import median

import numpy as np
import pytest
import torch

from bench.claims import registry
from bench.claims.base import ClaimStudy, StudyCell, StudyContext, StudyRun
from bench.claims.report_base import ReportFolder, header_lines, report_stem, utc_stamp, verdict_table
from bench.claims.verdicts import REFUTED, SUPPORTED, Timed, Verdict, faster_verdict
from bench.cli import main
from bench.report.canvas import new_figure, png_bytes
from bench.store import ResultStore
from bench.timing import measure_interleaved


class FakeStudy(ClaimStudy):
    """Times two tiny callables; claims 'a is faster than b' (a sleeps less)."""

    name = "fake"
    help = "a fake study for tests"
    measured_calls = 0
    threads_seen: list[int] = []
    verdict = SUPPORTED

    def config(self, quick: bool):
        return "quick" if quick else "full"

    def measure(self, device, config, ctx: StudyContext):
        FakeStudy.measured_calls += 1
        FakeStudy.threads_seen.append(torch.get_num_threads())
        ms = iter([1.0, 2.0] * 10)
        meas = measure_interleaved([lambda: None, lambda: None], timer=lambda fn: next(ms), min_samples=5,
                                   max_iters=5, warmup_cap=0)
        for label, m in zip(("a", "b"), meas):
            ctx.on_result(StudyCell(f"fake:{label}", "fake", 1, None, 10), m)
            ctx.progress(f"measured {label}")
        return meas

    def verdicts(self, result):
        return [Verdict("a is faster than b", "two fake callables", FakeStudy.verdict,
                        [f"a {median(result[0].samples_ms)} ms, b {median(result[1].samples_ms)} ms"])]

    def report_files(self, target, fingerprint):
        stem = report_stem("fake", target, fingerprint)
        return (f"{stem}.md", f"{stem}.png")

    def write_report(self, run: StudyRun, folder: ReportFolder) -> Path:
        md, png = self.report_files(run.target, run.fingerprint)
        fig, ax = new_figure((3, 2))
        ax.plot([1, 2], [1, 2])
        folder.write_bytes(png, png_bytes(fig))
        date = utc_stamp()
        return folder.write_text(md, "\n".join(header_lines(run, "Fake study", date) + [verdict_table(run.verdicts)]))


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(registry.STUDIES, "fake", FakeStudy)  # the one registration line
    FakeStudy.measured_calls, FakeStudy.threads_seen, FakeStudy.verdict = 0, [], SUPPORTED
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield FakeStudy
    torch.set_num_threads(previous)


def _claim(tmp_path, *extra):
    return main(["claim", "fake", "--db", str(tmp_path / "x.sqlite"), "--out", str(tmp_path / "out"),
                 "--threads", "1", *extra])


def test_fake_study_end_to_end(fake, tmp_path, capsys):
    assert _claim(tmp_path) == 0
    assert fake.threads_seen == [1] and torch.get_num_threads() == 2  # set for the study, restored after
    out = capsys.readouterr()
    assert "supported  a is faster than b" in out.out and "[claim fake] measured b" in out.err
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(files) == 2 and files[0].startswith("fake-cpu-") and files[0].endswith(".md")
    text = (tmp_path / "out" / files[0]).read_text()
    assert "| a is faster than b | two fake callables | **supported** |" in text
    assert "threads 1" in text and torch.__version__ in text  # provenance header
    assert (tmp_path / "out" / files[1]).read_bytes()[:4] == b"\x89PNG"
    with ResultStore(tmp_path / "x.sqlite") as store:
        rows = store.results_frame()
    assert sorted(rows["model"]) == ["fake:a", "fake:b"] and set(rows["threads"]) == {1}


def test_existing_report_is_not_replaced_without_force(fake, tmp_path, capsys):
    assert _claim(tmp_path) == 0
    md = next((tmp_path / "out").glob("*.md"))
    md.write_text("a committed full study")
    capsys.readouterr()
    assert _claim(tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err and md.name in err
    assert md.read_text() == "a committed full study" and fake.measured_calls == 1  # refused before measuring
    assert _claim(tmp_path, "--force") == 0
    assert md.read_text() != "a committed full study"


def test_undeclared_report_file_is_refused(tmp_path):
    folder = ReportFolder(tmp_path, ("a.md",))
    folder.write_text("a.md", "x")
    folder.write_text("a.md", "y")  # files this run wrote may be rewritten
    with pytest.raises(ValueError):
        folder.write_text("b.md", "x")


def test_unknown_study_and_listing(fake, capsys):
    assert main(["claim", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown claim study 'nope'" in err and "fake" in err and "hetconv" in err
    assert main(["claim"]) == 0
    listing = capsys.readouterr().out
    assert "fake" in listing and "a fake study for tests" in listing and "hetconv" in listing


def test_gate_exits_1_on_refuted(fake, tmp_path):
    fake.verdict = REFUTED
    assert _claim(tmp_path) == 0
    assert _claim(tmp_path, "--force", "--gate") == 1


def test_claim_writes_into_bench_out_by_default():
    from bench.cli import build_parser

    assert build_parser().parse_args(["claim", "hetconv"]).out == "bench-out/claims"


def test_thread_count_restored_when_the_study_fails(fake, tmp_path, monkeypatch):
    def boom(self, device, config, ctx):
        raise RuntimeError("study failed")

    monkeypatch.setattr(FakeStudy, "measure", boom)
    # an exception inside a study is a bug in zoobench: one line, exit 3 (bench.cli.main)
    assert _claim(tmp_path) == 3
    assert torch.get_num_threads() == 2


def test_no_pyplot_and_no_backend_switch():
    """Claim reports render on the Agg canvas: importing and drawing never loads pyplot."""
    code = ("import sys, matplotlib; before = matplotlib.rcParams._get('backend'); "
            "import bench.claims.hetconv_report as r, bench.commands.claim_cmd; "
            "from bench.report.canvas import new_figure, png_bytes; f, ax = new_figure((2, 2)); png_bytes(f); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'; "
            "assert matplotlib.rcParams._get('backend') == before, 'backend changed'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_unsignificant_pair_says_why_it_has_few_samples():
    rng = np.random.default_rng(0)
    a = Timed("c", "a", 1, tuple(1 + 0.3 * rng.standard_normal(6)), note="only 6 rounds fit the cap")
    b = Timed("c", "b", 1, tuple(1 + 0.3 * rng.standard_normal(6)), note="only 6 rounds fit the cap")
    _, lines = faster_verdict([(a, b)])
    assert lines[0].count("only 6 rounds fit the cap") == 1 and "not significant" in lines[0]


# -- the HetConv study on a fake device with known latencies ------------------------------------

IMPL_FACTOR = {"grouped": 1.0, "folded": 1.3, "masked": 1.6, "branches": 2.5}


def fake_ms(model: torch.nn.Module) -> float:
    """The fake device's latency of a deploy-form operator: parameters, scaled by its HetConv impl."""
    impls = [m.impl for m in model.modules() if hasattr(m, "impl") and isinstance(m.impl, str)]
    return sum(p.numel() for p in model.parameters()) / 1000 * (IMPL_FACTOR[impls[0]] if impls else 1.0)


class FakeDevice:
    """Runs nothing: each call 'takes' fake_ms of its model, with 1 % seeded jitter."""

    name = "fake"
    extra_hetconv_impls = ()

    def __init__(self):
        self.rng = np.random.default_rng(1)

    def fingerprint(self, threads=None):
        return {"cpu_model": "Fake CPU", "arch": "x86_64", "threads": threads}

    def prepare(self, model, example):
        from devices.base import Prepared

        ms = fake_ms(model)
        return Prepared(run=lambda: ms)

    def timer(self):
        return lambda fn: fn() * (1 + 0.01 * self.rng.standard_normal())

    def cleanup(self):
        pass


def test_hetconv_study_calibrates_then_compares_fresh_samples_by_index():
    from bench.claims.hetconv_config import QUICK
    from bench.claims.hetconv_study import run_hetconv_study

    cfg = replace(QUICK, shapes=((16, 8), (32, 8)), parts=(1, 2, 4, 0), impls=("masked", "grouped", "folded"),
                  network_models=("vgg16_cifar_pc", "vgg16_cifar_dwc_pwc"), min_samples=8, group_max_time_s=0.2,
                  calibration_samples=3, calibration_max_time_s=0.1, warmup_max_time_s=0.05, group_min_time_s=0.0)
    result = run_hetconv_study(FakeDevice(), cfg)
    for r in result.layers:  # every compared operator got its own operator's samples
        assert median(r.samples_ms) == pytest.approx(fake_ms(r.op.build(r.channels)), rel=0.05), r.op.label
    for r in result.calibration:
        assert median(r.samples_ms) == pytest.approx(fake_ms(r.op.build(r.channels)), rel=0.05), r.op.label
    for case in {r.case for r in result.layers}:
        channels = int(case.split()[0][1:])
        het = [r for r in result.layers if r.case == case and r.op.kind == "hetconv"]
        assert {r.op.part for r in het} == {1, 2, 4, channels}
        for r in het:  # the impl the calibration pass found fastest, one per P, timed on fresh samples
            cands = {c.op.impl: median(c.samples_ms) for c in result.calibration
                     if c.case == case and c.op.kind == "hetconv" and c.op.part == r.op.part}
            assert set(cands) == set(cfg.impls) and r.op.impl == min(cands, key=cands.get)
            assert r.chosen_by == "calibration"
            cal = next(c for c in result.calibration if c.case == case and c.op == r.op)
            assert r.samples_ms != cal.samples_ms[:len(r.samples_ms)]
    assert all(len(r.samples_ms) >= cfg.min_samples and not r.note for r in result.layers)
    faster = next(v for v in result.verdicts if v.claim.startswith("HetConv P4 is faster"))
    assert faster.verdict == SUPPORTED  # P4 has fewer parameters, so it is faster on this device


def test_rounds_budget_grows_for_slow_cases_up_to_the_cap():
    from bench.claims.hetconv_config import FULL
    from bench.claims.hetconv_study import plan_rounds, rounds_note

    fast, fast_budget = plan_rounds(0.001, FULL)
    assert fast == FULL.min_samples and fast_budget == FULL.group_max_time_s
    slow_round = FULL.group_max_time_s / FULL.min_samples * 2  # its rounds need more than the default budget
    rounds, budget = plan_rounds(slow_round, FULL)
    assert rounds == FULL.min_samples and FULL.group_max_time_s < budget <= FULL.case_max_time_s
    assert rounds * slow_round <= budget
    too_slow = FULL.case_max_time_s / FULL.min_samples * 3  # its rounds cannot fit the cap
    rounds, budget = plan_rounds(too_slow, FULL)
    assert rounds < FULL.min_samples and budget == FULL.case_max_time_s
    assert rounds_note(rounds, too_slow, FULL).startswith(f"only {rounds} rounds")
    assert rounds_note(FULL.min_samples, too_slow, FULL) == ""
