"""The declared schema of a `bench export` JSON file, and the checks `bench import` runs first.

An import must never leave a half-written or poisoned database, so a file is read, bounded and
validated in full before the store is opened for writing:

1. size: at most `MAX_FILE_BYTES` on disk (a results export is a few MB; 5 million samples are
   not a result, they are a memory bomb);
2. parsing: JSON, with Python's own recursion guard turning a 100,000-deep nesting into one line;
3. nesting: free-form objects (fingerprint, settings, extra) at most `MAX_DEPTH` deep;
4. the schema below (pydantic v2, strict: no "10" -> 10 coercion): types, finite positive
   latencies, integer ranges, string lengths, list lengths, known statuses;
5. cross-field rules: CI bounds around the median, sample counts, unique cells per run.

The first problem is reported as one line naming its JSON path, e.g.
`$.runs[0].results[3].p50_ms: Input should be greater than 0 (got -1.0)`.
"""
from __future__ import annotations

import json
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.errors import BenchError

EXPORT_FORMAT = "zoobench-results"
MAX_FILE_BYTES = 128 * 1024 * 1024
MAX_DEPTH = 16  # free-form objects; the deepest real fingerprint/settings is 4
MAX_RUNS = 10_000
MAX_RESULTS_PER_RUN = 100_000
MAX_SAMPLES = 100_000  # per result; `bench run --max-iters` is bounded the same way
MAX_BATCH = 65_536
MAX_THREADS = 4_096
MAX_INT = 2 ** 63 - 1  # SQLite INTEGER range
MAX_MS = 1e9  # 11.6 days per call: anything longer is not a latency
SHORT = 200  # ids, names, settings values
LONG = 20_000  # messages, cell keys

