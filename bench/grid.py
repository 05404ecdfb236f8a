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


def _split(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def parse_int_list(text: str, what: str) -> tuple[int, ...]:
    """'1,8' -> (1, 8); every value a positive integer, else BenchError naming `what`."""
    items = _split(text)
    if not items:
        raise BenchError(f"--{what} is empty; give positive integers like 1,8")
    out = []
    for item in items:
        try:
            value = int(item)
        except ValueError:
            raise BenchError(f"--{what}: '{item}' is not an integer; give positive integers like 1,8") from None
        if value < 1:
            raise BenchError(f"--{what}: {value} must be >= 1")
        out.append(value)
    return tuple(dict.fromkeys(out))


def parse_choice_list(text: str, choices: Sequence[str], what: str) -> tuple[str, ...]:
    """'fp32,fp16' -> ('fp32', 'fp16'), each checked against `choices`."""
    items = [i.lower() for i in _split(text)]
    if not items:
        raise BenchError(f"--{what} is empty; choose from {', '.join(choices)}")
    bad = [i for i in items if i not in choices]
    if bad:
        raise BenchError(f"--{what}: unknown value '{bad[0]}'; choose from {', '.join(choices)}")
    return tuple(dict.fromkeys(items))


def parse_fraction(text: str, what: str) -> float:
    """'1%' -> 0.01, '0.02' -> 0.02; must lie in (0, 1)."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise BenchError(f"--{what}: '{text}' is not a number or percentage like 1%") from None
    if not 0 < value < 1:
        raise BenchError(f"--{what}: {text} must be between 0 and 100%")
    return value


def parse_positive_float(text: str, what: str) -> float:
    """A positive float, else BenchError."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise BenchError(f"--{what}: '{text}' is not a number") from None
    if not value > 0:
        raise BenchError(f"--{what}: {text} must be > 0")
    return value

