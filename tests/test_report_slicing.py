"""Honest slicing: `bench report --run/--latest/--since`, one front per setting, what was left out."""
from __future__ import annotations

import pandas as pd
import pytest

from bench.cli import main
from bench.errors import BenchError
from tests.test_report import SMALL_MODELS, synthetic_frames

MODELS = {m: SMALL_MODELS[m] for m in ("vgg16_cifar", "vgg16_cifar_p2", "vgg16_cifar_p4", "resnet56_cifar")}


def two_runs():
    old, runs_old = synthetic_frames(MODELS, run_id="old", created_at="2026-11-20T10:00:00+00:00")
    new, runs_new = synthetic_frames(MODELS, run_id="new", created_at="2026-11-22T10:00:00+00:00", seed=3)
    new = new[new["model"] != "resnet56_cifar"]  # the new run re-measured only part of the grid
    return pd.concat([old, new], ignore_index=True), pd.concat([runs_old, runs_new], ignore_index=True)


def test_run_selects_only_that_run_and_names_the_others():
    from bench.report.selection import select_runs

    results, _ = two_runs()
    kept, sel = select_runs(results, run_ids=["old"])
    assert set(kept["run_id"]) == {"old"}
    assert sel.left_out == {"new": "not named by --run"}


def test_latest_takes_the_newest_run_per_target_and_machine_only():
    from bench.report.selection import select_runs

    results, _ = two_runs()
    kept, sel = select_runs(results, latest=True)
    assert set(kept["run_id"]) == {"new"} and "resnet56_cifar" not in set(kept["model"])
    assert "old" in sel.left_out and "--latest" in sel.left_out["old"]
    # combined with --run, --latest picks the newest of the named runs
    kept, _ = select_runs(results, run_ids=["old"], latest=True)
    assert set(kept["run_id"]) == {"old"}


def test_since_keeps_runs_from_that_date_and_rejects_bad_input():
    from bench.report.selection import select_runs

    results, _ = two_runs()
    kept, sel = select_runs(results, since="2026-11-21")
    assert set(kept["run_id"]) == {"new"} and "before --since" in sel.left_out["old"]
    with pytest.raises(BenchError, match="--since wants a date"):
        select_runs(results, since="last tuesday")
    with pytest.raises(BenchError, match="no results left"):
        select_runs(results, since="2027-01-01")
    with pytest.raises(BenchError, match="unknown run id"):
        select_runs(results, run_ids=["nope"])


def test_cli_run_option_lists_what_was_left_out(tmp_path, capsys, monkeypatch):
    import bench.report.source as source

    results, runs = two_runs()
    monkeypatch.setattr(source, "load_frames", lambda db: (results, runs))
    assert main(["report", "--out", str(tmp_path), "--run", "new"]) == 0
    [page] = list(tmp_path.glob("cpu-*/batch-1/README.md"))
    assert "run old (not named by --run)" in page.read_text()
    assert "resnet56_cifar," not in (page.parent / "results.csv").read_text()
    assert main(["report", "--out", str(tmp_path / "all")]) == 0
    [page] = list((tmp_path / "all").glob("cpu-*/batch-1/README.md"))
    # without a selection the old run still fills the cell the new one skipped; replaced rows are counted
    assert "3 older measurements of cells re-measured by a newer run" in page.read_text()
    capsys.readouterr()
    assert main(["report", "--out", str(tmp_path), "--run", "nope"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_front_never_mixes_thread_counts():
    from bench.report.data import build_slices

    one, runs = synthetic_frames(MODELS)
    one = one.assign(threads=1)
    two = one.copy()
    two["threads"] = 2
    # with 2 threads every model is much faster: one mixed front would drop every 1-thread point
    two["p50_ms"] /= 10
    two["ci_low_ms"] /= 10
    two["ci_high_ms"] /= 10
    [s] = build_slices(pd.concat([one, two], ignore_index=True), runs)
    single = build_slices(one, runs)[0]
    by_model = single.rows.set_index("model")["on_front"]
    ones = s.rows[s.rows["threads"] == 1].set_index("model")
    for model, flag in by_model.items():
        assert ones.loc[model, "on_front"] == flag, model
    assert set(s.rows["front_setting"].dropna()) == {"1 thr, fp32, nchw, eager", "2 thr, fp32, nchw, eager"}


def test_charts_are_drawn_per_setting(tmp_path):
    from bench.report.data import build_slices
    from bench.report.writer import write_slice

    one, runs = synthetic_frames(MODELS)
    one, two = one.assign(threads=1), one.assign(threads=2)
    [s] = build_slices(pd.concat([one, two], ignore_index=True), runs)
    written = write_slice(s, tmp_path)
    names = {p.name for p in written.files}
    assert {"accuracy-vs-latency-cifar10-1-thr-fp32-nchw-eager.png",
            "accuracy-vs-latency-cifar10-2-thr-fp32-nchw-eager.png"} <= names


def test_family_colours_never_repeat_in_one_chart():
    from bench.report.charts import PALETTE, family_colors

    for n in (5, len(PALETTE), len(PALETTE) + 6):
        colors = family_colors([f"family{i}" for i in range(n)])
        assert len(set(colors.values())) == n
        assert all(not (c[0] == c[1] == c[2]) for c in colors.values())  # never grey: grey means dominated
