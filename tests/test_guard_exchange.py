"""The contention guard's calibration series and per-cell `contended` flags travel through
`bench export` / `bench import` unchanged, are not duplicated by a second import, and an export
made before the guard (no series) still imports."""
import json
import sqlite3

import pytest

from bench import guard_store
from bench.cli import main
from bench.guard import Guard, GuardSettings
from bench.stats import summarize
from bench.store import ResultStore

QUIET, SLOW = 1.0, 1.5  # SLOW is 50 % beyond the quiet calibration: far past the tolerance


def guarded_db(path):
    """A DB with one guarded run: a quiet cell and a cell measured while the calibration ran slow."""
    calib = iter([QUIET] * 3 + [QUIET, QUIET] + [SLOW] * 10)
    now = [0.0]
    with ResultStore(path) as store:
        run_id = store.start_run("cpu", {"cpu_model": "fake"}, {"guard": GuardSettings().to_dict()})
        g = Guard(GuardSettings(retries=1, pause_s=1.0, check_blocks=1, baseline_readings=3, baseline_gap_s=0.0), lambda t, d: lambda: next(calib), cores=2,
                  load=lambda: 0.1, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s),
                  on_reading=lambda r: guard_store.add_reading(store, run_id, r))
        for i, model in enumerate(("resnet20_cifar", "resnet32_cifar")):
            out = g.run(model, lambda: (None, None), threads=1)
            samples = [1.0 + 0.01 * j for j in range(10)]
            store.add_result(run_id, {"model": model, "batch": 1, "dtype": "fp32", "layout": "nchw", "threads": 1},
                             summarize(samples), samples, family="resnet_cifar", extra=out.fields())
        store.finish_run(run_id)
    return run_id


def flags(store, run_id):
    df = store.results_frame(run_id)
    return {m: (json.loads(e) if isinstance(e, str) else e)["contended"] for m, e in zip(df["model"], df["extra"])}


def test_export_import_carries_series_and_flags(tmp_path, capsys):
    src, dst, out = tmp_path / "src.sqlite", tmp_path / "dst.sqlite", tmp_path / "x.json"
    run_id = guarded_db(src)
    assert main(["export", str(out), "--db", str(src)]) == 0
    with ResultStore(src, readonly=True) as store:
        want_series, want_flags = guard_store.series(store, run_id), flags(store, run_id)
    # the fixture really holds both a clean and a contended cell, and a contended reading
    assert sorted(want_flags.values()) == [False, True]
    assert any(r["contended"] for r in want_series) and not all(r["contended"] for r in want_series)
    assert main(["import", str(out), "--db", str(dst)]) == 0
    with ResultStore(dst, readonly=True) as store:
        assert guard_store.series(store, run_id) == want_series
        assert flags(store, run_id) == want_flags
    assert main(["import", str(out), "--db", str(dst)]) == 0  # twice: nothing added
    con = sqlite3.connect(dst)
    try:
        n = con.execute("SELECT COUNT(*) FROM guard_calibration WHERE run_id=?", (run_id,)).fetchone()[0]
        results = con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    finally:
        con.close()
    assert n == len(want_series) and results == len(want_flags)


def test_old_export_without_series_still_imports(tmp_path, capsys):
    src, dst, out = tmp_path / "src.sqlite", tmp_path / "dst.sqlite", tmp_path / "x.json"
    run_id = guarded_db(src)
    assert main(["export", str(out), "--db", str(src)]) == 0
    doc = json.loads(out.read_text())
    for run in doc["runs"]:
        del run["guard_calibration"]
    out.write_text(json.dumps(doc))
    assert main(["import", str(out), "--db", str(dst)]) == 0
    with ResultStore(dst, readonly=True) as store:
        assert guard_store.series(store, run_id) == []
        assert len(store.results_frame(run_id)) == 2


@pytest.mark.parametrize("mutate, contains", [
    (lambda run: run["guard_calibration"][0].update(contended=True), "contended is True"),
    (lambda run: run["guard_calibration"][0].update(calib_ms=-1.0), "calib_ms"),
    (lambda run: run["results"][0]["extra"].update(contended="yes"), "extra.contended"),
])
def test_bad_series_or_flag_is_refused(mutate, contains, tmp_path, capsys):
    src, dst, out = tmp_path / "src.sqlite", tmp_path / "dst.sqlite", tmp_path / "x.json"
    guarded_db(src)
    assert main(["export", str(out), "--db", str(src)]) == 0
    doc = json.loads(out.read_text())
    mutate(doc["runs"][0])
    out.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["import", str(out), "--db", str(dst)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and contains in err[0], err
    assert not dst.exists()
