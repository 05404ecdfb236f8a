"""Nothing a user types can crash zoobench or damage stored results (issue 12).

One parametrised test per class of bad input (import files, export targets, databases, output
paths, arguments, concurrent writers, interrupts and broken pipes). Each case asserts: exit 2
(130 / 141 for Ctrl-C / a closed pipe), exactly one line on stderr, no traceback, and the
database's bytes unchanged. The cases live in tests/bad_input_cases.py, which
benchmarks/bad_inputs.py also runs as subprocesses.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bad_input_cases import (IMPORT_FILES, IMPORT_MUTATIONS, RUN_ARGS, corrupt_data_page, foreign_sqlite,
                             good_export, make_db)
from bench import store as store_mod
from bench.cli import main
from bench.errors import BenchError
from bench.schema import MAX_FILE_BYTES
from bench.store import ResultStore

REPO = Path(__file__).resolve().parent.parent


def digest(path: Path) -> str | None:
    """SHA-256 of a file's bytes (None when absent)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def counts(db: Path) -> tuple[int, int, int]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "results", "samples"))
    finally:
        con.close()


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, err: str, contains: str = "", expected: int = 2) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert code == expected, err
    assert contains in lines[0], lines[0]


@pytest.fixture(scope="module")
def base_db(tmp_path_factory) -> Path:
    return make_db(tmp_path_factory.mktemp("base") / "results.sqlite")


@pytest.fixture
def db(base_db, tmp_path) -> Path:
    """A fresh copy of a small store (2 runs x 3 cells, with samples)."""
    path = tmp_path / "results.sqlite"
    path.write_bytes(base_db.read_bytes())
    return path


@pytest.fixture(scope="module")
def export_doc(base_db) -> dict:
    return good_export(base_db)


def renamed(doc: dict, suffix: str = "-x", runs: slice = slice(None)) -> dict:
    """A copy of `doc` whose runs (all, or a slice) have new ids, so importing it would add rows."""
    doc = json.loads(json.dumps(doc))
    for run in doc["runs"][runs]:
        run["run_id"] += suffix
        for res in run["results"]:
            res["run_id"] = run["run_id"]
    return doc


# -- import -----------------------------------------------------------------------------
@pytest.mark.parametrize("case,mutate,contains", IMPORT_MUTATIONS, ids=[c[0] for c in IMPORT_MUTATIONS])
def test_bad_import_document_is_refused_untouched(case, mutate, contains, db, export_doc, tmp_path, capsys):
    doc = renamed(export_doc)
    mutate(doc)
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    before, rows = digest(db), counts(db)
    code, out, err = cli(["import", src, "--db", db], capsys)
    assert_refused(code, err, contains)
    assert digest(db) == before and counts(db) == rows


def test_the_valid_import_of_the_same_document_works(db, export_doc, tmp_path, capsys):
    """The battery's control: the unmutated document imports (so the refusals above are the mutation's)."""
    doc = renamed(export_doc)
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    runs, results, samples = counts(db)
    code, _, err = cli(["import", src, "--db", db], capsys)
    assert code == 0, err
    assert counts(db) == (2 * runs, 2 * results, 2 * samples)


@pytest.mark.parametrize("case,content,contains", IMPORT_FILES, ids=[c[0] for c in IMPORT_FILES])
def test_bad_import_file_is_refused_untouched(case, content, contains, db, tmp_path, capsys):
    src = tmp_path / "in.json"
    src.write_bytes(content)
    before = digest(db)
    code, _, err = cli(["import", src, "--db", db], capsys)
    assert_refused(code, err, contains)
    assert digest(db) == before


@pytest.mark.parametrize("case", ["missing", "directory", "too-large"])
def test_import_source_that_is_not_a_readable_file(case, db, tmp_path, capsys):
    src = tmp_path / "in.json"
    if case == "directory":
        src.mkdir()
    elif case == "too-large":
        with src.open("wb") as fh:  # sparse: no real disk use
            fh.truncate(MAX_FILE_BYTES + 1)
    before = digest(db)
    code, _, err = cli(["import", src, "--db", db], capsys)
    assert_refused(code, err, str(src))
    assert digest(db) == before


