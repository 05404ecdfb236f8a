"""`bench regress`: worktree lifecycle, alternating rounds, each revision running its own code,
pooling and the verdict (fake runners writing synthetic samples), CLI errors; one slow
end-to-end run against the real repository's HEAD."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench.cell import Cell
from bench.cli import main
from bench.errors import BenchError
from bench.regress import (
    BASE, NEW, RegressSettings, Revision, WorkerProcess, baseline_worktree, measure_cell, prepare_request,
    regress, resolve_ref, shared_cpus, turn_order,
)
from bench.store import ResultStore

FP = {"cpu_model": "Test CPU", "arch": "x86_64", "torch": "2.14.1", "device": "cpu", "threads": 1}
FAST = dict(max_time_s=0.05, warmup_max_time_s=0.05, min_samples=50, burst_ms=20.0)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A git repo whose committed SPEED is 1.0; the working tree changes it to 1.10 (10 % slower)."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "t@example.com")
    _git(root, "config", "user.name", "t")
    (root / "SPEED").write_text("1.0")
    _git(root, "add", "SPEED")
    _git(root, "commit", "-qm", "base")
    (root / "SPEED").write_text("1.10")
    return root


def _worktrees(repo: Path) -> list[str]:
    return [line for line in _git(repo, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


class FakeWorker:
    """Stands in for a worker process: latencies scaled by the revision's committed SPEED file."""

    spawned: list[tuple[str, str]] = []

    def __init__(self, rev: Revision, settings: RegressSettings, fail_on_prepare: bool = False) -> None:
        self.speed = float((rev.root / "SPEED").read_text())
        self.fingerprint = dict(FP)
        self.rng = np.random.default_rng(len(FakeWorker.spawned))
        self.fail_on_prepare = fail_on_prepare
        self.closed = False
        self.runs: list[int] = []
        FakeWorker.spawned.append((rev.name, (rev.root / "SPEED").read_text()))

    def request(self, obj):
        if obj["cmd"] == "prepare":
            if self.fail_on_prepare:
                raise BenchError("base (HEAD) worker exited with 1: boom")
            if obj["model"] == "missing_model":
                return {"ok": False, "status": "error", "message": "UnknownModelError: unknown model"}
            return {"ok": True, "impl": None}
        self.runs.append(obj["n"])
        return {"ms": list(2.0 * self.speed * self.rng.lognormal(0, 0.03, obj["n"]))}

    def close(self):
        self.closed = True


@pytest.fixture(autouse=True)
def _reset_fake():
    FakeWorker.spawned = []


def test_turn_order_alternates_abba():
    assert [turn_order(i) for i in range(4)] == [(BASE, NEW), (NEW, BASE), (BASE, NEW), (NEW, BASE)]


def test_measure_cell_alternates_bursts_and_reaches_min_samples(tmp_path):
    (tmp_path / "SPEED").write_text("1.0")
    rev = Revision(BASE, "x", tmp_path)
    workers = {BASE: FakeWorker(rev, RegressSettings()), NEW: FakeWorker(rev, RegressSettings())}
    out = measure_cell(workers, Cell("resnet20_cifar", threads=1), RegressSettings(**FAST))
    assert all(s.status == "ok" and len(s.samples_ms) >= 50 and s.warmup_ms for s in out.values())
    assert 8 <= workers[BASE].runs[-1] <= 11  # 20 ms bursts of ~2 ms calls
    assert len(out[BASE].samples_ms) == len(out[NEW].samples_ms)


def test_measure_cell_reports_a_failed_prepare_without_sampling(tmp_path):
    (tmp_path / "SPEED").write_text("1.0")
    rev = Revision(BASE, "x", tmp_path)
    workers = {BASE: FakeWorker(rev, RegressSettings()), NEW: FakeWorker(rev, RegressSettings())}
    out = measure_cell(workers, Cell("missing_model"), RegressSettings(**FAST))
    assert out[BASE].status == "error" and "unknown model" in out[BASE].message
    assert not out[NEW].samples_ms and not workers[NEW].runs


def test_regress_measures_ref_against_working_tree_and_cleans_up(repo, tmp_path):
    out = tmp_path / "out"
    settings = RegressSettings(models=("resnet20_cifar", "missing_model"), rounds=2, **FAST)
    result = regress("HEAD", settings, out, repo=repo, spawn=FakeWorker, log=lambda _: None)
    # each round spawned fresh workers; BASE saw the committed file, NEW the modified working tree
    assert FakeWorker.spawned == [(BASE, "1.0"), (NEW, "1.10")] * 2
    cells = {c.model: c for c in result.comparison.cells}
    assert cells["resnet20_cifar"].regression and cells["resnet20_cifar"].n_base >= 100
    assert cells["missing_model"].verdict == "not comparable" and "unknown model" in cells["missing_model"].note
    assert len(result.comparison.base.run_ids) == 2 and len(result.comparison.new.run_ids) == 2
    changes = result.round_changes[cells["resnet20_cifar"].key()]
    assert len(changes) == 2 and all(1.05 < c < 1.15 for c in changes)
    assert result.revisions[BASE].commit == _git(repo, "rev-parse", "HEAD")
    assert len(_worktrees(repo)) == 1 and not result.revisions[BASE].root.exists()
    assert (out / "base.sqlite").exists() and (out / "new.sqlite").exists()


