"""The bad-input battery, shared by tests/test_bad_inputs.py (in-process) and
benchmarks/bad_inputs.py (subprocesses, with counts for the lead).

Every case is something a realistic user could type or feed; each must end with one line on
stderr, exit 2 and the database untouched. Builders here only make files; they assert nothing.
"""
from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any, Callable

from bench.grid import Cell
from bench.stats import summarize
from bench.store import ResultStore

FP = {"cpu_model": "Test CPU 9000", "arch": "x86_64", "git_commit": "abc123"}


def make_db(path: Path, runs: int = 2, cells: int = 3) -> Path:
    """A small store: `runs` runs of `cells` measured cells each, with raw samples."""
    with ResultStore(path) as store:
        for r in range(runs):
            run = store.start_run("cpu", FP, {"grid": {"batches": list(range(1, cells + 1))}, "n": r})
            for b in range(1, cells + 1):
                samples = [1.0 * b, 1.1 * b, 0.9 * b, 1.05 * b, 0.95 * b, 1.02 * b, 0.98 * b]
                store.add_result(run, Cell("resnet20_cifar", b, "fp32", "nchw", None, 1), summarize(samples),
                                 samples, {"macs": 40_000_000, "params": 270_000}, family="resnet_cifar",
                                 warmup_iters=6, stop_reason="ci_target")
            store.finish_run(run)
    return path


def good_export(db: Path) -> dict[str, Any]:
    """The export document of `db` (what `bench export` writes)."""
    with ResultStore(db, readonly=True) as store:
        return json.loads(json.dumps(store.export_doc(), default=str))


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """Mutation setting `path` ('runs.0.results.1.p50_ms') to `value`."""
    def apply(doc: dict) -> None:
        node: Any = doc
        parts = path.split(".")
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node[p]
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return apply


def _drop(path: str) -> Callable[[dict], None]:
    def apply(doc: dict) -> None:
        node: Any = doc
        parts = path.split(".")
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node[p]
        del node[parts[-1]]
    return apply


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def _dup_cell(doc: dict) -> None:
    doc["runs"][0]["results"].append(copy.deepcopy(doc["runs"][0]["results"][0]))


def _dup_run(doc: dict) -> None:
    doc["runs"].append(copy.deepcopy(doc["runs"][0]))


def _conflict(doc: dict) -> None:
    # a brand-new run first (would be imported), then a known run id on another machine:
    # the import must be all or nothing
    new = copy.deepcopy(doc["runs"][0])
    new["run_id"] = "20990101T000000Z-new001"
    for res in new["results"]:
        res["run_id"] = new["run_id"]
    known = doc["runs"][1]
    known["run_id"] = known["run_id"].rsplit("-x", 1)[0]  # the test renamed it; take the stored id back
    for res in known["results"]:
        res["run_id"] = known["run_id"]
    known["fingerprint"] = {"cpu_model": "Another CPU", "arch": "aarch64"}
    doc["runs"].insert(0, new)