def test_refused_import_creates_no_database(tmp_path, capsys):
    src = tmp_path / "in.json"
    src.write_text('{"format": "zoobench-results", "schema_version": 1, "runs": [{"run_id": 1}]}')
    code, _, err = cli(["import", src, "--db", tmp_path / "new.sqlite"], capsys)
    assert_refused(code, err, "$.runs[0]")
    assert not (tmp_path / "new.sqlite").exists()


def test_import_is_all_or_nothing_when_the_disk_fills(db, export_doc, tmp_path, capsys, monkeypatch):
    """Disk full half-way through (SQLite's max_page_count): one line, nothing of the file imported."""
    doc = renamed(export_doc)
    for run in doc["runs"]:
        for res in run["results"]:
            res["message"] = "m" * 5000  # several pages per run
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    real = store_mod._connect

    def tight(path, readonly):
        conn = real(path, readonly)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        return conn

    monkeypatch.setattr(store_mod, "_connect", tight)
    rows = counts(db)
    code, _, err = cli(["import", src, "--db", db], capsys)
    assert_refused(code, err, "full")
    assert counts(db) == rows


# -- export -----------------------------------------------------------------------------
def _export_targets(tmp_path: Path, db: Path) -> dict[str, tuple[list[str], Path, str]]:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    other_db = foreign_sqlite(tmp_path / "other.sqlite")
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    return {
        "onto-database": (["export", db, "--db", db], db, "database itself"),
        "onto-database-force": (["export", db, "--db", db, "--force"], db, "database itself"),
        "onto-other-sqlite-force": (["export", other_db, "--db", db, "--force"], other_db, "SQLite"),
        "onto-notes": (["export", notes, "--db", db], notes, "--force"),
        "onto-folder": (["export", folder, "--db", db], folder, "folder"),
        "parent-is-file": (["export", a_file / "x.json", "--db", db], a_file, "is a file"),
        "unknown-run": (["export", tmp_path / "x.json", "--db", db, "--run", "nope"], tmp_path / "x.json", "nope"),
        "missing-db": (["export", tmp_path / "y.json", "--db", tmp_path / "none.sqlite"], tmp_path / "y.json",
                       "no results database"),
        "db-is-folder": (["export", tmp_path / "z.json", "--db", folder], tmp_path / "z.json", "directory"),
        "db-is-notes": (["export", tmp_path / "w.json", "--db", notes], tmp_path / "w.json", "not an SQLite"),
        "db-is-foreign": (["export", tmp_path / "v.json", "--db", other_db], tmp_path / "v.json", "not a zoobench"),
    }


EXPORT_CASES = ["onto-database", "onto-database-force", "onto-other-sqlite-force", "onto-notes", "onto-folder",
                "parent-is-file", "unknown-run", "missing-db", "db-is-folder", "db-is-notes", "db-is-foreign"]


@pytest.mark.parametrize("case", EXPORT_CASES)
def test_export_never_destroys(case, db, tmp_path, capsys):
    argv, target, contains = _export_targets(tmp_path, db)[case]
    before_db = digest(db)
    before_target = digest(target) if target.is_file() else None
    code, _, err = cli(argv, capsys)
    assert_refused(code, err, contains)
    assert digest(db) == before_db
    if target.is_file() or before_target is not None:
        assert digest(target) == before_target
    else:
        assert not target.exists() or target.is_dir()
    assert not list(tmp_path.glob("**/.*.tmp")) and not list(tmp_path.glob("**/*.json.tmp"))


def test_export_replaces_its_own_export_and_a_forced_file(db, tmp_path, capsys):
    out = tmp_path / "x.json"
    assert cli(["export", out, "--db", db], capsys)[0] == 0
    assert cli(["export", out, "--db", db], capsys)[0] == 0  # re-export over our own file is fine
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert cli(["export", notes, "--db", db, "--force"], capsys)[0] == 0
    assert json.loads(notes.read_text())["format"] == "zoobench-results"