def test_regress_replaces_earlier_databases_in_out_dir(repo, tmp_path):
    out = tmp_path / "out"
    for _ in range(2):
        result = regress("HEAD", RegressSettings(rounds=1, **FAST), out, repo=repo, spawn=FakeWorker,
                         log=lambda _: None)
    assert len(result.comparison.base.run_ids) == 1  # the first regress's runs were not pooled in


def test_workers_closed_and_worktree_removed_when_a_worker_fails(repo, tmp_path):
    made = []

    def spawn(rev, settings):
        made.append(FakeWorker(rev, settings, fail_on_prepare=rev.name == NEW))
        return made[-1]

    with pytest.raises(BenchError, match="worker exited with 1: boom"):
        regress("HEAD", RegressSettings(rounds=2, **FAST), tmp_path / "out", repo=repo, spawn=spawn,
                log=lambda _: None)
    assert len(made) == 2 and all(w.closed for w in made)
    assert len(_worktrees(repo)) == 1


def test_baseline_worktree_checks_out_the_ref(repo):
    first = _git(repo, "rev-parse", "HEAD")
    (repo / "SPEED").write_text("2.0")
    _git(repo, "commit", "-qam", "second")
    with baseline_worktree("HEAD~1", repo) as rev:
        assert rev.commit == first and (rev.root / "SPEED").read_text() == "1.0"
        root = rev.root
    assert not root.exists() and len(_worktrees(repo)) == 1


def test_unknown_ref_and_non_git_directory(repo, tmp_path):
    with pytest.raises(BenchError, match="unknown git revision 'nope'"):
        resolve_ref("nope", repo)
    with pytest.raises(BenchError, match="not a git revision"):
        resolve_ref("--all", repo)
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(BenchError, match="not a git checkout"):
        resolve_ref("HEAD", plain)


def _fake_tree(tmp_path: Path, label: str, broken: bool = False) -> Path:
    """A source tree whose `zoo`/`devices`/`bench.runner` are tiny fakes (no torch) labelled `label`."""
    tree = tmp_path / label
    for pkg in ("zoo", "zoo/layers", "devices", "bench"):
        (tree / pkg).mkdir(parents=True, exist_ok=True)
        (tree / pkg / "__init__.py").write_text("")
    (tree / "zoo" / "registry.py").write_text("def get_model(name):\n    return name\n")
    (tree / "zoo" / "layers" / "reparam.py").write_text(
        "def deploy_form(model, impl=None, inplace=False):\n"
        "    if model == 'missing':\n        raise KeyError('unknown model missing')\n    return model\n")
    (tree / "bench" / "runner.py").write_text("def example_batch(name, batch):\n    return batch\n")
    (tree / "devices" / "base.py").write_text("class UnsupportedCell(Exception):\n    pass\n")
    (tree / "devices" / "registry.py").write_text(
        ("raise ImportError('broken tree')\n" if broken else "")
        + "class Prepared:\n    def __init__(self, run):\n        self.run = run\n"
        "    def close(self):\n        pass\n"
        "class Device:\n"
        f"    def fingerprint(self, threads=None):\n        return {{'label': {label!r}, 'threads': threads}}\n"
        "    def timer(self):\n        return lambda fn: fn()\n"
        "    def prepare(self, model, example, **kw):\n        return Prepared(lambda: float(example))\n"
        "    def cleanup(self):\n        pass\n"
        "    def is_oom(self, exc):\n        return False\n"
        "def get_device(name):\n    return Device()\n")
    return tree


