"""The result store: one SQLite file of runs, per-cell results and raw samples.

- `runs`: one row per `bench run` invocation (time, git commit, target, fingerprint, settings).
- `results`: one row per grid cell, with its status (ok / oom / unsupported / error /
  numerics_mismatch; a fleet sweep adds lost / not_measured, see docs/fleet.md), latency statistics and costs. Each row and its samples are committed
  in one transaction as soon as the cell finishes, so a killed run loses at most the cell in
  flight, and `--resume` skips the cells already present (matched on `cell_key`).
- `samples`: the raw per-iteration latencies (ms) of each result.
- `run_writers`: the process writing each run right now (pid, host); a second writer of the
  same run (two `bench run --resume` at once) is refused, a dead writer's row is taken over.

The file is opened in WAL mode so readers (reports) do not block a running benchmark. A file
that is not SQLite, or not ours, is refused with one line and never modified.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping
from urllib.parse import quote

import pandas as pd

from bench import defaults
from bench.errors import BenchError
from bench.fingerprint import machine_label
from bench.grid import Cell
from bench.stats import LatencyStats

if TYPE_CHECKING:
    from bench.schema import ExportModel

SCHEMA_VERSION = 1
DEFAULT_DB = Path(defaults.DEFAULT_DB)
EXPORT_FORMAT = "zoobench-results"
STATUSES = ("ok", "oom", "unsupported", "error", "numerics_mismatch", "lost", "not_measured")
STAT_COLUMNS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "iqr_ms", "ci_low_ms", "ci_high_ms", "samples")
CELL_COLUMNS = ("model", "family", "target", "batch", "dtype", "layout", "impl", "threads", "compile")
RESULT_COLUMNS = (("result_id", "run_id") + CELL_COLUMNS + ("status", "message") + STAT_COLUMNS
                  + ("warmup_iters", "stop_reason", "macs", "params", "created_at", "cell_key", "extra"))
RUN_COLUMNS = ("run_id", "created_at", "finished_at", "git_commit", "target", "fingerprint", "settings")
_INT_COLUMNS = ("result_id", "batch", "threads", "samples", "warmup_iters", "macs", "params")
_SQLITE_MAGIC = b"SQLite format 3\x00"
# How long a writer waits for another writer's lock before giving up with one line.
LOCK_TIMEOUT_S = float(os.environ.get("ZOOBENCH_LOCK_TIMEOUT", "30"))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS zoobench_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, finished_at TEXT, git_commit TEXT,
    target TEXT NOT NULL, fingerprint TEXT NOT NULL, settings TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    result_id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    model TEXT NOT NULL, family TEXT, target TEXT NOT NULL, batch INTEGER NOT NULL, dtype TEXT NOT NULL,
    layout TEXT NOT NULL, impl TEXT, threads INTEGER, compile INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL, message TEXT,
    p50_ms REAL, p90_ms REAL, p99_ms REAL, mean_ms REAL, iqr_ms REAL, ci_low_ms REAL, ci_high_ms REAL,
    samples INTEGER, warmup_iters INTEGER, stop_reason TEXT, macs INTEGER, params INTEGER,
    created_at TEXT NOT NULL, cell_key TEXT NOT NULL, extra TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS results_cell ON results(run_id, cell_key);
-- who is writing a run now (one row per run being written; see ResultStore.claim_run)
CREATE TABLE IF NOT EXISTS run_writers (
    run_id TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, since TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    result_id INTEGER NOT NULL REFERENCES results(result_id), idx INTEGER NOT NULL, ms REAL NOT NULL,
    PRIMARY KEY (result_id, idx));
"""


def utc_now() -> str:
    """Current time as ISO 8601 UTC, seconds precision."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# Runs are ordered by created_at (seconds) and then by rowid (insertion order): run ids carry
# a random suffix, so they do not order two runs started within the same second.
def new_run_id() -> str:
    """Sortable, globally unique run id: UTC timestamp plus a random suffix."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def _check_sqlite_file(path: Path) -> None:
    """Refuse (without touching it) a non-empty file that is not SQLite."""
    if path.is_dir():
        raise BenchError(f"{path} is a directory, not a results database")
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
        if head != _SQLITE_MAGIC:
            raise BenchError(f"{path} is not an SQLite database (corrupt or another file); left untouched")


