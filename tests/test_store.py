"""Result store: round trip, corrupt files, resume bookkeeping, JSON export/import merge."""
import json
import sqlite3

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.grid import Cell
from bench.stats import summarize
from bench.store import SCHEMA_VERSION, ResultStore

FP = {"cpu_model": "Test CPU 9000", "arch": "x86_64", "git_commit": "abc123"}


def _cell(model="resnet20_cifar", batch=1, impl=None):
    return Cell(model=model, batch=batch, dtype="fp32", layout="nchw", impl=impl, threads=1)


def _fill(store, n_cells=2, target="cpu"):
    run = store.start_run(target, FP, {"grid": {"batches": [1, 2]}})
    ids = []
    for b in range(1, n_cells + 1):
        samples = [1.0 * b, 1.1 * b, 0.9 * b, 1.05 * b, 0.95 * b]
        ids.append(store.add_result(run, _cell(batch=b), summarize(samples), samples, {"macs": 40, "params": 7},
                                    family="resnet_cifar", warmup_iters=6, stop_reason="ci_target"))
    return run, ids


def test_round_trip(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        run, ids = _fill(store)
        df = store.results_frame()
        assert len(df) == 2
        row = df.iloc[1]
        assert (row.model, row.batch, row.status, row.macs, row.params) == ("resnet20_cifar", 2, "ok", 40, 7)
        assert row.p50_ms == pytest.approx(2.0) and row.samples == 5
        assert row.machine == "Test CPU 9000 (x86_64)" and row.run_created_at
        assert store.samples_for(ids[1]) == pytest.approx([2.0, 2.2, 1.8, 2.1, 1.9])
        assert store.schema_version == SCHEMA_VERSION
        runs = store.runs_frame()
        assert list(runs.run_id) == [run] and runs.results.iloc[0] == 2
        assert runs.fingerprint.iloc[0]["cpu_model"] == "Test CPU 9000"


def test_runs_started_in_the_same_second_keep_insertion_order(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        ids = [store.start_run("cpu", FP, {}, run_id=f"{c}-run", created_at="2026-01-01T00:00:00+00:00")
               for c in "zay"]  # ids deliberately not in alphabetical order
        assert list(store.runs_frame().run_id) == ids
        store.export_json(tmp_path / "x.json")
        assert [r["run_id"] for r in json.loads((tmp_path / "x.json").read_text())["runs"]] == ids
        assert store.latest_matching_run("cpu", {}, "Test CPU 9000 (x86_64)") == "y-run"


def test_wal_mode_and_results_persist_across_connections(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        _fill(store)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 2
    con.close()


def test_failed_cells_are_results_without_stats(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        run = store.start_run("cpu", FP, {})
        store.add_result(run, _cell(batch=64), None, None, None, status="oom", message="out of memory")
        df = store.results_frame(status="oom")
        assert len(df) == 1 and df.iloc[0].message == "out of memory"
        assert df.p50_ms.isna().all()
        with pytest.raises(ValueError):
            store.add_result(run, _cell(batch=2), None, None, status="shrunk")


def test_finished_cells_and_duplicate_cell_refused(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        run, _ = _fill(store)
        assert store.finished_cells(run) == {_cell(batch=1).key(), _cell(batch=2).key()}
        # a duplicate cell (e.g. two concurrent --resume) is a one-line BenchError, never an IntegrityError
        with pytest.raises(BenchError, match="already stored"):
            store.add_result(run, _cell(batch=1), None, None, status="error")
        assert store.finished_cells(run) == {_cell(batch=1).key(), _cell(batch=2).key()}


def test_resume_matches_settings_and_machine(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        run, _ = _fill(store)
        machine = "Test CPU 9000 (x86_64)"
        assert store.latest_matching_run("cpu", {"grid": {"batches": [1, 2]}}, machine) == run
        assert store.latest_matching_run("cpu", {"grid": {"batches": [1]}}, machine) is None
        assert store.latest_matching_run("cpu", {"grid": {"batches": [1, 2]}}, "Other CPU (x86_64)") is None
        assert store.latest_matching_run("cuda", {"grid": {"batches": [1, 2]}}, machine) is None


def test_corrupt_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "r.sqlite"
    junk = b"this is not a database\n" * 100
    path.write_bytes(junk)
    with pytest.raises(BenchError, match="not an SQLite database"):
        ResultStore(path)
    assert path.read_bytes() == junk
    assert not (tmp_path / "r.sqlite-wal").exists()


def test_corrupt_file_cli_exit_2_one_line(tmp_path, capsys):
    path = tmp_path / "r.sqlite"
    path.write_bytes(b"garbage" * 50)
    assert main(["results", "--db", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not an SQLite database" in err
    assert path.read_bytes() == b"garbage" * 50


def test_foreign_sqlite_database_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(BenchError, match="not a zoobench results store"):
        ResultStore(path)
    assert path.read_bytes() == before


def test_newer_schema_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultStore(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE zoobench_meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(BenchError, match="newer"):
        ResultStore(path)


def test_export_import_merge_without_duplicates(tmp_path):
    src_path, dst_path, out = tmp_path / "gpu.sqlite", tmp_path / "main.sqlite", tmp_path / "x.json"
    with ResultStore(src_path) as src:
        run, ids = _fill(src, target="cuda")
        counts = src.export_json(out)
        assert counts == {"runs": 1, "results": 2}
    doc = json.loads(out.read_text())
    assert doc["format"] == "zoobench-results" and doc["runs"][0]["results"][0]["samples_ms"]
    with ResultStore(dst_path) as dst:
        _fill(dst)  # a local cpu run already there
        first = dst.import_json(out)
        second = dst.import_json(out)
        assert (first.runs_added, first.results_added, first.results_skipped) == (1, 2, 0)
        assert (second.runs_added, second.results_added, second.results_skipped) == (0, 0, 2)
        df = dst.results_frame()
        assert len(df) == 4 and set(df.target) == {"cpu", "cuda"}
        imported = df[df.run_id == run].sort_values("batch")
        assert imported.p50_ms.tolist() == pytest.approx([1.0, 2.0])
        rid = int(imported.result_id.iloc[1])
        assert dst.samples_for(rid) == pytest.approx([2.0, 2.2, 1.8, 2.1, 1.9])


def test_import_adds_missing_cells_of_a_known_run(tmp_path):
    a, b, out = tmp_path / "a.sqlite", tmp_path / "b.sqlite", tmp_path / "x.json"
    with ResultStore(a) as sa:
        run, _ = _fill(sa, n_cells=3)
        sa.export_json(out)
    partial = json.loads(out.read_text())
    partial["runs"][0]["results"] = partial["runs"][0]["results"][:1]
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    with ResultStore(b) as sb:
        sb.import_json(tmp_path / "partial.json")
        s = sb.import_json(out)
        assert (s.runs_added, s.results_added, s.results_skipped) == (0, 2, 1)
        assert len(sb.results_frame(run_id=run)) == 3


def test_import_rejects_non_export(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": 1}))
    db = tmp_path / "db.sqlite"
    assert main(["import", str(bad), "--db", str(db)]) == 2
    assert "not a zoobench JSON export" in capsys.readouterr().err
    assert not db.exists()


def test_export_cli_unknown_run(tmp_path, capsys):
    db = tmp_path / "db.sqlite"
    with ResultStore(db) as s:
        _fill(s)
    assert main(["export", str(tmp_path / "o.json"), "--db", str(db), "--run", "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


def test_results_cli_json_rows(tmp_path, capsys):
    db = tmp_path / "db.sqlite"
    with ResultStore(db) as s:
        run, _ = _fill(s)
    assert main(["results", "--db", str(db), "--run", run, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    need = {"model", "target", "batch", "dtype", "layout", "impl", "status", "p50_ms", "p90_ms", "p99_ms",
            "ci_low_ms", "ci_high_ms", "samples", "macs", "params", "machine"}
    assert len(rows) == 2 and need <= set(rows[0])
    assert rows[0]["impl"] is None and rows[0]["p50_ms"] == pytest.approx(1.0)


def test_results_cli_missing_db(tmp_path, capsys):
    assert main(["results", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "no results database" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()
