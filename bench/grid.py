"""The run grid: models x batch sizes x dtypes x layouts x HetConv impls x threads.

Every cell becomes one stored result. The impl axis only applies to models that contain
HetConv layers; other models get one cell with impl None. A cell (`bench.cell.Cell`) is
identified within a run by its `key()`, which is what `--resume` matches on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import product
from typing import Callable, Sequence

from bench.cell import Cell
from bench.errors import BenchError


@dataclass(frozen=True)
class GridSpec:
    """The axes of a run; `cells()` expands them."""

    models: tuple[str, ...]
    batches: tuple[int, ...] = (1,)
    dtypes: tuple[str, ...] = ("fp32",)
    layouts: tuple[str, ...] = ("nchw",)
    impls: tuple[str | None, ...] = (None,)
    threads: tuple[int, ...] = (1,)
    compile: bool = False

    def cells(self, has_hetconv: Callable[[str], bool]) -> list[Cell]:
        """All cells, model-major; the impl axis collapses to None for models without HetConv."""
        out: list[Cell] = []
        for model in self.models:
            impls = self.impls if has_hetconv(model) else (None,)
            for impl, batch, dtype, layout, threads in product(impls, self.batches, self.dtypes, self.layouts,
                                                                self.threads):
                out.append(Cell(model, batch, dtype, layout, impl, threads, self.compile))
        return out

    def to_dict(self) -> dict:
        """JSON-friendly form (stored in the run's settings)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# Upper bounds of the integer options, with why: a value past them is a typo or a test of the tool,
# and would otherwise measure for minutes and then fail to store (SQLite INTEGER is 64-bit).
INT_LIMITS: dict[str, tuple[int, str]] = {
    "batch": (65_536, "larger batches do not fit any device's memory for these models"),
    "max-iters": (100_000, "more samples per cell add nothing to a median's CI and bloat the database"),
    "min-samples": (100_000, "more samples per cell add nothing to a median's CI and bloat the database"),
    "rounds": (1_000, "more rounds add nothing to the comparison"),
}
DEFAULT_INT_LIMIT = 1_000_000
FLOAT_LIMITS: dict[str, float] = {"max-time": 86_400.0, "warmup-max-time": 86_400.0, "burst-ms": 3_600_000.0}
DEFAULT_FLOAT_LIMIT = 1e9


def _split(text: str, what: str = "") -> list[str]:
    """Comma-separated items; an empty item ('1,,2', '1,') is refused rather than skipped."""
    raw = str(text)
    if not raw.strip():
        return []
    items = [t.strip() for t in raw.split(",")]
    if any(not t for t in items):
        raise BenchError(f"--{what}: empty item in '{raw[:80]}'; separate values with single commas")
    return items


def logical_cores() -> int:
    """Logical CPU cores of this machine (os.cpu_count, at least 1)."""
    import os

    return os.cpu_count() or 1


def threads_over_cores(value: int, cores: int | None = None) -> str:
    """Why `value` threads cannot be measured on a machine with `cores` logical cores (default: this
    one), or '' when they can. A fleet worker asks this of its own host for each cell."""
    cores = cores or logical_cores()
    if value > cores:
        return (f"--threads: {value} exceeds this machine's {cores} logical core(s); "
                "oversubscribed threads time contention, not the model")
    return ""


def _check_threads(value: int) -> None:
    # An error, not a warning: more threads than cores oversubscribes the CPU, so the latency
    # measures the OS scheduler's contention, not the model, and a stored number would mislead
    # every later comparison (a warning scrolls away; CI logs are rarely read).
    why = threads_over_cores(value)
    if why:
        raise BenchError(why)


def parse_int_list(text: str, what: str, check_cores: bool = True) -> tuple[int, ...]:
    """'1,8' -> (1, 8); every value a positive integer within its bound (`INT_LIMITS`; threads:
    at most the logical cores, unless `check_cores` is False: a fleet worker checks its own), else
    BenchError naming `what`."""
    items = _split(text, what)
    if not items:
        raise BenchError(f"--{what} is empty; give positive integers like 1,8")
    limit, why = INT_LIMITS.get(what, (DEFAULT_INT_LIMIT, "no realistic use needs more"))
    out = []
    for item in items:
        if len(item) > 30:
            raise BenchError(f"--{what}: '{item[:30]}...' is far too large; at most {limit} ({why})")
        try:
            value = int(item)
        except ValueError:
            raise BenchError(f"--{what}: '{item}' is not an integer; give positive integers like 1,8") from None
        if value < 1:
            raise BenchError(f"--{what}: {value} must be >= 1")
        if what == "threads" and check_cores:
            _check_threads(value)
        elif value > limit:
            raise BenchError(f"--{what}: {value} is too large; at most {limit} ({why})")
        out.append(value)
    return tuple(dict.fromkeys(out))


def parse_choice_list(text: str, choices: Sequence[str], what: str) -> tuple[str, ...]:
    """'fp32,fp16' -> ('fp32', 'fp16'), each checked against `choices`."""
    items = [i.lower() for i in _split(text, what)]
    if not items:
        raise BenchError(f"--{what} is empty; choose from {', '.join(choices)}")
    bad = [i for i in items if i not in choices]
    if bad:
        raise BenchError(f"--{what}: unknown value '{bad[0][:40]}'; choose from {', '.join(choices)}")
    return tuple(dict.fromkeys(items))


def parse_fraction(text: str, what: str) -> float:
    """'1%' -> 0.01, '0.02' -> 0.02; must lie in (0, 1)."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise BenchError(f"--{what}: '{str(text)[:40]}' is not a number or percentage like 1%") from None
    if not 0 < value < 1:
        raise BenchError(f"--{what}: {str(text)[:40]} must be between 0 and 100%")
    return value


def parse_positive_float(text: str, what: str) -> float:
    """A finite positive float up to its bound (`FLOAT_LIMITS`), else BenchError."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise BenchError(f"--{what}: '{str(text)[:40]}' is not a number") from None
    if not value > 0:
        raise BenchError(f"--{what}: {text} must be > 0")
    limit = FLOAT_LIMITS.get(what, DEFAULT_FLOAT_LIMIT)
    if not value <= limit:  # also catches inf
        raise BenchError(f"--{what}: {str(text)[:40]} is too large; at most {limit:g}")
    return value