def test_worker_process_runs_the_revisions_own_code(tmp_path):
    """The real worker, run in a fake tree: it imports that tree's modules, not the installed zoobench."""
    tree = _fake_tree(tmp_path, "fake-rev")
    worker = WorkerProcess(Revision(BASE, "fake", tree), RegressSettings(threads=3))
    try:
        assert worker.fingerprint == {"label": "fake-rev", "threads": 3}
        if hasattr(os, "sched_getaffinity"):
            assert os.sched_getaffinity(worker.proc.pid) == shared_cpus(3)
        assert worker.request(prepare_request(Cell("any_model", batch=7))) == {"ok": True, "impl": None}
        assert worker.request({"cmd": "run", "n": 3}) == {"ms": [7.0, 7.0, 7.0]}
        reply = worker.request(prepare_request(Cell("missing")))
        assert reply["ok"] is False and reply["status"] == "error" and "unknown model missing" in reply["message"]
    finally:
        worker.close()
    assert worker.proc.returncode == 0


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux-only")
def test_shared_cpus_are_the_last_allowed_ones():
    allowed = sorted(os.sched_getaffinity(0))
    assert shared_cpus(1) == {allowed[-1]}
    assert shared_cpus(None) == set(allowed) == shared_cpus(10_000)
    assert RegressSettings(threads=1, pin=False).worker_cpus() is None


def test_worker_that_cannot_start_raises_one_line(tmp_path):
    tree = _fake_tree(tmp_path, "broken", broken=True)
    with pytest.raises(BenchError, match="base \\(fake\\) worker failed to start: ImportError: broken tree"):
        WorkerProcess(Revision(BASE, "fake", tree), RegressSettings())


