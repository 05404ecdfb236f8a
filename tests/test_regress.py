"""`bench regress`: worktree lifecycle, alternating rounds, each revision running its own code,
pooling and the verdict (fake runners writing synthetic samples), CLI errors; one slow
end-to-end run against the real repository's HEAD."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.regress import (
    BASE, NEW, RegressSettings, Revision, baseline_worktree, regress, resolve_ref, round_order, run_revision,
    run_rounds,
)
from bench.store import ResultStore

FP = {"cpu_model": "Test CPU", "arch": "x86_64", "torch": "2.14.1", "device": "cpu", "threads": 1}


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


class FakeRunner:
    """Stands in for `bench run`: reads the revision's SPEED file and stores synthetic samples."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_on = fail_on

    def __call__(self, rev: Revision, settings: RegressSettings, db: Path) -> None:
        self.calls.append((rev.name, (rev.root / "SPEED").read_text()))
        if self.fail_on is not None and len(self.calls) == self.fail_on:
            raise BenchError("bench run of base failed")
        speed = float((rev.root / "SPEED").read_text())
        rng = np.random.default_rng(len(self.calls))
        with ResultStore(db) as store:
            run_id = store.start_run("cpu", dict(FP), {"grid": {}})
            samples = list(10.0 * speed * rng.lognormal(0, 0.03, 200))
            store.add_result(run_id, dict(model="resnet20_cifar", batch=1, dtype="fp32", layout="nchw", impl=None,
                                          threads=1, compile=False), None, samples)
            store.finish_run(run_id)


def test_round_order_alternates():
    assert [round_order(i) for i in range(3)] == [(BASE, NEW), (NEW, BASE), (BASE, NEW)]


def test_run_rounds_alternates_processes_per_round(tmp_path):
    seen = []
    revs = {BASE: Revision(BASE, "REF", tmp_path), NEW: Revision(NEW, "tree", tmp_path)}
    run_rounds(revs, RegressSettings(rounds=3), {BASE: tmp_path / "b", NEW: tmp_path / "n"},
               runner=lambda rev, s, db: seen.append((rev.name, db.name)), log=lambda _: None)
    assert seen == [(BASE, "b"), (NEW, "n"), (NEW, "n"), (BASE, "b"), (BASE, "b"), (NEW, "n")]


def test_regress_measures_ref_against_working_tree_and_cleans_up(repo, tmp_path):
    runner = FakeRunner()
    out = tmp_path / "out"
    result = regress("HEAD", RegressSettings(rounds=2), out, repo=repo, runner=runner, log=lambda _: None)
    # BASE saw the committed file, NEW the modified working tree
    assert runner.calls == [(BASE, "1.0"), (NEW, "1.10"), (NEW, "1.10"), (BASE, "1.0")]
    (cell,) = result.comparison.cells
    assert cell.regression and cell.n_base == cell.n_new == 400
    assert len(result.comparison.base.run_ids) == 2 and len(result.comparison.new.run_ids) == 2
    (changes,) = result.round_changes.values()
    assert len(changes) == 2 and all(1.05 < c < 1.15 for c in changes)
    assert result.revisions[BASE].commit == _git(repo, "rev-parse", "HEAD")
    assert len(_worktrees(repo)) == 1 and not result.revisions[BASE].root.exists()
    assert (out / "base.sqlite").exists() and (out / "new.sqlite").exists()


def test_regress_replaces_earlier_databases_in_out_dir(repo, tmp_path):
    out = tmp_path / "out"
    for _ in range(2):
        result = regress("HEAD", RegressSettings(rounds=1), out, repo=repo, runner=FakeRunner(), log=lambda _: None)
    assert len(result.comparison.base.run_ids) == 1  # the first regress's runs were not pooled in


def test_worktree_removed_when_a_round_fails(repo, tmp_path):
    with pytest.raises(BenchError, match="bench run of base failed"):
        regress("HEAD", RegressSettings(rounds=2), tmp_path / "out", repo=repo, runner=FakeRunner(fail_on=3),
                log=lambda _: None)
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


def test_each_revision_runs_its_own_code(tmp_path):
    """run_revision imports `bench` from the revision's tree, not from the installed package."""
    tree = tmp_path / "tree"
    (tree / "bench").mkdir(parents=True)
    (tree / "bench" / "__init__.py").write_text("")
    (tree / "bench" / "cli.py").write_text(
        "import sys, pathlib\n"
        "db = pathlib.Path(sys.argv[sys.argv.index('--db') + 1])\n"
        "db.write_text(' '.join(sys.argv[1:]))\n")
    db = tmp_path / "marker.txt"
    run_revision(Revision(BASE, "fake", tree), RegressSettings(models="resnet20_cifar", threads="1"), db)
    argv = db.read_text()
    assert argv.startswith("run --device cpu --models resnet20_cifar") and "--threads 1" in argv
    (tree / "bench" / "cli.py").write_text("import sys\nprint('no such model', file=sys.stderr)\nsys.exit(2)\n")
    with pytest.raises(BenchError, match="base \\(fake\\) failed with exit 2: no such model"):
        run_revision(Revision(BASE, "fake", tree), RegressSettings(), db)


@pytest.mark.parametrize("argv, text", [
    (["--baseline", "no-such-ref-xyz", "--models", "resnet20_cifar"], "unknown git revision 'no-such-ref-xyz'"),
    (["--baseline", "HEAD", "--rounds", "0"], "--rounds: 0 must be >= 1"),
    (["--baseline", "HEAD", "--models", "resnet9000"], "unknown model 'resnet9000'"),
    (["--baseline", "HEAD", "--device", "tpu"], "unknown device 'tpu'"),
    (["--baseline", "HEAD", "--max-time", "0"], "--max-time: 0 must be > 0"),
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
