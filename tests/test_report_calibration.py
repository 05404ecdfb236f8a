"""`bench report`'s Load line shows the calibration series of the runs it reports: number of
checks, drift min/median/max and contended checks; a run without a series shows none."""
import statistics

from bench import guard_store
from bench.cli import main
from bench.report.provenance import series_text
from bench.store import ResultStore
from test_guard_exchange import guarded_db


def test_report_load_line_summarises_the_series(tmp_path, capsys):
    db, out = tmp_path / "r.sqlite", tmp_path / "out"
    run_id = guarded_db(db)
    with ResultStore(db, readonly=True) as store:
        readings = guard_store.series(store, run_id)
    drifts = [r["drift"] for r in readings]
    want = (f"{len(readings)} checks over 1 run(s), drift min {min(drifts):+.1%} / median "
            f"{statistics.median(drifts):+.1%} / max {max(drifts):+.1%}, "
            f"{sum(r['contended'] for r in readings)} contended check(s)")
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    readmes = [p.read_text() for p in out.rglob("README.md")]
    assert any(want in text for text in readmes), want


def test_no_series_no_phrase():
    assert series_text([], 0) == ""
    assert series_text([{"label": "baseline", "calib_ms": None}], 1) == ""