R0 = "runs.0"
RES = "runs.0.results.0"
# (id, mutation of a good export, text the one-line error must contain)
IMPORT_MUTATIONS: list[tuple[str, Callable[[dict], None], str]] = [
    ("fingerprint-str", _set(f"{R0}.fingerprint", "abc"), "$.runs[0].fingerprint"),
    ("fingerprint-list", _set(f"{R0}.fingerprint", [1, 2]), "$.runs[0].fingerprint"),
    ("fingerprint-null", _set(f"{R0}.fingerprint", None), "$.runs[0].fingerprint"),
    ("fingerprint-cpu-int", _set(f"{R0}.fingerprint.cpu_model", 5), "$.runs[0].fingerprint"),
    ("fingerprint-nan", _set(f"{R0}.fingerprint.x", float("nan")), "$.runs[0].fingerprint.x"),
    ("fingerprint-deep-40", _set(f"{R0}.fingerprint.x", _nest(40)), "nested"),
    ("settings-str", _set(f"{R0}.settings", "fast"), "$.runs[0].settings"),
    ("run-id-missing", _drop(f"{R0}.run_id"), "$.runs[0].run_id"),
    ("run-id-int", _set(f"{R0}.run_id", 5), "$.runs[0].run_id"),
    ("run-id-empty", _set(f"{R0}.run_id", ""), "$.runs[0].run_id"),
    ("run-id-long", _set(f"{R0}.run_id", "r" * 5000), "$.runs[0].run_id"),
    ("target-missing", _drop(f"{R0}.target"), "$.runs[0].target"),
    ("target-int", _set(f"{R0}.target", 7), "$.runs[0].target"),
    ("created-at-bad", _set(f"{R0}.created_at", "yesterday"), "$.runs[0].created_at"),
    ("created-at-missing", _drop(f"{R0}.created_at"), "$.runs[0].created_at"),
    ("finished-at-int", _set(f"{R0}.finished_at", 12), "$.runs[0].finished_at"),
    ("results-str", _set(f"{R0}.results", "none"), "$.runs[0].results"),
    ("results-missing", _drop(f"{R0}.results"), "$.runs[0].results"),
    ("result-not-object", _set(f"{R0}.results.0", 3), "$.runs[0].results[0]"),
    ("model-missing", _drop(f"{RES}.model"), "$.runs[0].results[0].model"),
    ("model-empty", _set(f"{RES}.model", ""), "$.runs[0].results[0].model"),
    ("model-int", _set(f"{RES}.model", 5), "$.runs[0].results[0].model"),
    ("batch-str", _set(f"{RES}.batch", "1"), "$.runs[0].results[0].batch"),
    ("batch-zero", _set(f"{RES}.batch", 0), "$.runs[0].results[0].batch"),
    ("batch-negative", _set(f"{RES}.batch", -4), "$.runs[0].results[0].batch"),
    ("batch-1e30", _set(f"{RES}.batch", 10 ** 30), "$.runs[0].results[0].batch"),
    ("batch-float", _set(f"{RES}.batch", 1.5), "$.runs[0].results[0].batch"),
    ("batch-bool", _set(f"{RES}.batch", True), "$.runs[0].results[0].batch"),
    ("threads-zero", _set(f"{RES}.threads", 0), "$.runs[0].results[0].threads"),
    ("threads-huge", _set(f"{RES}.threads", 10 ** 6), "$.runs[0].results[0].threads"),
    ("compile-str", _set(f"{RES}.compile", "yes"), "$.runs[0].results[0].compile"),
    ("status-unknown", _set(f"{RES}.status", "great"), "$.runs[0].results[0].status"),
    ("status-missing", _drop(f"{RES}.status"), "$.runs[0].results[0].status"),
    ("p50-nan", _set(f"{RES}.p50_ms", float("nan")), "$.runs[0].results[0].p50_ms"),
    ("p50-inf", _set(f"{RES}.p50_ms", float("inf")), "$.runs[0].results[0].p50_ms"),
    ("p50-negative", _set(f"{RES}.p50_ms", -1.0), "$.runs[0].results[0].p50_ms"),
    ("p50-zero", _set(f"{RES}.p50_ms", 0.0), "$.runs[0].results[0].p50_ms"),
    ("p50-str", _set(f"{RES}.p50_ms", "1.0"), "$.runs[0].results[0].p50_ms"),
    ("p50-1e300", _set(f"{RES}.p50_ms", 1e300), "$.runs[0].results[0].p50_ms"),
    ("p50-missing-ok", _set(f"{RES}.p50_ms", None), "$.runs[0].results[0]"),
    ("ci-excludes-p50", _set(f"{RES}.ci_low_ms", 500.0), "$.runs[0].results[0]"),
    ("p90-below-p50", _set(f"{RES}.p90_ms", 0.001), "$.runs[0].results[0]"),
    ("iqr-negative", _set(f"{RES}.iqr_ms", -0.5), "$.runs[0].results[0].iqr_ms"),
    ("samples-nan", _set(f"{RES}.samples_ms.0", float("nan")), "$.runs[0].results[0].samples_ms[0]"),
    ("samples-negative", _set(f"{RES}.samples_ms.1", -3.0), "$.runs[0].results[0].samples_ms[1]"),
    ("samples-str", _set(f"{RES}.samples_ms.2", "x"), "$.runs[0].results[0].samples_ms[2]"),
    ("samples-not-list", _set(f"{RES}.samples_ms", 5), "$.runs[0].results[0].samples_ms"),
    ("samples-count-mismatch", _set(f"{RES}.samples", 3), "$.runs[0].results[0]"),
    ("samples-200k", _set(f"{RES}.samples_ms", [1.0] * 200_000), "$.runs[0].results[0].samples_ms"),
    ("macs-1e30", _set(f"{RES}.macs", 10 ** 30), "$.runs[0].results[0].macs"),
    ("macs-negative", _set(f"{RES}.macs", -1), "$.runs[0].results[0].macs"),
    ("params-str", _set(f"{RES}.params", "many"), "$.runs[0].results[0].params"),
    ("warmup-negative", _set(f"{RES}.warmup_iters", -1), "$.runs[0].results[0].warmup_iters"),
    ("stop-reason-unknown", _set(f"{RES}.stop_reason", "bored"), "$.runs[0].results[0].stop_reason"),
    ("message-huge", _set(f"{RES}.message", "m" * 100_000), "$.runs[0].results[0].message"),
    ("cell-key-missing", _drop(f"{RES}.cell_key"), "$.runs[0].results[0].cell_key"),
    ("cell-key-int", _set(f"{RES}.cell_key", 3), "$.runs[0].results[0].cell_key"),
    ("extra-str", _set(f"{RES}.extra", "x"), "$.runs[0].results[0].extra"),
    ("extra-inf", _set(f"{RES}.extra", {"e": float("inf")}), "$.runs[0].results[0].extra.e"),
    ("result-run-id-other", _set(f"{RES}.run_id", "someone-else"), "$.runs[0]"),
    ("result-target-other", _set(f"{RES}.target", "cuda"), "$.runs[0]"),
    ("duplicate-cell", _dup_cell, "$.runs[0]"),
    ("duplicate-run", _dup_run, "repeats run_id"),
    ("format-wrong", _set("format", "other"), "not a zoobench JSON export"),
    ("format-missing", _drop("format"), "not a zoobench JSON export"),
    ("schema-newer", _set("schema_version", 99), "newer"),
    ("schema-str", _set("schema_version", "1"), "$.schema_version"),
    ("runs-str", _set("runs", "all"), "$.runs"),
    ("runs-missing", _drop("runs"), "$.runs"),
    ("conflicting-known-run", _conflict, "different target or machine fingerprint"),
]

