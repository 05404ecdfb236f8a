"""Run the bad-input battery as real `bench` subprocesses and print counts the lead can quote.

    PYTHONPATH=. python benchmarks/bad_inputs.py [--quick]

Each case is a realistic mistake (tests/bad_input_cases.py: broken import files, bad run
arguments, damaged databases, destructive export targets, bad paths). The promise checked per
case: exit 2, exactly one stderr line, no traceback, and the database's bytes unchanged.
Prints one line per broken promise and a summary: cases, tracebacks, exit codes seen, stderr
line counts, databases changed. Exit status 0 when every case kept the promise, else 1.
Takes a few minutes (one Python start-up per case); `--quick` runs every fifth case.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from bad_input_cases import (IMPORT_FILES, IMPORT_MUTATIONS, RUN_ARGS, corrupt_data_page,  # noqa: E402
                             foreign_sqlite, good_export, make_db)


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _renamed(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    for run in doc["runs"]:
        run["run_id"] += "-x"
        for res in run["results"]:
            res["run_id"] = run["run_id"]
    return doc


def cases(work: Path, base: Path) -> list[tuple[str, list[str], Path]]:
    """(name, argv after `bench`, database to watch); files are prepared under `work`."""
    out: list[tuple[str, list[str], Path]] = []

    def fresh(name: str) -> Path:
        db = work / name / "results.sqlite"
        db.parent.mkdir(parents=True)
        db.write_bytes(base.read_bytes())
        return db

    export = good_export(base)
    for name, mutate, _ in IMPORT_MUTATIONS:
        db = fresh(f"import-{name}")
        doc = _renamed(export)
        mutate(doc)
        src = db.with_name("in.json")
        src.write_text(json.dumps(doc))
        out.append((f"import/{name}", ["import", str(src), "--db", str(db)], db))
    for name, content, _ in IMPORT_FILES:
        db = fresh(f"file-{name}")
        src = db.with_name("in.json")
        src.write_bytes(content)
        out.append((f"import-file/{name}", ["import", str(src), "--db", str(db)], db))
    for name, extra in RUN_ARGS:
        db = work / f"run-{name}" / "results.sqlite"
        db.parent.mkdir()
        out.append((f"run-args/{name}", ["run", "--device", "cpu", "--models", "resnet20_cifar", "--threads", "1",
                                         "--db", str(db), "--no-progress", *extra], db))
    for command in ("import", "results", "export", "report", "run"):
        for damage in ("damaged-page", "text-file", "foreign", "truncated"):
            db = fresh(f"db-{command}-{damage}")
            if damage == "damaged-page":
                corrupt_data_page(db)
            elif damage == "text-file":
                db.write_text("not a database\n")
            elif damage == "foreign":
                db.unlink()
                foreign_sqlite(db)
            else:
                db.write_bytes(db.read_bytes()[:3000])
            src = db.with_name("in.json")
            src.write_text(json.dumps(_renamed(export)))
            argv = {"import": ["import", str(src)], "results": ["results"],
                    "export": ["export", str(db.with_name("out.json"))],
                    "report": ["report", "--out", str(db.with_name("rep"))],
                    "run": ["run", "--device", "cpu", "--models", "resnet20_cifar", "--threads", "1",
                            "--no-progress", "--max-time", "0.05"]}[command]
            out.append((f"database/{command}-{damage}", argv + ["--db", str(db)], db))
    db = fresh("export-targets")
    notes = db.with_name("notes.txt")
    notes.write_text("mine\n")
    afile = db.with_name("afile")
    afile.write_text("x")
    for name, target, extra in (("onto-db", db, []), ("onto-db-force", db, ["--force"]), ("onto-notes", notes, []),
                                ("onto-folder", db.parent, []), ("under-a-file", afile / "x.json", [])):
        out.append((f"export/{name}", ["export", str(target), "--db", str(db), *extra], db))
    for name, argv in (("report-out-file", ["report", "--out", str(afile)]),
                       ("report-out-under-file", ["report", "--out", str(afile / "r")]),
                       ("import-db-under-file", ["import", str(db.with_name("in.json"))]),
                       ("results-bad-status", ["results", "--status", "great"]),
                       ("results-bad-run", ["results", "--run", "nope"])):
        target_db = afile / "x.sqlite" if name == "import-db-under-file" else db
        out.append((f"paths/{name}", argv + ["--db", str(target_db)], db))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every fifth case only")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "ZOOBENCH_LOCK_TIMEOUT": "2"}
    with tempfile.TemporaryDirectory(prefix="zoobench-bad-inputs-") as tmp:
        work = Path(tmp)
        base = make_db(work / "base.sqlite")
        todo = cases(work, base)
        if args.quick:
            todo = todo[::5]
        codes: collections.Counter = collections.Counter()
        tracebacks = changed = multi_line = broken = 0
        for name, argv, db in todo:
            before = _digest(db)
            proc = subprocess.run([sys.executable, "-c", "import sys; from bench.cli import main; sys.exit(main())",
                                   *argv], capture_output=True, text=True, env=env, cwd=work, timeout=600)
            lines = proc.stderr.strip().splitlines()
            tb = "Traceback" in proc.stderr
            moved = _digest(db) != before
            codes[proc.returncode] += 1
            tracebacks += tb
            changed += moved
            multi_line += len(lines) != 1
            if tb or moved or len(lines) != 1 or proc.returncode != 2:
                broken += 1
                print(f"BROKEN {name}: exit {proc.returncode}, {len(lines)} stderr line(s)"
                      f"{', traceback' if tb else ''}{', database changed' if moved else ''}: "
                      f"{lines[-1][:160] if lines else ''}")
        print(f"cases: {len(todo)}  kept the promise: {len(todo) - broken}  broken: {broken}")
        print(f"tracebacks: {tracebacks}  databases changed: {changed}  stderr not one line: {multi_line}")
        print("exit codes: " + ", ".join(f"{c}: {n}" for c, n in sorted(codes.items())))
    return 0 if broken == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
