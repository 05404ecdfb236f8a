"""Registry of claim studies: `bench claim NAME` picks from here.

Each entry maps a study name to "module:attribute" (imported on first use, so listing the
names costs nothing) or to a ClaimStudy class or instance. A new study is one line here.
"""
from __future__ import annotations

import importlib
from typing import Union

from bench.claims.base import ClaimStudy
from bench.errors import BenchError

StudyEntry = Union[str, type[ClaimStudy], ClaimStudy]

STUDIES: dict[str, StudyEntry] = {
    "hetconv": "bench.claims.hetconv:HetConvStudy",
}


def study_names() -> list[str]:
    """Registered study names, sorted."""
    return sorted(STUDIES)


def _load(entry: StudyEntry) -> ClaimStudy:
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    return entry() if isinstance(entry, type) else entry


def get_study(name: str) -> ClaimStudy:
    """The study registered as `name`; an unknown name is a BenchError naming the choices."""
    if name not in STUDIES:
        raise BenchError(f"unknown claim study '{name}'; choose from: {', '.join(study_names())}")
    study = _load(STUDIES[name])
    if study.name != name:
        raise BenchError(f"claim study registered as '{name}' calls itself '{study.name}'", code=3)
    return study