@pytest.mark.parametrize("fail_at", ["write", "fsync", "replace"])
def test_export_disk_full_leaves_no_temporary_file(fail_at, db, tmp_path, capsys, monkeypatch):
    out = tmp_path / "x.json"
    full = OSError(errno.ENOSPC, "No space left on device")

    def boom(*a, **k):
        raise full

    if fail_at == "fsync":
        monkeypatch.setattr(store_mod.os, "fsync", boom)
    elif fail_at == "replace":
        monkeypatch.setattr(store_mod.os, "replace", boom)
    else:
        real_fdopen = store_mod.os.fdopen

        def full_disk_file(fd, *a, **k):
            fh = real_fdopen(fd, *a, **k)
            fh.write = boom
            return fh

        monkeypatch.setattr(store_mod.os, "fdopen", full_disk_file)
    code, _, err = cli(["export", out, "--db", db], capsys)
    assert_refused(code, err, "No space left")
    assert not out.exists()
    # only the database (and SQLite's own -wal/-shm companions of a WAL file) remain
    assert {p.name for p in tmp_path.iterdir()} <= {"results.sqlite", "results.sqlite-wal", "results.sqlite-shm"}


# -- databases --------------------------------------------------------------------------
def _bad_db(case: str, tmp_path: Path, db: Path) -> Path:
    if case == "damaged-page":
        corrupt_data_page(db)
        return db
    if case == "truncated":
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 2 + 100])
        return db
    if case == "text-file":
        db.write_text("not a database\n")
        return db
    if case == "foreign":
        return foreign_sqlite(tmp_path / "foreign.sqlite")
    if case == "newer-schema":
        con = sqlite3.connect(db)
        con.execute("UPDATE zoobench_meta SET value='99' WHERE key='schema_version'")
        con.commit()
        con.close()
        return db
    if case == "garbage-schema":
        con = sqlite3.connect(db)
        con.execute("UPDATE zoobench_meta SET value='x' WHERE key='schema_version'")
        con.commit()
        con.close()
        return db
    if case == "header-zeroed":
        data = bytearray(db.read_bytes())
        data[16:100] = bytes(84)
        db.write_bytes(bytes(data))
        return db
    raise AssertionError(case)


DB_CASES = ["damaged-page", "truncated", "text-file", "foreign", "newer-schema", "garbage-schema", "header-zeroed"]
DB_COMMANDS = {
    "import": lambda db, src: ["import", src, "--db", db],
    "results": lambda db, src: ["results", "--db", db],
    "export": lambda db, src: ["export", Path(src).with_name("out.json"), "--db", db],
    "report": lambda db, src: ["report", "--db", db, "--out", Path(src).with_name("rep")],
}


@pytest.mark.parametrize("command", sorted(DB_COMMANDS))
@pytest.mark.parametrize("case", DB_CASES)
def test_bad_database_is_refused_untouched(case, command, db, export_doc, tmp_path, capsys):
    doc = renamed(export_doc, "-new", slice(0, 1))
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    bad = _bad_db(case, tmp_path, db)
    before = digest(bad)
    code, out, err = cli(DB_COMMANDS[command](bad, src), capsys)
    # a reader may still read a file whose damage lies elsewhere; anything else is one line, exit 2
    if not (code == 0 and command in ("results", "export", "report") and case == "damaged-page"):
        assert_refused(code, err)
    assert "Traceback" not in err
    assert digest(bad) == before


def test_damaged_database_refused_by_bench_run_before_measuring(db, tmp_path, capsys):
    corrupt_data_page(db)
    before = digest(db)
    code, _, err = cli(["run", "--device", "cpu", "--models", "resnet20_cifar", "--threads", "1", "--db", db,
                        "--no-progress", "--max-time", "0.05"], capsys)
    assert_refused(code, err, "damaged")
    assert digest(db) == before


def test_integrity_check_cost_on_a_realistic_store(tmp_path):
    """130 cells x 2000 samples: the writer's quick_check must stay cheap enough to run on every open.
    (A functional bound, generous for a busy shared machine; it guards against an O(n log n) full check.)"""
    path = tmp_path / "big.sqlite"
    with ResultStore(path) as store:
        run = store.start_run("cpu", {"cpu_model": "x"}, {})
        with store.conn:
            for i in range(130):
                store._insert_result(run, "cpu", {"model": f"m{i}", "batch": 1, "dtype": "fp32", "layout": "nchw"},
                                     None, [1.0 + j * 1e-3 for j in range(2000)], None, status="error", message="",
                                     family=None, impl=None, warmup_iters=None, stop_reason=None, extra=None)
    t0 = time.perf_counter()
    with ResultStore(path):
        pass
    assert time.perf_counter() - t0 < 5.0