@pytest.mark.parametrize("argv, text", [
    (["--baseline", "no-such-ref-xyz", "--models", "resnet20_cifar"], "unknown git revision 'no-such-ref-xyz'"),
    (["--baseline", "HEAD", "--rounds", "0"], "--rounds: 0 must be >= 1"),
    (["--baseline", "HEAD", "--models", "resnet9000"], "unknown model 'resnet9000'"),
    (["--baseline", "HEAD", "--device", "tpu"], "unknown device 'tpu'"),
    (["--baseline", "HEAD", "--max-time", "0"], "--max-time: 0 must be > 0"),
    (["--baseline", "HEAD", "--threads", "1,2"], "--threads takes one integer"),
    (["--baseline", "HEAD", "--threshold", "x"], "--threshold: 'x' is not a percentage"),
])
def test_cli_usage_errors_exit_2(tmp_path, capsys, argv, text):
    assert main(["regress", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err


def test_help_text():
    with pytest.raises(SystemExit) as exc:
        main(["regress", "--help"])
    assert exc.value.code == 0


@pytest.mark.slow
def test_end_to_end_against_head(tmp_path, capsys):
    """Real `bench run` processes of HEAD (worktree) and the working tree, one tiny round each."""
    from bench.fingerprint import REPO_ROOT

    before = _worktrees(REPO_ROOT)
    out = tmp_path / "out"
    code = main(["regress", "--baseline", "HEAD", "--models", "resnet20_cifar", "--rounds", "1", "--threads", "1",
                 "--max-time", "0.3", "--warmup-max-time", "0.3", "--min-samples", "5", "--out", str(out)])
    capsys.readouterr()
    assert code in (0, 1)  # a timing verdict on a shared machine is not asserted
    doc = json.loads((out / "report.json").read_text())
    (cell,) = doc["cells"]
    assert cell["model"] == "resnet20_cifar" and cell["n_base"] >= 5 and cell["n_new"] >= 5
    assert doc["fingerprint"]["match"] and doc["regress"]["rounds"] == 1
    assert "per-round change resnet20_cifar" in (out / "report.txt").read_text()
    assert _worktrees(REPO_ROOT) == before


def test_benchmark_module_is_outside_the_default_test_run():
    import tomllib

    from bench.fingerprint import REPO_ROOT

    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert config["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]
    assert (REPO_ROOT / "benchmarks" / "test_zoo_latency.py").exists()


@pytest.mark.slow
def test_pytest_benchmark_module_runs(tmp_path):
    """`pytest benchmarks` works (one model, benchmarks executed once with --benchmark-disable)."""
    import os
    import sys

    from bench.fingerprint import REPO_ROOT

    env = {**os.environ, "ZOOBENCH_BENCH_MODELS": "resnet20_cifar"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "-q", "--benchmark-disable",
                           "-p", "no:cacheprovider"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout


def test_bad_baseline_leaves_earlier_results_in_out_dir(repo, tmp_path, capsys):
    out = tmp_path / "out"
    regress("HEAD", RegressSettings(rounds=1, **FAST), out, repo=repo, spawn=FakeWorker, log=lambda _: None)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "base.sqlite" in before
    with pytest.raises(BenchError, match="unknown git revision 'nope'"):
        regress("nope", RegressSettings(rounds=1, **FAST), out, repo=repo, spawn=FakeWorker, log=lambda _: None)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # the CLI checks the ref before the out folder too
    assert main(["regress", "--baseline", "no-such-ref-xyz", "--models", "resnet20_cifar", "--out", str(out)]) == 2
    assert "unknown git revision" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_out_path_that_is_a_file_is_refused(repo, tmp_path):
    out = tmp_path / "out"
    out.write_text("keep me")
    with pytest.raises(BenchError, match="not a directory"):
        regress("HEAD", RegressSettings(rounds=1, **FAST), out, repo=repo, spawn=FakeWorker, log=lambda _: None)
    assert out.read_text() == "keep me"


def test_worker_resolves_a_model_source_in_its_own_revision(tmp_path):
    """A user's own model file (issue 13) is gated like a zoo model: the worker of a revision that has
    `zoo.sources` registers the source with the --input-size the coordinator sends."""
    from bench.fingerprint import REPO_ROOT

    net = tmp_path / "tiny_net.py"
    net.write_text("import torch.nn as nn\n\n"
                   "class Tiny(nn.Module):\n"
                   "    def __init__(self):\n"
                   "        super().__init__()\n"
                   "        self.conv = nn.Conv2d(3, 4, 3)\n\n"
                   "    def forward(self, x):\n"
                   "        return self.conv(x).mean((2, 3))\n")
    worker = WorkerProcess(Revision(BASE, "head", REPO_ROOT), RegressSettings(threads=1, pin=False))
    try:
        cell = Cell(f"{net}:Tiny", batch=2, threads=1)
        assert worker.request(prepare_request(cell, "3x8x8"))["ok"] is True
        (ms,) = worker.request({"cmd": "run", "n": 1})["ms"]
        assert ms > 0
        other = tmp_path / "other_net.py"
        other.write_text(net.read_text())
        reply = worker.request(prepare_request(Cell(f"{other}:Tiny", threads=1)))  # no input size for a .py file
        assert reply["ok"] is False and "input-size" in reply["message"]
    finally:
        worker.close()


def test_contended_cell_is_never_a_regression(repo, tmp_path):
    """The 10 % slower working tree is a regression on a quiet machine; flagged contended, it is inconclusive."""
    from bench.guard import Guard, GuardSettings
    from bench.runs import all_runs_in_store

    def guard(calib_ms):
        return Guard(GuardSettings(retries=1, pause_s=0.0, check_blocks=1, baseline_readings=3, baseline_gap_s=0.0), lambda threads, dtype: (lambda: calib_ms()), cores=2,
                     load=lambda: 0.0, sleep=lambda s: None, host_bound=False)

    settings = RegressSettings(models=("resnet20_cifar",), rounds=1, **FAST)
    quiet = regress("HEAD", settings, tmp_path / "quiet", repo=repo, spawn=FakeWorker, log=lambda _: None,
                    guard=guard(lambda: 1.0))
    (cell,) = quiet.comparison.cells
    assert cell.regression and not cell.note.startswith("measured under contention")
    # the calibration kernel runs 50 % slow after the baseline: every check is contended
    calls = itertools.count()
    logged = []
    busy = regress("HEAD", settings, tmp_path / "busy", repo=repo, spawn=FakeWorker, log=logged.append,
                   guard=guard(lambda: 1.0 if next(calls) < 3 else 1.5))
    (cell,) = busy.comparison.cells
    assert not cell.regression and not busy.comparison.regressions
    assert cell.verdict == "inconclusive" and "re-measure" in cell.note
    assert any("under contention" in line for line in logged)
    # the flag is stored with both revisions' cells (what bench results/compare/export read)
    for db in busy.dbs.values():
        (run,) = all_runs_in_store(db)
        assert all(c.contended for c in run.cells.values())


def test_regress_stores_the_guards_series_per_revision_run(repo, tmp_path):
    """Each round's guard readings are the calibration series of both revisions' runs of that round."""
    from bench import guard_store
    from bench.guard import Guard, GuardSettings
    from bench.store import ResultStore

    g = Guard(GuardSettings(retries=1, pause_s=0.0, check_blocks=1, baseline_readings=3, baseline_gap_s=0.0), lambda threads, dtype: (lambda: 1.0), cores=2,
              load=lambda: 0.0, sleep=lambda s: None, host_bound=False)
    settings = RegressSettings(models=("resnet20_cifar",), rounds=2, **FAST)
    result = regress("HEAD", settings, tmp_path / "out", repo=repo, spawn=FakeWorker, log=lambda _: None, guard=g)
    stored = {}
    for name, db in result.dbs.items():
        with ResultStore(db, readonly=True) as store:
            stored[name] = [guard_store.series(store, rid) for rid in store.run_ids()]
    assert stored["base"] == stored["new"] and len(stored["base"]) == 2  # one series per round, same on both
    first, second = stored["base"]
    assert first[0]["label"] == "baseline" and all(r["label"] != "baseline" for r in second)
    assert first + second == [r.to_dict() for r in g.series]  # every reading kept once per side, in order
