"""A checkout with saved variants and a malformed spec in bench-out/variants: commands keep working.

Saved variants are loaded only by the commands that take model names, from --variants DIR
($ZOOBENCH_VARIANTS, else bench-out/variants); a bad spec is one warning line on stderr.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from bench.cli import main
from bench.store import ResultStore

REPO = Path(__file__).resolve().parent.parent
SAVED = "resnet20_cifar_lowrank_r50"


def bench(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("ZOOBENCH_VARIANTS", None)
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture
def checkout(tmp_path, variants, capsys):
    """A working directory whose bench-out/variants holds one saved variant and one malformed spec."""
    folder = tmp_path / "bench-out" / "variants"
    assert main(["lowrank", "resnet20_cifar", "--rank-ratio", "0.5", "--variants", str(folder), "--format", "csv"]) == 0
    capsys.readouterr()
    (folder / "broken.json").write_text("{not json")
    zoo.registry.unregister_model(SAVED)  # as in a fresh process
    return tmp_path


def test_costs_check_passes_on_declared_models_and_lists_saved_variants_apart(checkout):
    proc = bench(checkout, "costs", "resnet20_cifar*", "--check", "--jobs", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "declared costs unchanged" in proc.stdout and "not in the declared table" not in proc.stdout
    note = [line for line in proc.stdout.splitlines() if "saved variant(s) not checked" in line]
    assert len(note) == 1 and SAVED in note[0]
    warnings = proc.stderr.strip().splitlines()
    assert len(warnings) == 1 and "broken.json" in warnings[0] and warnings[0].startswith("bench: warning:")


def test_zoo_list_and_show_see_saved_variants_with_one_warning_line(checkout):
    proc = bench(checkout, "zoo", "list", "resnet20_cifar_lowrank*", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert [line.split(",")[0] for line in proc.stdout.strip().splitlines()[1:]] == [
        "resnet20_cifar_lowrank50", SAVED]
    assert proc.stderr.count("\n") == 1 and "broken.json" in proc.stderr
    other = checkout / "elsewhere"
    (checkout / "bench-out" / "variants").rename(other)
    proc = bench(checkout, "zoo", "show", SAVED, "--variants", str(other))
    assert proc.returncode == 0, proc.stderr
    assert '"parent": "resnet20_cifar"' in proc.stdout


def test_results_works_in_that_checkout(checkout):
    ResultStore(checkout / "results.sqlite").close()
    proc = bench(checkout, "results", "--db", str(checkout / "results.sqlite"), "--format", "csv")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_costs_over_workers_counts_saved_variants(checkout, capsys):
    # >= 4 models, so many_model_costs spawns workers, which must re-register the saved variant
    assert main(["costs", "resnet20_cifar*", "--variants", str(checkout / "bench-out" / "variants"),
                 "--jobs", "2", "--format", "csv"]) == 0
    out = capsys.readouterr()
    rows = {line.split(",")[0]: line for line in out.out.strip().splitlines()[1:]}
    assert len(rows) >= 4 and SAVED in rows and "resnet20_cifar_lowrank50" in rows
    assert out.err.count("\n") == 1 and "broken.json" in out.err