def test_readers_open_read_only(db):
    """Readers use mode=ro: they cannot write even by mistake (a read-only file stays readable)."""
    before = digest(db)
    with ResultStore(db, readonly=True) as store:
        assert len(store.results_frame()) == 6
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.conn.execute("DELETE FROM samples")
    assert digest(db) == before


def test_read_only_file_can_be_read(db, capsys):
    os.chmod(db, 0o444)
    try:
        code, out, err = cli(["results", "--db", db, "--format", "json"], capsys)
    finally:
        os.chmod(db, 0o644)
    assert code == 0, err
    assert len(json.loads(out)) == 6


@pytest.mark.parametrize("command", ["import", "run"])
def test_locked_database_is_one_line(command, db, export_doc, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(store_mod, "LOCK_TIMEOUT_S", 0.2)
    doc = renamed(export_doc, "-new", slice(0, 1))
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    argv = DB_COMMANDS[command](db, src) if command == "import" else \
        ["run", "--device", "cpu", "--models", "resnet20_cifar", "--threads", "1", "--db", db, "--no-progress"]
    holder = sqlite3.connect(db, isolation_level=None)  # another writer, mid-transaction
    holder.execute("BEGIN IMMEDIATE")
    try:
        rows = holder.execute("SELECT count(*) FROM results").fetchone()
        code, _, err = cli(argv, capsys)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_refused(code, err, "locked")
    assert counts(db)[1] == rows[0]


# -- output paths -----------------------------------------------------------------------
def _paths(tmp_path: Path) -> dict[str, Path]:
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    return {"file": a_file, "under-file": a_file / "sub" / "x.sqlite", "folder": tmp_path}


PATH_CASES = [
    ("run-db-under-file", lambda p, db: ["run", "--device", "cpu", "--models", "resnet20_cifar", "--threads", "1",
                                         "--db", p["under-file"], "--no-progress"], "is a file"),
    ("run-db-is-folder", lambda p, db: ["run", "--device", "cpu", "--models", "resnet20_cifar", "--threads", "1",
                                        "--db", p["folder"], "--no-progress"], "directory"),
    ("import-db-under-file", lambda p, db: ["import", p["json"], "--db", p["under-file"]], "is a file"),
    ("import-db-is-folder", lambda p, db: ["import", p["json"], "--db", p["folder"]], "directory"),
    ("report-out-is-file", lambda p, db: ["report", "--db", db, "--out", p["file"]], "is a file"),
    ("report-out-under-file", lambda p, db: ["report", "--db", db, "--out", p["file"] / "rep"], "is a file"),
    ("results-db-is-folder", lambda p, db: ["results", "--db", p["folder"]], "directory"),
    ("results-db-missing", lambda p, db: ["results", "--db", p["folder"] / "none.sqlite"], "no results database"),
    ("report-db-missing", lambda p, db: ["report", "--db", p["folder"] / "none.sqlite"], "no results database"),
]


@pytest.mark.parametrize("case,argv,contains", PATH_CASES, ids=[c[0] for c in PATH_CASES])
def test_bad_paths_are_one_line(case, argv, contains, db, export_doc, tmp_path, capsys):
    paths = _paths(tmp_path)
    paths["json"] = tmp_path / "in.json"
    paths["json"].write_text(json.dumps(export_doc))
    before = digest(db), digest(paths["file"])
    code, _, err = cli(argv(paths, db), capsys)
    assert_refused(code, err, contains)
    assert (digest(db), digest(paths["file"])) == before


@pytest.mark.parametrize("name", ["../../escaped", "/abs/olute", "..", "a/../../b", "x\\..\\..\\y"])
def test_report_stays_inside_out_whatever_the_stored_names(name, db, export_doc, tmp_path, capsys):
    doc = renamed(export_doc, "-evil", slice(0, 1))
    run = doc["runs"][0]
    run["target"] = name
    run["fingerprint"] = {"cpu_model": name, "arch": name}
    for res in run["results"]:
        res["target"] = name
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    assert cli(["import", src, "--db", db], capsys)[0] == 0
    out = tmp_path / "work" / "out"
    code, _, err = cli(["report", "--db", db, "--out", out], capsys)
    assert code == 0, err
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".md", ".csv", ".html", ".png")]
    assert written and all(p.resolve().is_relative_to(out.resolve()) for p in written)


