"""The result store: one SQLite file of runs, per-cell results and raw samples.

- `runs`: one row per `bench run` invocation (time, git commit, target, fingerprint, settings).
- `results`: one row per grid cell, with its status (ok / oom / unsupported / error /
  numerics_mismatch), latency statistics and costs. Each row and its samples are committed
  in one transaction as soon as the cell finishes, so a killed run loses at most the cell in
  flight, and `--resume` skips the cells already present (matched on `cell_key`).
- `samples`: the raw per-iteration latencies (ms) of each result.

The file is opened in WAL mode so readers (reports) do not block a running benchmark. A file
that is not SQLite, or not ours, is refused with one line and never modified.
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from bench import defaults
from bench.errors import BenchError
from bench.fingerprint import machine_label
from bench.grid import Cell
from bench.stats import LatencyStats

SCHEMA_VERSION = 1
DEFAULT_DB = Path(defaults.DEFAULT_DB)
EXPORT_FORMAT = "zoobench-results"
STATUSES = ("ok", "oom", "unsupported", "error", "numerics_mismatch")
STAT_COLUMNS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "iqr_ms", "ci_low_ms", "ci_high_ms", "samples")
CELL_COLUMNS = ("model", "family", "target", "batch", "dtype", "layout", "impl", "threads", "compile")
RESULT_COLUMNS = (("result_id", "run_id") + CELL_COLUMNS + ("status", "message") + STAT_COLUMNS
                  + ("warmup_iters", "stop_reason", "macs", "params", "created_at", "cell_key", "extra"))
RUN_COLUMNS = ("run_id", "created_at", "finished_at", "git_commit", "target", "fingerprint", "settings")
_INT_COLUMNS = ("result_id", "batch", "threads", "samples", "warmup_iters", "macs", "params")
_SQLITE_MAGIC = b"SQLite format 3\x00"

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
    """SQLite-backed store of runs, results and raw samples (see module docstring)."""

    def __init__(self, path: str | Path = DEFAULT_DB) -> None:
        self.path = Path(path)
        _check_sqlite_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, timeout=30)
            self._check_ours()
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            with self.conn:
                self.conn.executescript(_SCHEMA)
                self.conn.execute("INSERT OR IGNORE INTO zoobench_meta VALUES ('schema_version', ?)",
                                  (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            raise BenchError(f"{self.path} is not a usable SQLite database ({exc}); left untouched") from None

    def _check_ours(self) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "zoobench_meta" not in tables:
            raise BenchError(f"{self.path} is an SQLite database but not a zoobench results store; left untouched")
        if "zoobench_meta" in tables:
            row = self.conn.execute("SELECT value FROM zoobench_meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise BenchError(f"{self.path} has results schema v{version}, newer than this zoobench "
                                 f"(v{SCHEMA_VERSION}); upgrade zoobench")

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """Schema version recorded in the file."""
        return int(self.conn.execute("SELECT value FROM zoobench_meta WHERE key='schema_version'").fetchone()[0])

    # -- writing ---------------------------------------------------------------------
    def start_run(self, target: str, fingerprint: dict[str, Any], settings: dict[str, Any], *,
                  git_commit: str | None = None, run_id: str | None = None, created_at: str | None = None) -> str:
        """Record a new run; returns its id."""
        run_id = run_id or new_run_id()
        with self.conn:
            self.conn.execute(
                "INSERT INTO runs (run_id, created_at, git_commit, target, fingerprint, settings) VALUES (?,?,?,?,?,?)",
                (run_id, created_at or utc_now(), git_commit or fingerprint.get("git_commit"), target,
                 json.dumps(fingerprint, sort_keys=True, default=str), json.dumps(settings, sort_keys=True, default=str)))
        return run_id

    def finish_run(self, run_id: str) -> None:
        """Mark a run as complete (every cell attempted)."""
        with self.conn:
            self.conn.execute("UPDATE runs SET finished_at=? WHERE run_id=?", (utc_now(), run_id))

    def add_result(self, run_id: str, cell: Cell | Mapping[str, Any], stats: LatencyStats | None,
                   samples: Iterable[float] | None, costs: Any = None, *, status: str = "ok", message: str = "",
                   family: str | None = None, impl: str | None = None, warmup_iters: int | None = None,
                   stop_reason: str | None = None, extra: dict[str, Any] | None = None) -> int:
        """Store one cell's result and raw samples in one committed transaction; returns result_id.

        `impl` (when given) is the HetConv impl that actually ran, stored instead of the
        requested one; `costs` is a ModelCosts or a dict with macs/params.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        row = _cell_dict(cell)
        target = self.conn.execute("SELECT target FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if target is None:
            raise BenchError(f"unknown run '{run_id}'")
        cost = _costs_dict(costs)
        values = dict(
            run_id=run_id, model=row["model"], family=family or row.get("family"), target=row.get("target") or target[0],
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
        with self.conn:
            cur = self.conn.execute(f"INSERT INTO results ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                    [values[c] for c in cols])
            result_id = int(cur.lastrowid)
            if samples:
                self.conn.executemany("INSERT INTO samples (result_id, idx, ms) VALUES (?,?,?)",
                                      [(result_id, i, float(ms)) for i, ms in enumerate(samples)])
        return result_id

    # -- reading ---------------------------------------------------------------------
    def finished_cells(self, run_id: str) -> set[str]:
        """Keys of the cells that already have a result in `run_id` (any status)."""
        return {r[0] for r in self.conn.execute("SELECT cell_key FROM results WHERE run_id=?", (run_id,))}

    def run_info(self, run_id: str) -> dict[str, Any] | None:
        """One run as a dict (fingerprint and settings parsed), or None."""
        row = self.conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            return None
        d = dict(zip(RUN_COLUMNS, row))
        d["fingerprint"], d["settings"] = json.loads(d["fingerprint"]), json.loads(d["settings"])
        return d

    def latest_matching_run(self, target: str, settings: dict[str, Any], machine: str) -> str | None:
        """Newest run of `target` on `machine` with exactly these settings (what --resume continues)."""
        want = json.loads(json.dumps(settings, sort_keys=True, default=str))
        rows = self.conn.execute("SELECT run_id, settings, fingerprint FROM runs WHERE target=? "
                                 "ORDER BY created_at DESC, rowid DESC", (target,)).fetchall()
        for run_id, s, fp in rows:
            if json.loads(s) == want and machine_label(target, json.loads(fp)) == machine:
                return run_id
        return None

    def samples_for(self, result_id: int) -> list[float]:
        """Raw per-iteration latencies (ms) of one result, in measurement order."""
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
        df = pd.read_sql_query(sql, self.conn, params=params)
        df["machine"] = [machine_label(t, json.loads(fp)) for t, fp in zip(df["target"], df["_fp"])]
        df["compile"] = df["compile"].astype(bool)
        for col in _INT_COLUMNS:  # nullable ints: a failed cell's NULLs must not turn counts into floats
            df[col] = df[col].astype("Int64")
        return df.drop(columns=["_fp"])

    def runs_frame(self) -> pd.DataFrame:
        """Runs as a DataFrame with `machine`, `results` (row count) and parsed fingerprint/settings."""
        df = pd.read_sql_query(
            f"SELECT {', '.join('runs.' + c for c in RUN_COLUMNS)}, COUNT(r.result_id) AS results FROM runs "
            "LEFT JOIN results r ON r.run_id = runs.run_id GROUP BY runs.run_id "
            "ORDER BY runs.created_at, runs.rowid", self.conn)
        df["fingerprint"] = df["fingerprint"].map(json.loads)
        df["settings"] = df["settings"].map(json.loads)
        df["machine"] = [machine_label(t, fp) for t, fp in zip(df["target"], df["fingerprint"])]
        return df

    # -- JSON exchange -----------------------------------------------------------------
    def export_json(self, path: str | Path, run_ids: Iterable[str] | None = None) -> dict[str, int]:
        """Write runs (all, or `run_ids`) with their results and samples to a JSON file."""
        ids = list(run_ids) if run_ids is not None else [r[0] for r in self.conn.execute(
            "SELECT run_id FROM runs ORDER BY created_at, rowid")]
        runs, n_results = [], 0
        for rid in ids:
            info = self.run_info(rid)
            if info is None:
                raise BenchError(f"no run '{rid}' in {self.path}")
            df = self.results_frame(run_id=rid).drop(columns=["machine", "run_created_at"])
            results = []
            for rec in df.astype(object).where(df.notna(), None).to_dict("records"):
                rec["samples_ms"] = self.samples_for(rec.pop("result_id"))
                rec["extra"] = json.loads(rec["extra"]) if rec.get("extra") else None
                results.append(rec)
            n_results += len(results)
            runs.append({**info, "results": results})
        doc = {"format": EXPORT_FORMAT, "schema_version": SCHEMA_VERSION, "exported_at": utc_now(), "runs": runs}
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1, default=str))
        tmp.replace(out)
        return {"runs": len(runs), "results": n_results}

    def import_json(self, path: str | Path) -> ImportSummary:
        """Merge an export into this store: new runs are added, known runs gain only missing cells."""
        doc = load_export(Path(path))
        runs_added = added = skipped = 0
        for run in doc["runs"]:
            rid = run["run_id"]
            if self.run_info(rid) is None:
                self.start_run(run["target"], run["fingerprint"], run["settings"], git_commit=run.get("git_commit"),
                               run_id=rid, created_at=run["created_at"])
                if run.get("finished_at"):
                    with self.conn:
                        self.conn.execute("UPDATE runs SET finished_at=? WHERE run_id=?", (run["finished_at"], rid))
                runs_added += 1
            have = self.finished_cells(rid)
            for res in run["results"]:
                if res["cell_key"] in have:
                    skipped += 1
                    continue
                stats = None
                if res.get("p50_ms") is not None:
                    stats = LatencyStats(**{c: res[c] for c in STAT_COLUMNS})
                self.add_result(rid, res, stats, res.get("samples_ms") or [], res, status=res["status"],
                                message=res.get("message") or "", family=res.get("family"), impl=res.get("impl"),
                                warmup_iters=res.get("warmup_iters"), stop_reason=res.get("stop_reason"),
                                extra=res.get("extra"))
                added += 1
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
    """Open a store that must already exist (for reading commands); BenchError otherwise."""
    p = Path(path)
    if not p.exists():
        raise BenchError(f"no results database at {p}; run `bench run --db {p}` first")
    return ResultStore(p)


def load_export(path: Path) -> dict[str, Any]:
    """Read and sanity-check an export file; BenchError with one line when it is not one."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise BenchError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"{path} is not a zoobench JSON export ({type(exc).__name__}: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT or not isinstance(doc.get("runs"), list):
        raise BenchError(f"{path} is not a zoobench JSON export (missing format '{EXPORT_FORMAT}')")
    if int(doc.get("schema_version", 0)) > SCHEMA_VERSION:
        raise BenchError(f"{path} uses results schema v{doc['schema_version']}, newer than this zoobench")
    required = {"run_id", "target", "fingerprint", "settings", "created_at", "results"}
    for run in doc["runs"]:
        missing = required - set(run)
        if missing:
            raise BenchError(f"{path}: a run lacks {', '.join(sorted(missing))}")
    return doc