@dataclass(frozen=True)
class ImportSummary:
    """What `import_json` did."""

    runs_added: int
    results_added: int
    results_skipped: int


def _costs_dict(costs: Any) -> dict[str, Any]:
    if costs is None:
        return {}
    if isinstance(costs, Mapping):
        return dict(costs)
    return {"macs": getattr(costs, "macs", None), "params": getattr(costs, "params", None)}


def _cell_dict(cell: Cell | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(cell, Cell):
        d = dict(model=cell.model, batch=cell.batch, dtype=cell.dtype, layout=cell.layout, impl=cell.impl,
                 threads=cell.threads, compile=cell.compile)
        d["cell_key"] = cell.key()
        return d
    d = dict(cell)
    d.setdefault("cell_key", json.dumps({k: d.get(k) for k in ("model", "batch", "dtype", "layout", "impl",
                                                               "threads", "compile")}, sort_keys=True))
    return d


class ResultStore:
    """SQLite-backed store of runs, results and raw samples (see module docstring).

    `readonly=True` (every reading command) opens the file with SQLite's `mode=ro`, so a
    read-only file can be read and a reader can never change it. A writer first runs
    `PRAGMA quick_check` on an existing file and refuses a damaged one untouched.
    """

    def __init__(self, path: str | Path = DEFAULT_DB, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        _check_sqlite_file(self.path)
        if readonly and not self.path.is_file():
            raise BenchError(f"no results database at {self.path}; run `bench run --db {self.path}` first")
        if not readonly:
            _make_parent(self.path)
        existed = self.path.is_file() and self.path.stat().st_size > 0
        self.conn: sqlite3.Connection | None = None
        try:
            self.conn = _connect(self.path, readonly)
            self._check_ours()
            if not readonly:
                if existed:
                    self._check_integrity()
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA foreign_keys=ON")
                with self.conn:
                    self.conn.executescript(_SCHEMA)
                    self.conn.execute("INSERT OR IGNORE INTO zoobench_meta VALUES ('schema_version', ?)",
                                      (str(SCHEMA_VERSION),))
        except BenchError:
            self.close()
            raise
        except sqlite3.DatabaseError as exc:
            self.close()
            raise _db_error(self.path, exc, "opening it") from None

    def _check_ours(self) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "zoobench_meta" not in tables:
            raise BenchError(f"{self.path} is an SQLite database but not a zoobench results store; left untouched")
        if "zoobench_meta" in tables:
            row = self.conn.execute("SELECT value FROM zoobench_meta WHERE key='schema_version'").fetchone()
            try:
                version = int(row[0]) if row else 0
            except (TypeError, ValueError):
                raise BenchError(f"{self.path} has an unreadable schema version {row[0]!r}; left untouched") from None
            if version > SCHEMA_VERSION:
                raise BenchError(f"{self.path} has results schema v{version}, newer than this zoobench "
                                 f"(v{SCHEMA_VERSION}); upgrade zoobench")
        elif self.readonly and self.path.stat().st_size > 0:
            raise BenchError(f"{self.path} is an empty SQLite file, not a zoobench results store")

    def _check_integrity(self) -> None:
        """Refuse a damaged file before anything is written to it (quick_check: O(pages), no index cross-check)."""
        rows = self.conn.execute("PRAGMA quick_check(1)").fetchall()
        if rows != [("ok",)]:
            detail = str(rows[0][0])[:120] if rows else "no answer"
            raise BenchError(f"{self.path} is damaged (SQLite integrity check: {detail}); left untouched - "
                             "restore it from a backup or `bench export` what is readable with a reading command")

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn SQLite failures (disk full, locked, read-only, damaged) into one-line BenchErrors."""
        import pandas as pd

        try:
            yield
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            raise _db_error(self.path, exc, action) from None
        except pd.errors.DatabaseError as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, sqlite3.DatabaseError) else exc
            raise _db_error(self.path, cause, action) from None

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """Schema version recorded in the file."""
        return int(self.conn.execute("SELECT value FROM zoobench_meta WHERE key='schema_version'").fetchone()[0])

    # -- writing ---------------------------------------------------------------------
    def _writable(self) -> sqlite3.Connection:
        if self.readonly:
            raise RuntimeError("this ResultStore was opened read-only")
        return self.conn

    def _insert_run(self, run_id: str, target: str, fingerprint: dict[str, Any], settings: dict[str, Any],
                    git_commit: str | None, created_at: str | None, finished_at: str | None = None) -> None:
        self._writable().execute(
            "INSERT INTO runs (run_id, created_at, finished_at, git_commit, target, fingerprint, settings) "
            "VALUES (?,?,?,?,?,?,?)",
            (run_id, created_at or utc_now(), finished_at, git_commit or fingerprint.get("git_commit"), target,
             json.dumps(fingerprint, sort_keys=True, default=str), json.dumps(settings, sort_keys=True, default=str)))

    def start_run(self, target: str, fingerprint: dict[str, Any], settings: dict[str, Any], *,
                  git_commit: str | None = None, run_id: str | None = None, created_at: str | None = None) -> str:
        """Record a new run; returns its id."""
        run_id = run_id or new_run_id()
        with self._guard("recording a new run"), self._writable():
            self._insert_run(run_id, target, fingerprint, settings, git_commit, created_at)
        return run_id

    def finish_run(self, run_id: str) -> None:
        """Mark a run as complete (every cell attempted)."""
        with self._guard("marking the run finished"), self._writable():
            self.conn.execute("UPDATE runs SET finished_at=? WHERE run_id=?", (utc_now(), run_id))

    def claim_run(self, run_id: str) -> None:
        """Become the only writer of `run_id` until `release_run`; RunBusyError (one line, exit 2)
        naming the other process when a live one holds it.

        Two writers of one run would measure the same cells at once (each cell must be measured
        exactly once, and two timing processes on one machine disturb each other), so the second
        is refused rather than merged. A row left by a process that died (killed run) is taken
        over, so `--resume` after a crash still works. Liveness is checked with the pid on this
        host; a writer on another host (a shared file) cannot be checked and counts as alive.
        """
        me, host = os.getpid(), socket.gethostname()
        conn = self._writable()
        with self._guard("claiming the run for writing"):
            conn.execute("BEGIN IMMEDIATE")  # one claimer at a time: check and write in one transaction
            try:
                row = conn.execute("SELECT pid, host, since FROM run_writers WHERE run_id=?", (run_id,)).fetchone()
                if row is not None and row[0] != me and _writer_alive(int(row[0]), row[1], host):
                    where = "on this host" if row[1] == host else f"on host {row[1]}"
                    raise RunBusyError(
                        f"run {run_id} in {self.path} is already being written by process {row[0]} {where} "
                        f"(since {row[2]}; two `bench run --resume` at once?); wait for it to finish, "
                        "or drop --resume to start a new run")
                conn.execute("INSERT OR REPLACE INTO run_writers (run_id, pid, host, since) VALUES (?,?,?,?)",
                             (run_id, me, host, utc_now()))
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def release_run(self, run_id: str) -> None:
        """Stop being the writer of `run_id` (no-op when this process does not hold it). Never
        raises: it runs while an error may be unwinding, and a row it fails to delete belongs to
        a process that is about to exit, which the next `claim_run` takes over."""
        try:
            with self._writable():
                self.conn.execute("DELETE FROM run_writers WHERE run_id=? AND pid=? AND host=?",
                                  (run_id, os.getpid(), socket.gethostname()))
        except sqlite3.Error:
            pass

    def _insert_result(self, run_id: str, run_target: str, cell: Cell | Mapping[str, Any],
                       stats: LatencyStats | None, samples: Iterable[float] | None, costs: Any, *, status: str,
                       message: str, family: str | None, impl: str | None, warmup_iters: int | None,
                       stop_reason: str | None, extra: dict[str, Any] | None) -> int:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        row = _cell_dict(cell)
        cost = _costs_dict(costs)
        values = dict(
            run_id=run_id, model=row["model"], family=family or row.get("family"),
            target=row.get("target") or run_target,
            batch=int(row["batch"]), dtype=row["dtype"], layout=row["layout"],
            impl=impl if impl is not None else row.get("impl"), threads=row.get("threads"),
            compile=int(bool(row.get("compile"))), status=status, message=message or None,
            warmup_iters=warmup_iters, stop_reason=stop_reason, macs=cost.get("macs"), params=cost.get("params"),
            created_at=row.get("created_at") or utc_now(), cell_key=row["cell_key"],
            extra=json.dumps(extra, sort_keys=True, default=str) if extra else None,
            **{k: None for k in STAT_COLUMNS})
        if stats is not None:
            values.update(stats.to_dict())
        cols = list(values)
        conn = self._writable()
        try:
            cur = conn.execute(f"INSERT INTO results ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                               [values[c] for c in cols])
        except sqlite3.IntegrityError:
            if self.conn.execute("SELECT 1 FROM results WHERE run_id=? AND cell_key=?",
                                 (run_id, row["cell_key"])).fetchone():
                raise DuplicateCellError(
                    f"cell {_cell_label(row)} of run {run_id} is already stored in {self.path} (another "
                    "`bench run --resume` of this run is writing it at the same time?); stopped, nothing "
                    "lost: stored cells stay") from None
            raise
        result_id = int(cur.lastrowid)
        if samples:
            conn.executemany("INSERT INTO samples (result_id, idx, ms) VALUES (?,?,?)",
                             [(result_id, i, float(ms)) for i, ms in enumerate(samples)])
        return result_id

    def add_result(self, run_id: str, cell: Cell | Mapping[str, Any], stats: LatencyStats | None,
                   samples: Iterable[float] | None, costs: Any = None, *, status: str = "ok", message: str = "",
                   family: str | None = None, impl: str | None = None, warmup_iters: int | None = None,
                   stop_reason: str | None = None, extra: dict[str, Any] | None = None) -> int:
        """Store one cell's result and raw samples in one committed transaction; returns result_id.

        `impl` (when given) is the HetConv impl that actually ran, stored instead of the
        requested one; `costs` is a ModelCosts or a dict with macs/params. A cell already
        stored in this run (e.g. by a concurrent `--resume`) raises DuplicateCellError (a
        BenchError: one line, exit 2), leaving the stored one as it is.
        """
        with self._guard("storing a result"):
            target = self.conn.execute("SELECT target FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if target is None:
                raise BenchError(f"unknown run '{run_id}'")
            with self._writable():
                return self._insert_result(run_id, target[0], cell, stats, samples, costs, status=status,
                                           message=message, family=family, impl=impl, warmup_iters=warmup_iters,
                                           stop_reason=stop_reason, extra=extra)

    # -- reading ---------------------------------------------------------------------
    def finished_cells(self, run_id: str) -> set[str]:
        """Keys of the cells that already have a result in `run_id` (any status)."""
        with self._guard("reading finished cells"):
            return {r[0] for r in self.conn.execute("SELECT cell_key FROM results WHERE run_id=?", (run_id,))}

    def run_info(self, run_id: str) -> dict[str, Any] | None:
        """One run as a dict (fingerprint and settings parsed), or None."""
        with self._guard("reading a run"):
            row = self.conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id=?",
                                    (run_id,)).fetchone()
        if row is None:
            return None
        d = dict(zip(RUN_COLUMNS, row))
        d["fingerprint"], d["settings"] = _json_object(d["fingerprint"]), _json_object(d["settings"])
        return d

    def latest_matching_run(self, target: str, settings: dict[str, Any], machine: str) -> str | None:
        """Newest run of `target` on `machine` with exactly these settings (what --resume continues)."""
        want = json.loads(json.dumps(settings, sort_keys=True, default=str))
        with self._guard("looking for the run to resume"):
            rows = self.conn.execute("SELECT run_id, settings, fingerprint FROM runs WHERE target=? "
                                     "ORDER BY created_at DESC, rowid DESC", (target,)).fetchall()
        for run_id, s, fp in rows:
            if _json_object(s) == want and machine_label(target, _json_object(fp)) == machine:
                return run_id
        return None

    def samples_for(self, result_id: int) -> list[float]:
        """Raw per-iteration latencies (ms) of one result, in measurement order."""
        with self._guard("reading samples"):
            return [r[0] for r in self.conn.execute("SELECT ms FROM samples WHERE result_id=? ORDER BY idx",
                                                    (int(result_id),))]

    def results_frame(self, run_id: str | None = None, target: str | None = None,
                      status: str | None = None) -> pd.DataFrame:
        """Results as a DataFrame: every results column plus `machine` and `run_created_at`."""
        where, params = [], []
        for col, val in (("r.run_id", run_id), ("r.target", target), ("r.status", status)):
            if val is not None:
                where.append(f"{col}=?")
                params.append(val)
        sql = (f"SELECT {', '.join('r.' + c for c in RESULT_COLUMNS)}, runs.created_at AS run_created_at, "
               f"runs.fingerprint AS _fp FROM results r JOIN runs ON runs.run_id = r.run_id"
               + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY r.result_id")
        with self._guard("reading results"):
            df = pd.read_sql_query(sql, self.conn, params=params)
        df["machine"] = [machine_label(str(t), _json_object(fp)) for t, fp in zip(df["target"], df["_fp"])]
        df["compile"] = df["compile"].astype(bool)
        for col in _INT_COLUMNS:  # nullable ints: a failed cell's NULLs must not turn counts into floats
            try:
                df[col] = df[col].astype("Int64")
            except (TypeError, ValueError, OverflowError):
                pass  # a row written by an older, unvalidated import: show it as stored
        return df.drop(columns=["_fp"])

    def runs_frame(self) -> pd.DataFrame:
        """Runs as a DataFrame with `machine`, `results` (row count) and parsed fingerprint/settings."""
        with self._guard("reading runs"):
            df = pd.read_sql_query(
                f"SELECT {', '.join('runs.' + c for c in RUN_COLUMNS)}, COUNT(r.result_id) AS results FROM runs "
                "LEFT JOIN results r ON r.run_id = runs.run_id GROUP BY runs.run_id "
                "ORDER BY runs.created_at, runs.rowid", self.conn)
        from bench import guard_store

        with self._guard("reading calibration series"):
            calibration = guard_store.series_by_run(self.conn)
        # each run's contention-guard readings ([] when unguarded), for the reports' Load line
        df["calibration"] = [calibration.get(rid, []) for rid in df["run_id"]]
        df["fingerprint"] = df["fingerprint"].map(_json_object)
        df["settings"] = df["settings"].map(_json_object)
        df["machine"] = [machine_label(str(t), fp) for t, fp in zip(df["target"], df["fingerprint"])]
        return df

    # -- JSON exchange -----------------------------------------------------------------
    def export_doc(self, run_ids: Iterable[str] | None = None) -> dict[str, Any]:
        """Runs (all, or `run_ids`) with their results and samples as an export document."""
        from bench import guard_store

        with self._guard("reading runs to export"):
            calibration = guard_store.series_by_run(self.conn)
            ids = list(run_ids) if run_ids is not None else [r[0] for r in self.conn.execute(
                "SELECT run_id FROM runs ORDER BY created_at, rowid")]
            runs = []
            for rid in ids:
                info = self.run_info(rid)
                if info is None:
                    raise BenchError(f"no run '{rid}' in {self.path}; see `bench results` for run ids")
                df = self.results_frame(run_id=rid).drop(columns=["machine", "run_created_at"])
                results = []
                for rec in df.astype(object).where(df.notna(), None).to_dict("records"):
                    rec["samples_ms"] = self.samples_for(rec.pop("result_id"))
                    rec["extra"] = json.loads(rec["extra"]) if rec.get("extra") else None
                    results.append(rec)
                # the contention guard's calibration series (bench.guard_store); [] for unguarded runs
                runs.append({**info, "results": results, "guard_calibration": calibration.get(rid, [])})
        return {"format": EXPORT_FORMAT, "schema_version": SCHEMA_VERSION, "exported_at": utc_now(), "runs": runs}

    def export_json(self, path: str | Path, run_ids: Iterable[str] | None = None, *,
                    force: bool = False) -> dict[str, int]:
        """Write runs (all, or `run_ids`) with their results and samples to a JSON file.

        Never destroys: the database itself, a directory or an existing file that is not a
        zoobench export is refused (a non-export file is replaced only with `force`). The file
        is written under a temporary name and renamed; the temporary file is removed on any failure.
        """
        out = Path(path)
        check_export_target(out, self.path, force=force)
        doc = self.export_doc(run_ids)
        text = json.dumps(doc, indent=1, default=str)
        write_text_atomic(out, text)
        return {"runs": len(doc["runs"]), "results": sum(len(r["results"]) for r in doc["runs"])}

    def import_json(self, path: str | Path) -> ImportSummary:
        """Merge an export into this store: new runs are added, known runs gain only missing cells.

        The file is validated in full first (bench.schema); then everything is written in ONE
        transaction, so a failure (disk full, a conflicting run) leaves the database as it was.
        """
        doc = load_export_model(Path(path))
        return self.import_doc(doc, str(path))

    def import_doc(self, doc: "ExportModel", source: str = "import") -> ImportSummary:
        """Merge a validated export document (see `import_json`) in one transaction."""
        from bench import guard_store

        runs_added = added = skipped = 0
        with self._guard(f"importing {source}"), self._writable():
            for run in doc.runs:
                rid = run.run_id
                have_run = self.conn.execute("SELECT target, fingerprint FROM runs WHERE run_id=?",
                                             (rid,)).fetchone()
                if have_run is None:
                    self._insert_run(rid, run.target, run.fingerprint, run.settings, run.git_commit, run.created_at,
                                     run.finished_at)
                    runs_added += 1
                elif have_run[0] != run.target or json.loads(have_run[1]) != json.loads(
                        json.dumps(run.fingerprint, sort_keys=True, default=str)):
                    raise BenchError(f"{source}: run '{rid}' is already in {self.path} with a different target or "
                                     "machine fingerprint; nothing imported")
                have = self.finished_cells(rid)
                for res in run.results:
                    if res.cell_key in have:
                        skipped += 1
                        continue
                    rec = res.model_dump()
                    stats = LatencyStats(**{c: rec[c] for c in STAT_COLUMNS}) if res.p50_ms is not None else None
                    self._insert_result(rid, run.target, rec, stats, res.samples_ms, rec, status=res.status,
                                        message=res.message or "", family=res.family, impl=res.impl,
                                        warmup_iters=res.warmup_iters, stop_reason=res.stop_reason,
                                        extra=res.extra)
                    have.add(res.cell_key)
                    added += 1
                guard_store.import_series(self.conn, rid, [r.model_dump() for r in run.guard_calibration])
        return ImportSummary(runs_added, added, skipped)

    # -- queries for comparisons (bench.runs) ------------------------------------------
    def run_ids(self) -> list[str]:
        """Every run id, oldest first: by creation time, ties (same second) in insertion order."""
        return [r[0] for r in self.conn.execute("SELECT run_id FROM runs ORDER BY created_at, rowid")]

    def samples_by_result(self, run_id: str) -> dict[int, list[float]]:
        """Raw samples (ms) of every result of `run_id`, by result_id, in measurement order (one query)."""
        out: dict[int, list[float]] = {}
        for result_id, ms in self.conn.execute(
                "SELECT s.result_id, s.ms FROM samples s JOIN results r ON r.result_id = s.result_id "
                "WHERE r.run_id=? ORDER BY s.result_id, s.idx", (run_id,)):
            out.setdefault(int(result_id), []).append(ms)
        return out


def open_existing(path: str | Path) -> ResultStore:
    """Open a store that must already exist, read-only (for reading commands); BenchError otherwise."""
    p = Path(path)
    if not p.exists():
        raise BenchError(f"no results database at {p}; run `bench run --db {p}` first")
    return ResultStore(p, readonly=True)


def load_export_model(path: Path) -> "ExportModel":
    """Read, bound and validate an export file (bench.schema); BenchError with one line when it is not one."""
    from bench.schema import read_json_bounded, validate_export

    doc = read_json_bounded(Path(path), "a zoobench JSON export")
    return validate_export(doc, path, SCHEMA_VERSION)


def load_export(path: Path) -> dict[str, Any]:
    """An export file as a plain dict, validated like `load_export_model` (for readers such as compare)."""
    return load_export_model(path).model_dump()


def _json_object(text: Any) -> dict[str, Any]:
    """A stored JSON object; {} for anything else (rows written by older, unvalidated imports
    hold e.g. a fingerprint "abc": readers show them as unknown instead of crashing)."""
    try:
        value = json.loads(text) if isinstance(text, (str, bytes)) else text
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


class RunBusyError(BenchError):
    """Another live process is writing the run (see `ResultStore.claim_run`)."""


def _writer_alive(pid: int, host: str, this_host: str) -> bool:
    """Whether the writer `pid` on `host` may still be running (True when it cannot be checked)."""
    if host != this_host:
        return True
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


class DuplicateCellError(BenchError):
    """A cell is already stored in its run (two writers resumed the same run at once)."""


def _cell_label(row: Mapping[str, Any]) -> str:
    return f"{row.get('model')} b{row.get('batch')} {row.get('dtype')} {row.get('layout')}"


def _make_parent(path: Path) -> None:
    """Create the database's folder; one line when a parent is a file or cannot be created."""
    for parent in [path.parent, *path.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise BenchError(f"cannot create {path}: {parent} is a file, not a folder")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"cannot create the folder of {path}: {exc.strerror or exc}") from None


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    """A connection; readers use `mode=ro` (and `immutable=1` for a file nobody can write)."""
    if not readonly:
        return sqlite3.connect(path, timeout=LOCK_TIMEOUT_S)
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT_S)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        # a WAL file without write access to its folder cannot get its -shm index: read it as a
        # frozen file (safe only when no -wal file holds newer pages, hence the check)
        if Path(str(path) + "-wal").exists():
            raise
        conn = sqlite3.connect(uri + "&immutable=1", uri=True, timeout=LOCK_TIMEOUT_S)
    return conn


def _db_error(path: Path, exc: sqlite3.DatabaseError, action: str) -> BenchError:
    """One-line BenchError for an SQLite failure while `action`; what happened to the data is said."""
    text = str(exc)
    low = text.lower()
    if "full" in low:
        why = "the disk (or the database's size limit) is full"
    elif "locked" in low or "busy" in low:
        why = f"the database is locked by another process (waited {LOCK_TIMEOUT_S:g} s)"
    elif "readonly" in low or "read-only" in low:
        why = "the file or its folder is read-only"
    elif "malformed" in low or "corrupt" in low or "not a database" in low:
        why = "the file is damaged"
    else:
        why = text
    return BenchError(f"{path}: {why} while {action} ({text}); the database keeps what it held before")


def check_export_target(out: Path, db: Path | None, *, force: bool = False) -> None:
    """Refuse an export path that would destroy something (see ResultStore.export_json)."""
    if out.is_dir():
        raise BenchError(f"{out} is a folder; give a file name like {out / 'results.json'}")
    for parent in [out.parent, *out.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise BenchError(f"cannot write {out}: {parent} is a file, not a folder")
            break
    if not out.exists():
        return
    if db is not None and db.exists() and out.resolve() == db.resolve():
        raise BenchError(f"{out} is the results database itself; export to another file")
    try:
        with out.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise BenchError(f"cannot read {out}: {exc.strerror or exc}") from None
    if head == _SQLITE_MAGIC:
        raise BenchError(f"{out} is an SQLite database; refusing to overwrite it with JSON")
    if not force and not _is_export_file(out):
        raise BenchError(f"{out} exists and is not a zoobench export; pass --force to replace it")


def _is_export_file(path: Path) -> bool:
    """Whether `path` looks like a file `bench export` wrote (its format marker near the start)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(256)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and f'"format": "{EXPORT_FORMAT}"'.encode() in head


def write_text_atomic(out: Path, text: str) -> None:
    """Write `text` to `out` via a temporary file in the same folder; no temporary file survives a failure."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"cannot create the folder of {out}: {exc.strerror or exc}") from None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BenchError(f"cannot write {out}: {exc.strerror or exc}; nothing was written") from None
        raise