def test_report_default_is_bench_out_not_the_committed_folder():
    from bench.commands import report_cmd

    assert Path(report_cmd.DEFAULT_OUT) == Path("bench-out/report")


# -- arguments --------------------------------------------------------------------------
@pytest.mark.parametrize("case,extra", RUN_ARGS, ids=[c[0] for c in RUN_ARGS])
def test_bad_run_arguments_fail_before_anything_is_written(case, extra, tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    argv = ["run", "--device", "cpu", "--models", "resnet20_cifar", "--threads", "1", "--db", db, "--no-progress"]
    code, _, err = cli(argv + extra, capsys)
    assert_refused(code, err)
    assert not db.exists()


OTHER_ARGS = [
    ("results-status", ["results", "--status", "great"]),
    ("results-run", ["results", "--run", "nope"]),
    ("report-batch-zero", ["report", "--batch", "0"]),
    ("report-batch-word", ["report", "--batch", "x"]),
    ("report-target", ["report", "--target", "tpu"]),
    ("results-format", ["results", "--format", "xml"]),
    ("unknown-command", ["frobnicate"]),
    ("unknown-option", ["results", "--colour"]),
]


@pytest.mark.parametrize("case,argv", OTHER_ARGS, ids=[c[0] for c in OTHER_ARGS])
def test_bad_reader_arguments_are_one_line(case, argv, db, capsys):
    before = digest(db)
    with_db = argv + (["--db", str(db)] if argv[0] in ("results", "report") else [])
    try:
        code, _, err = cli(with_db, capsys)
    except SystemExit as exc:  # argparse's own refusal
        code, err = exc.code, capsys.readouterr().err
    assert_refused(code, err)
    assert digest(db) == before


def test_threads_beyond_the_machine_are_an_error_naming_the_cores(tmp_path, capsys):
    cores = os.cpu_count() or 1
    code, _, err = cli(["run", "--device", "cpu", "--models", "resnet20_cifar", "--threads", str(cores + 1),
                        "--db", tmp_path / "r.sqlite"], capsys)
    assert_refused(code, err, f"{cores} logical core")


# -- concurrent writers -----------------------------------------------------------------
def test_two_writers_of_the_same_cell_second_refused_in_one_line(db, capsys, monkeypatch):
    """What two concurrent `--resume` of one run do: both saw the cell missing; the second to
    store it is refused with one line (exit 2), the first one's row stays."""
    from bench.grid import Cell

    a, b = ResultStore(db), ResultStore(db)
    try:
        run = a.runs_frame()["run_id"].iloc[-1]
        cell = Cell("resnet20_cifar", 99, "fp32", "nchw", None, 1)
        a.add_result(run, cell, None, None, status="error", message="first")
        with pytest.raises(BenchError) as info:
            b.add_result(run, cell, None, None, status="error", message="second")
    finally:
        a.close()
        b.close()
    assert info.value.code == 2 and "\n" not in str(info.value) and "already stored" in str(info.value)
    con = sqlite3.connect(db)
    assert con.execute("SELECT message FROM results WHERE batch=99").fetchall() == [("first",)]
    con.close()

    def clash(args):
        raise info.value

    import bench.commands.run_cmd as run_cmd

    monkeypatch.setattr(run_cmd, "run", clash)
    code, _, err = cli(["run", "--device", "cpu"], capsys)
    assert_refused(code, err, "already stored")


# -- exit codes, interrupts and broken pipes --------------------------------------------
def test_internal_error_exits_3_with_one_line_and_debug_shows_it(capsys, monkeypatch):
    import bench.commands.results_cmd as results_cmd

    def bug(args):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(results_cmd, "run", bug)
    code, _, err = cli(["results"], capsys)
    assert_refused(code, err, "--debug", expected=3)
    with pytest.raises(TypeError):
        main(["results", "--debug"])
    monkeypatch.setenv("ZOOBENCH_DEBUG", "1")
    with pytest.raises(TypeError):
        main(["results"])


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), BrokenPipeError(errno.EPIPE, "Broken pipe")],
                         ids=["ctrl-c", "broken-pipe"])
