"""`bench run` / `bench results` on the CLI: errors exit 2 with one line; a tiny real run stores rows."""
import json

import pytest
import torch

from bench.cli import main

TINY = ["--max-time", "0.05", "--warmup-max-time", "0.05", "--min-samples", "5", "--no-progress"]


def _err_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("argv, text", [
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--device", "cpu", "--batch", "x"], "--batch: 'x' is not an integer"),
    (["--device", "cpu", "--batch", "0"], "--batch: 0 must be >= 1"),
    (["--device", "cpu", "--batch", ""], "--batch is empty"),
    (["--device", "cpu", "--dtype", "fp64"], "--dtype: unknown value 'fp64'"),
    (["--device", "cpu", "--layout", "nhcw"], "--layout: unknown value 'nhcw'"),
    (["--device", "cpu", "--impl", "fast"], "--impl: unknown value 'fast'"),
    (["--device", "cpu", "--ci", "abc"], "--ci: 'abc' is not a number"),
    (["--device", "cpu", "--ci", "150%"], "--ci: 150% must be between"),
    (["--device", "cpu", "--max-time", "-1"], "--max-time: -1 must be > 0"),
    (["--device", "cpu", "--models", "resnet9000"], "unknown model 'resnet9000'"),
    (["--device", "cpu", "--models", "nothing_*"], "matches no model"),
    (["--device", "cpu", "--cuda-graph"], "--cuda-graph needs --device cuda"),
    (["--device", "cpu", "--min-samples", "50", "--max-iters", "10"], "exceeds --max-iters"),
])
def test_bad_input_exits_2_with_one_line_and_no_database(tmp_path, capsys, argv, text):
    db = tmp_path / "r.sqlite"
    assert main(["run", *argv, "--db", str(db)]) == 2
    assert text in _err_line(capsys)
    assert not db.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path; this machine has CUDA")
def test_cuda_without_cuda_exits_2(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    assert main(["run", "--device", "cuda", "--models", "resnet20_cifar", "--db", str(db)]) == 2
    assert "CUDA is not available" in _err_line(capsys)
    assert not db.exists()


def test_help_texts():
    for cmd in ("run", "results", "export", "import", "fidelity"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0


def test_tiny_run_stores_every_cell(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    argv = ["run", "--device", "cpu", "--models", "resnet20_cifar", "--batch", "1,2", "--threads", "1",
            "--db", str(db), "--format", "json", *TINY]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [r["batch"] for r in summary] == [1, 2] and all(r["status"] == "ok" for r in summary)

    assert main(["results", "--db", str(db), "--run", "latest", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2
    for r in rows:
        assert r["target"] == "cpu" and r["threads"] == 1 and r["macs"] > 0 and r["params"] > 0
        assert r["ci_low_ms"] <= r["p50_ms"] <= r["ci_high_ms"] and r["samples"] >= 5
        assert r["warmup_iters"] >= 1 and r["stop_reason"] in ("ci_target", "max_time", "max_iters")
    assert rows[1]["p50_ms"] > 0

    # the same command with --resume finds nothing left to do and adds no row
    assert main([*argv, "--resume"]) == 0
    capsys.readouterr()
    assert main(["results", "--db", str(db), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
