"""Regression thresholds: the default, per-model overrides and the TOML/JSON files they come from."""
from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import dataclass
from typing import Any, Iterable

from bench.errors import BenchError

DEFAULT_THRESHOLD = 0.05


def parse_percent(text: Any, what: str) -> float:
    """'5%' -> 0.05, '0.05' / 0.05 -> 0.05; must lie in [0, 10) (0 % .. 1000 %)."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise BenchError(f"{what}: '{text}' is not a percentage like 5% or a fraction like 0.05") from None
    if not (0 <= value < 10) or math.isnan(value):
        raise BenchError(f"{what}: {text} must be between 0% and 1000%")
    return value


@dataclass(frozen=True)
class Thresholds:
    """Regression threshold per model: the default, or the first matching override pattern."""

    default: float = DEFAULT_THRESHOLD
    overrides: tuple[tuple[str, float], ...] = ()

    def for_model(self, model: str) -> float:
        """The threshold that applies to `model` (exact names win over wildcards, then first match)."""
        for pattern, value in self.overrides:
            if pattern == model:
                return value
        for pattern, value in self.overrides:
            if fnmatch.fnmatchcase(model, pattern):
                return value
        return self.default


def parse_override(text: str) -> tuple[str, float]:
    """'vgg16_cifar*=10%' -> ('vgg16_cifar*', 0.10)."""
    model, sep, pct = str(text).partition("=")
    if not sep or not model.strip() or not pct.strip():
        raise BenchError(f"--threshold-for: '{text}' is not MODEL=PCT (e.g. resnet20_cifar=10%)")
    return model.strip(), parse_percent(pct, f"--threshold-for {model.strip()}")


def load_threshold_file(path: str) -> dict[str, float]:
    """Per-model thresholds from a TOML or JSON file (by suffix): `{pattern = "10%", ...}`.

    The mapping is either the whole document or its `thresholds` table; a `default` key
    sets the default threshold.
    """
    import tomllib
    from pathlib import Path

    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise BenchError(f"--thresholds: cannot read {path} ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BenchError(f"--thresholds: {path} is not valid {p.suffix.lstrip('.').upper() or 'TOML'} ({exc})") from None
    if isinstance(doc, dict) and isinstance(doc.get("thresholds"), dict):
        doc = doc["thresholds"]
    if not isinstance(doc, dict) or any(isinstance(v, (dict, list)) for v in doc.values()):
        raise BenchError(f"--thresholds: {path} must map model names/wildcards to percentages, e.g. \"vgg*\" = \"10%\"")
    return {str(k): parse_percent(v, f"--thresholds {path}: {k}") for k, v in doc.items()}


def build_thresholds(default: str | float | None = None, overrides: Iterable[str] = (),
                     files: Iterable[str] = ()) -> Thresholds:
    """Thresholds from the CLI: files first, then --threshold-for (later wins), then --threshold."""
    table: dict[str, float] = {}
    for path in files:
        table.update(load_threshold_file(path))
    for text in overrides:
        model, value = parse_override(text)
        table[model] = value
    base = table.pop("default", DEFAULT_THRESHOLD)
    if default is not None:
        base = parse_percent(default, "--threshold")
    return Thresholds(default=base, overrides=tuple(table.items()))