# (id, raw file content (bytes) or None for special cases, text the error must contain)
IMPORT_FILES: list[tuple[str, bytes, str]] = [
    ("empty-file", b"", "invalid JSON"),
    ("not-json", b"hello", "invalid JSON"),
    ("truncated-json", b'{"format": "zoobench-results", "runs": [', "invalid JSON"),
    ("binary", bytes(range(256)), "not UTF-8"),
    ("json-list", b"[1, 2, 3]", "not a zoobench JSON export"),
    ("json-string", b'"zoobench-results"', "not a zoobench JSON export"),
    ("json-null", b"null", "not a zoobench JSON export"),
    ("deep-100000", b'{"format": "zoobench-results", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "nested"),
    ("huge-int-literal", b'{"format": "zoobench-results", "schema_version": ' + b"9" * 5000 + b"}", "invalid JSON"),
    ("sqlite-as-json", b"SQLite format 3\x00" + b"\x00" * 100, "JSON"),
]

# bench run argument mistakes: each fails before anything is measured or written
RUN_ARGS: list[tuple[str, list[str]]] = [
    ("batch-empty-item", ["--batch", "1,,2"]),
    ("batch-trailing-comma", ["--batch", "1,"]),
    ("batch-only-comma", ["--batch", ","]),
    ("batch-blank", ["--batch", " "]),
    ("batch-absurd", ["--batch", "99999999999999999999999"]),
    ("batch-too-large", ["--batch", "65537"]),
    ("batch-zero", ["--batch", "0"]),
    ("batch-negative", ["--batch", "-1"]),
    ("batch-word", ["--batch", "one"]),
    ("batch-float", ["--batch", "1.5"]),
    ("batch-exp", ["--batch", "1e3"]),
    ("threads-1000", ["--threads", "1000"]),
    ("threads-zero", ["--threads", "0"]),
    ("threads-empty-item", ["--threads", "1,,1"]),
    ("max-iters-huge", ["--max-iters", "1000000000"]),
    ("max-iters-two", ["--max-iters", "10,20"]),
    ("min-samples-over-max", ["--min-samples", "500", "--max-iters", "100"]),
    ("max-time-inf", ["--max-time", "inf"]),
    ("max-time-nan", ["--max-time", "nan"]),
    ("max-time-negative", ["--max-time", "-1"]),
    ("max-time-1e99", ["--max-time", "1e99"]),
    ("warmup-time-word", ["--warmup-max-time", "long"]),
    ("ci-zero", ["--ci", "0"]),
    ("ci-100", ["--ci", "100%"]),
    ("ci-nan", ["--ci", "nan"]),
    ("ci-word", ["--ci", "tight"]),
    ("dtype-empty-item", ["--dtype", "fp32,,fp16"]),
    ("dtype-unknown", ["--dtype", "int3"]),
    ("layout-unknown", ["--layout", "nwhc"]),
    ("impl-unknown", ["--impl", "fastest"]),
    ("models-empty", ["--models", ""]),
    ("models-unknown", ["--models", "no_such_model_xyz"]),
    ("device-unknown", ["--device", "tpu"]),
    ("cuda-graph-on-cpu", ["--cuda-graph"]),
]


def corrupt_data_page(db: Path) -> None:
    """Overwrite the middle of the file (a data page, not the header) with garbage."""
    size = db.stat().st_size
    with db.open("r+b") as fh:
        page = 4096
        fh.seek(max(page, (size // page // 2) * page))
        fh.write(b"\xde\xad\xbe\xef" * 1024)


def foreign_sqlite(path: Path) -> Path:
    """An SQLite file that is not ours."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    return path
