"""A small results database for the report site's views, written through ResultStore.

Samples are drawn at random around a per-model latency; every number the views show (p50, ratios,
throughput, verdicts) is computed by the code from these samples, never written here.
cpu: commits A and B, two runs each, batches 1 and 4; at commit B `SLOWED` runs 1.5x slower.
mobile: one run at commit B, batch 1. One cell is noisy (stopped on the time cap), one contended.
"""
from __future__ import annotations

import random
from pathlib import Path

from bench.cell import Cell
from bench.stats import summarize
from bench.timing import STOP_TIME
from tests.test_report import SMALL_MODELS, fingerprint

MODELS = {m: SMALL_MODELS[m] for m in ("vgg16_cifar", "vgg16_cifar_p4", "resnet56_cifar", "resnet18",
                                        "mobilenet_v2", "shufflenet_v2_x1_0")}
SLOWED = "resnet56_cifar"
NOISY = ("cpu", "mobilenet_v2")
CONTENDED = ("mobile", "resnet18")
BASE_MS = {m: 1.0 + 0.7 * i for i, m in enumerate(MODELS)}


def _run(store, target: str, commit: str, created: str, batches, slow: float, rng: random.Random) -> None:
    rid = store.start_run(target, fingerprint(target), {"ci": 0.01}, git_commit=commit, created_at=created)
    for batch in batches:
        for model, family in MODELS.items():
            scale = BASE_MS[model] * batch ** 0.8 * (slow if model == SLOWED else 1.0) * (1.3 if target == "mobile" else 1.0)
            samples = [scale * rng.lognormvariate(0, 0.02) for _ in range(60)]
            noisy = (target, model) == NOISY
            store.add_result(rid, Cell(model, batch, threads=2), summarize(samples), samples, family=family,
                             stop_reason=STOP_TIME if noisy else "ci",
                             extra={"contended": True} if (target, model) == CONTENDED else None)
    store.finish_run(rid)


def write_site_db(path: Path) -> Path:
    """Write the database described in the module docstring to `path`; returns it."""
    from bench.store import ResultStore

    rng = random.Random(0)
    with ResultStore(path) as store:
        for commit, day, slow in (("a" * 40, "2026-11-20", 1.0), ("b" * 40, "2026-11-21", 1.5)):
            for hour in ("10", "11"):
                _run(store, "cpu", commit, f"{day}T{hour}:00:00+00:00", (1, 4), slow, rng)
        _run(store, "mobile", "b" * 40, "2026-11-21T12:00:00+00:00", (1,), 1.5, rng)
    return path