@pytest.mark.parametrize("when", ["start-up", "command"])
def test_interrupts_and_broken_pipes_are_quiet(exc, when, capsys, monkeypatch):
    import bench.cli as cli_mod
    import bench.commands.results_cmd as results_cmd

    def raise_it(*a, **k):
        raise exc

    if when == "start-up":
        monkeypatch.setattr(cli_mod, "build_parser", raise_it)
    else:
        monkeypatch.setattr(results_cmd, "run", raise_it)
    code, _, err = cli(["results"], capsys)
    assert "Traceback" not in err
    if isinstance(exc, KeyboardInterrupt):
        assert code == 130 and len(err.strip().splitlines()) == 1
    else:
        assert code == 141 and err == ""


def _bench(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from bench.cli import main; sys.exit(main())", *args]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_broken_pipe_in_a_real_pipe_is_quiet(db):
    big = db.with_name("big.sqlite")
    make_db(big, runs=30, cells=20)  # enough rows to overflow a pipe buffer
    proc = subprocess.Popen(_bench("results", "--db", str(big), "--format", "json"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(), cwd=REPO)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert proc.returncode == 141


def test_ctrl_c_during_start_up_is_quiet():
    proc = subprocess.Popen(_bench("zoo", "list"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
                            cwd=REPO)
    time.sleep(0.5)  # inside the imports (torch takes seconds)
    if proc.poll() is not None:
        pytest.skip("the command finished before the signal could be sent")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err.decode(), err.decode()
    assert proc.returncode == 130


# -- noisy cells -------------------------------------------------------------------------
def test_noisy_is_derived_from_the_stop_reason():
    from bench.noise import is_noisy
    from bench.timing import STOP_CI, STOP_ITERS, STOP_TIME

    assert is_noisy("ok", STOP_TIME)
    assert not is_noisy("ok", STOP_CI) and not is_noisy("ok", STOP_ITERS) and not is_noisy("error", STOP_TIME)


def test_noisy_cells_are_marked_in_results_and_never_called_out(tmp_path, capsys):
    from bench.grid import Cell
    from bench.report.fronts import rank_comparison
    from bench.stats import summarize

    db = tmp_path / "r.sqlite"
    with ResultStore(db) as store:
        run = store.start_run("cpu", {"cpu_model": "x", "arch": "x86_64"}, {})
        for i, (macs, ms, reason) in enumerate([(1, 1.0, "ci_target"), (2, 2.0, "ci_target"), (3, 3.0, "ci_target"),
                                                (4, 0.5, "max_time")]):
            samples = [ms, ms * 1.01, ms * 0.99, ms, ms]
            store.add_result(run, Cell(f"m{i}", 1, "fp32", "nchw", None, 1), summarize(samples), samples,
                             {"macs": macs * 10 ** 6, "params": 1}, stop_reason=reason)
    code, out, _ = cli(["results", "--db", db, "--format", "json"], capsys)
    assert code == 0
    assert [r["noisy"] for r in json.loads(out)] == [False, False, False, True]
    code, out, _ = cli(["results", "--db", db], capsys)
    assert "noisy" in out.splitlines()[-1] and out.count(" noisy ") >= 1
    with ResultStore(db, readonly=True) as store:
        rows = store.results_frame()
    rows["label"] = rows["model"]
    ranks = rank_comparison(rows)
    assert ranks.n == 4  # the noisy row still counts in rho ...
    assert "m3" not in set(ranks.outliers["label"])  # ... but the most shifted variant is not called out
    clean = rows.assign(stop_reason="ci_target")
    assert "m3" in set(rank_comparison(clean).outliers["label"])  # (it would be, were it precise)