ShortStr = Annotated[str, Field(max_length=SHORT)]
LongStr = Annotated[str, Field(max_length=LONG)]
Latency = Annotated[float, Field(gt=0, lt=MAX_MS, allow_inf_nan=False)]
Spread = Annotated[float, Field(ge=0, lt=MAX_MS, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Statuses = Literal["ok", "oom", "unsupported", "error", "numerics_mismatch", "lost", "not_measured"]
StopReasons = Literal["ci_target", "max_time", "max_iters"]


def _iso_time(value: str | None) -> str | None:
    if value is not None:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not an ISO 8601 time like 2025-01-31T12:00:00+00:00") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class ResultModel(_Strict):
    """One grid cell of an exported run (a row of `results` plus its raw samples)."""

    run_id: ShortStr | None = None
    model: ShortStr = Field(min_length=1)
    family: ShortStr | None = None
    target: ShortStr | None = None
    batch: int = Field(ge=1, le=MAX_BATCH)
    dtype: ShortStr = Field(min_length=1)
    layout: ShortStr = Field(min_length=1)
    impl: ShortStr | None = None
    threads: int | None = Field(default=None, ge=1, le=MAX_THREADS)
    compile: bool = False
    status: Statuses
    message: LongStr | None = None
    p50_ms: Latency | None = None
    p90_ms: Latency | None = None
    p99_ms: Latency | None = None
    mean_ms: Latency | None = None
    iqr_ms: Spread | None = None
    ci_low_ms: Latency | None = None
    ci_high_ms: Latency | None = None
    samples: int | None = Field(default=None, ge=0, le=MAX_SAMPLES)
    warmup_iters: int | None = Field(default=None, ge=0, le=MAX_INT)
    stop_reason: StopReasons | None = None
    macs: Count | None = None
    params: Count | None = None
    created_at: ShortStr | None = None
    cell_key: LongStr = Field(min_length=1)
    extra: dict[str, Any] | None = None
    samples_ms: list[Latency] = Field(default_factory=list, max_length=MAX_SAMPLES)

    @field_validator("created_at")
    @classmethod
    def _check_time(cls, value: str | None) -> str | None:
        return _iso_time(value)

    @field_validator("extra")
    @classmethod
    def _contended_is_a_flag(cls, extra: dict[str, Any] | None) -> dict[str, Any] | None:
        # reports and `bench regress` count cells by this flag (bench.guard); it must be true or false
        if extra is not None and "contended" in extra and not isinstance(extra["contended"], bool):
            raise ValueError(f"extra.contended must be true or false (got {_shown(extra['contended'])})")
        return extra

    @model_validator(mode="after")
    def _consistent(self) -> "ResultModel":
        stats = (self.p50_ms, self.p90_ms, self.p99_ms, self.mean_ms, self.iqr_ms, self.ci_low_ms,
                 self.ci_high_ms, self.samples)
        if self.status == "ok" and any(v is None for v in stats):
            raise ValueError("status 'ok' needs every latency statistic (p50_ms ... samples)")
        if self.p50_ms is not None and any(v is None for v in stats):
            raise ValueError("latency statistics are all present or all absent")
        if self.p50_ms is not None:
            if not self.ci_low_ms <= self.p50_ms <= self.ci_high_ms:
                raise ValueError(f"CI [{self.ci_low_ms}, {self.ci_high_ms}] does not contain p50 {self.p50_ms}")
            if not self.p50_ms <= self.p90_ms <= self.p99_ms:
                raise ValueError("percentiles out of order (need p50 <= p90 <= p99)")
        if self.samples_ms and self.samples is not None and len(self.samples_ms) != self.samples:
            raise ValueError(f"samples says {self.samples} but samples_ms holds {len(self.samples_ms)}")
        return self


class ReadingModel(_Strict):
    """One contention-guard check of an exported run's calibration series (`bench.guard.Reading.to_dict`)."""

    label: LongStr
    at_s: float = Field(ge=0, lt=MAX_MS, allow_inf_nan=False)
    key: ShortStr
    calib_ms: Latency | None = None
    baseline_ms: Latency | None = None
    load_avg_1m: Annotated[float, Field(ge=0, lt=1e6, allow_inf_nan=False)] | None = None
    cpu_share: Annotated[float, Field(ge=0, lt=1e6, allow_inf_nan=False)] | None = None
    reasons: list[LongStr] = Field(default_factory=list, max_length=100)
    note: LongStr = ""
    drift: Annotated[float, Field(gt=-1, lt=MAX_MS, allow_inf_nan=False)] | None = None
    tolerance: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] | None = None  # absent in older exports
    contended: bool

    @model_validator(mode="after")
    def _flag_matches_reasons(self) -> "ReadingModel":
        # a reading is contended exactly when a rule fired (bench.guard.Reading.contended)
        if self.contended != bool(self.reasons):
            raise ValueError(f"contended is {self.contended} but reasons holds {len(self.reasons)} item(s)")
        return self


class RunModel(_Strict):
    """One exported run: identity, machine fingerprint, settings and its results."""

    run_id: ShortStr = Field(min_length=1)
    created_at: ShortStr
    finished_at: ShortStr | None = None
    git_commit: ShortStr | None = None
    target: ShortStr = Field(min_length=1)
    fingerprint: dict[str, Any]
    settings: dict[str, Any]
    results: list[ResultModel] = Field(max_length=MAX_RESULTS_PER_RUN)
    # absent in exports made before the contention guard: such a run simply has no series
    guard_calibration: list[ReadingModel] = Field(default_factory=list, max_length=MAX_RESULTS_PER_RUN * 8)

    @field_validator("created_at", "finished_at")
    @classmethod
    def _check_times(cls, value: str | None) -> str | None:
        return _iso_time(value)

    @field_validator("fingerprint")
    @classmethod
    def _known_fields_are_text(cls, fp: dict[str, Any]) -> dict[str, Any]:
        # machine labels and report folder names are built from these; they must be short text
        for key in ("cpu_model", "arch", "gpu_name", "cuda_version", "android_model", "android_abi"):
            value = fp.get(key)
            if value is not None and not (isinstance(value, str) and len(value) <= SHORT):
                raise ValueError(f"fingerprint.{key} must be text of at most {SHORT} characters")
        return fp

    @model_validator(mode="after")
    def _cells_unique(self) -> "RunModel":
        seen: set[str] = set()
        for i, res in enumerate(self.results):
            if res.run_id is not None and res.run_id != self.run_id:
                raise ValueError(f"results[{i}].run_id '{res.run_id}' is not the run's id '{self.run_id}'")
            if res.target is not None and res.target != self.target:
                raise ValueError(f"results[{i}].target '{res.target}' is not the run's target '{self.target}'")
            if res.cell_key in seen:
                raise ValueError(f"results[{i}] repeats cell_key {res.cell_key[:80]!r}")
            seen.add(res.cell_key)
        return self


class ExportModel(_Strict):
    """A whole `bench export` file."""

    format: Literal["zoobench-results"]
    schema_version: int = Field(ge=0, le=MAX_INT)
    exported_at: ShortStr | None = None
    runs: list[RunModel] = Field(max_length=MAX_RUNS)

    @model_validator(mode="after")
    def _runs_unique(self) -> "ExportModel":
        seen: set[str] = set()
        for i, run in enumerate(self.runs):
            if run.run_id in seen:
                raise ValueError(f"runs[{i}] repeats run_id '{run.run_id}'")
            seen.add(run.run_id)
        return self


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), computed without recursion."""
    depth, stack = 0, [(value, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth = max(depth, d)
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return depth


def _path(loc: tuple, doc: Any) -> str:
    """JSON path of a pydantic error location, following only the parts that exist in `doc`
    (pydantic adds union/type tags such as 'str' or 'function-after[...]' to some locations)."""
    out, node = "$", doc
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            out, node = f"{out}.{part}", node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out, node = f"{out}[{part}]", node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not part.startswith(("function-", "literal[")) \
                and part not in ("str", "int", "float", "bool", "list", "dict", "none", "nullable"):
            out, node = f"{out}.{part}", None  # a missing key: name it
            break
    return out


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def first_error(exc: ValidationError, doc: Any) -> str:
    """'$.path: message (got value)' for the first error pydantic found."""
    err = exc.errors(include_url=False)[0]
    msg = err["msg"].removeprefix("Value error, ")
    got = "" if err["type"] == "missing" or isinstance(err.get("input"), (dict, list)) else \
        f" (got {_shown(err.get('input'))})"
    return f"{_path(tuple(err['loc']), doc)}: {msg}{got}"


def read_json_bounded(path: Path, what: str) -> Any:
    """Parse a JSON file of at most MAX_FILE_BYTES; BenchError (one line) otherwise."""
    try:
        size = os.stat(path).st_size
        if not Path(path).is_file():
            raise BenchError(f"{path} is not a file")
        if size > MAX_FILE_BYTES:
            raise BenchError(f"{path} is {size / 2**20:.0f} MiB; {what} files are limited to "
                             f"{MAX_FILE_BYTES // 2**20} MiB")
        text = Path(path).read_bytes().decode("utf-8")
        return json.loads(text)
    except FileNotFoundError:
        raise BenchError(f"no such file: {path}") from None
    except RecursionError:
        raise BenchError(f"{path}: JSON nested too deeply to be {what}") from None
    except UnicodeDecodeError:
        raise BenchError(f"{path} is not UTF-8 text, so not {what}") from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise BenchError(f"{path} is not {what} (invalid JSON: {exc})") from None
    except OSError as exc:
        raise BenchError(f"cannot read {path}: {exc.strerror or exc}") from None


def validate_export(doc: Any, path: Path | str, schema_version: int) -> ExportModel:
    """Validate a parsed export document; BenchError naming the first bad field otherwise."""
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise BenchError(f"{path} is not a zoobench JSON export (missing format '{EXPORT_FORMAT}')")
    version = doc.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > schema_version:
        raise BenchError(f"{path} uses results schema v{version}, newer than this zoobench (v{schema_version})")
    depth = json_depth(doc)
    if depth > MAX_DEPTH + 4:  # doc > runs > run > results > result, then the free-form objects
        raise BenchError(f"{path}: JSON nested {depth} levels deep; an export is at most {MAX_DEPTH + 4}")
    try:
        model = ExportModel.model_validate(doc)
    except ValidationError as exc:
        raise BenchError(f"{path}: {first_error(exc, doc)}") from None
    # typed fields reject NaN/Infinity above; the free-form objects are scanned here
    for i, run in enumerate(doc["runs"]):
        spots = [(run["fingerprint"], f"$.runs[{i}].fingerprint"), (run["settings"], f"$.runs[{i}].settings")]
        spots += [(r.get("extra"), f"$.runs[{i}].results[{j}].extra") for j, r in enumerate(run["results"])]
        for value, where in spots:
            bad = _non_finite_path(value, where)
            if bad:
                raise BenchError(f"{path}: {bad}: NaN or Infinity is not a number JSON allows")
    return model


def _non_finite_path(doc: Any, root: str) -> str | None:
    """Path of the first NaN/Infinity in `doc` (Python's json accepts them; reports must not see them)."""
    stack: list[tuple[Any, str]] = [(doc, root)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return where
        if isinstance(node, dict):
            stack.extend((v, f"{where}.{k}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))
    return None
