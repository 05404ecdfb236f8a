"""`bench fidelity` leaves no process-wide state behind: torch's thread count is restored after
the command, also when it fails part-way (the timing itself is faked: this checks hygiene, not numbers)."""
from types import SimpleNamespace

import pytest
import torch

import bench.timing
from bench.cli import main
from bench.commands import fidelity_cmd


@pytest.fixture
def fast_fidelity(monkeypatch):
    """Fidelity with no long warm-up and fake timings; yields the thread counts seen while measuring."""
    seen: list[int] = []

    def fake_measure(fn, **kw):
        fn()
        seen.append(torch.get_num_threads())
        return SimpleNamespace(stats=SimpleNamespace(p50_ms=1.0), elapsed_s=0.01, samples_ms=[1.0])

    monkeypatch.setattr(fidelity_cmd, "_long_warmup", lambda fn, seconds: 0)
    monkeypatch.setattr(fidelity_cmd, "autorange_median_ms", lambda fn, threads, min_run_time: 1.0)
    monkeypatch.setattr(bench.timing, "measure", fake_measure)
    return seen


def _other_thread_count() -> int:
    return 1 if torch.get_num_threads() != 1 else 2


def test_fidelity_restores_threads(fast_fidelity, capsys):
    before, asked = torch.get_num_threads(), _other_thread_count()
    argv = ["fidelity", "--models", "resnet20_cifar", "--threads", str(asked), "--rounds", "1", "--warmup", "0",
            "--format", "json"]
    try:
        assert main(argv) == 0
        assert fast_fidelity and set(fast_fidelity) == {asked}  # the command did run with the asked count
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)  # never leak into later tests, even when this one fails


def test_fidelity_restores_threads_when_it_fails(fast_fidelity, monkeypatch, capsys):
    before, asked = torch.get_num_threads(), _other_thread_count()

    def failing_autorange(fn, threads, min_run_time):
        raise RuntimeError("boom in the reference timer")

    monkeypatch.setattr(fidelity_cmd, "autorange_median_ms", failing_autorange)
    argv = ["fidelity", "--models", "resnet20_cifar", "--threads", str(asked), "--rounds", "1", "--warmup", "0"]
    try:
        assert main(argv) == 3  # an internal error: one line, exit 3
        assert "boom in the reference timer" in capsys.readouterr().err
        assert fast_fidelity == [asked]  # it failed after measuring with the asked count
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


def test_fidelity_refuses_zero_threads(capsys):
    assert main(["fidelity", "--models", "resnet20_cifar", "--threads", "0"]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err


@pytest.mark.slow  # real timings: the default sampling caps plus blocked_autorange (~10-20 s)
def test_real_fidelity_run_restores_threads(capsys):
    before, asked = torch.get_num_threads(), _other_thread_count()
    try:
        assert main(["fidelity", "--models", "resnet20_cifar", "--threads", str(asked), "--rounds", "1",
                     "--warmup", "0", "--min-run-time", "0.05", "--format", "json"]) == 0
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)
