"""One `bench eval` invocation: load every model and the data, evaluate, pair, and store.

This is the public API behind the CLI (`evaluate_request`); tests and scripts call it directly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.accuracy.data import DataSpec
from bench.accuracy.evaluate import Predictions
from bench.accuracy.metrics import McNemar
from bench.errors import BenchError


@dataclass
class EvalRequest:
    """What to evaluate: one or two models, one checkpoint each, one data spec, one target."""

    models: list[str]
    checkpoints: list[str | Path]
    data: str
    device: str = "cpu"
    batch: int = 256
    limit: int | None = None
    workers: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    progress: bool = False


@dataclass
class ModelResult:
    """One model's measured accuracy: eager, and the .pte's when the target is mobile."""

    model: str
    checkpoint: Path
    checkpoint_sha256: str
    checkpoint_form: str
    prefix_stripped: bool
    data_config: dict[str, Any]
    deploy_rel_err: float
    eager: Predictions
    eager_target: str
    pte: Predictions | None = None

    def drift(self) -> McNemar | None:
        """Eager vs .pte on the same images (None without a .pte)."""
        from bench.accuracy.metrics import mcnemar_exact

        if self.pte is None:
            return None
        return mcnemar_exact(self.pte.correct(1), self.eager.correct(1))


@dataclass
class EvalOutcome:
    """Everything `bench eval` measured, ready to print and store."""

    data: DataSpec
    dataset_fingerprint: str
    dataset_size: int
    limit: int  # 0: every image
    results: list[ModelResult]
    paired: McNemar | None = None

    def records(self):
        """AccuracyRecord rows: one per model and target (eager; and mobile with its drift)."""
        from bench.accuracy.store import AccuracyRecord

        out = []
        for r in self.results:
            runs = [(r.eager_target, r.eager, {})]
            if r.pte is not None:
                d = r.drift()
                runs.append(("mobile", r.pte, dict(eager_top1=r.eager.top(1).value, top1_drift=d.difference,
                                                   drift_only_pte=d.only_a, drift_only_eager=d.only_b,
                                                   drift_mcnemar_p=d.p_value)))
            for target, preds, extra in runs:
                t1, t5 = preds.top(1), preds.top(5)
                out.append(AccuracyRecord(
                    model=r.model, checkpoint_sha256=r.checkpoint_sha256, checkpoint=str(r.checkpoint),
                    data=str(self.data), data_kind=self.data.kind, dataset_fingerprint=self.dataset_fingerprint,
                    target=target, image_limit=self.limit, n=t1.n, top1_correct=t1.k, top1=t1.value,
                    top1_low=t1.low, top1_high=t1.high, top5_correct=t5.k, top5=t5.value, top5_low=t5.low,
                    top5_high=t5.high, images_per_s=preds.images_per_s,
                    extra=dict(extra, top5_k=int(preds.topk.shape[1]), checkpoint_form=r.checkpoint_form,
                               data_config=r.data_config, deploy_rel_err=r.deploy_rel_err, **preds.info)))
        return out

    def save(self, db: str | Path) -> None:
        """Store every record in the result database at `db` (created if missing)."""
        from bench.accuracy.store import save_accuracy
        from bench.store import ResultStore, utc_now

        with ResultStore(db) as store:
            now = utc_now()
            for rec in self.records():
                save_accuracy(store.conn, rec, now)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (records plus the paired test)."""
        from dataclasses import asdict

        out: dict[str, Any] = dict(data=str(self.data), dataset_fingerprint=self.dataset_fingerprint,
                                   dataset_size=self.dataset_size, records=[asdict(r) for r in self.records()])
        if self.paired is not None:
            out["mcnemar"] = dict(asdict(self.paired), difference=self.paired.difference)
        return out


def _resolve(name: str):
    import zoo  # noqa: F401 - registers the families
    from zoo.registry import UnknownModelError, get_entry

    try:
        return get_entry(name)
    except UnknownModelError as exc:
        raise BenchError(str(exc)) from None


def _check_device(device: str) -> str:
    """The eager device for `device` (mobile evaluates eager on the CPU); BenchError when CUDA is absent."""
    if device == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda: no CUDA device is available on this machine")
    return "cuda" if device == "cuda" else "cpu"


def _evaluate_model(name: str, checkpoint: Path, spec: DataSpec, request: EvalRequest, indices: list[int] | None,
                    eager_device: str) -> tuple[ModelResult, Any]:
    from torch.utils.data import Subset

    from bench.accuracy.checkpoint import check_forms_equal, load_for_eval
    from bench.accuracy.data import data_config, eval_transform, open_dataset
    from bench.accuracy.evaluate import evaluate_eager, evaluate_pte, first_batch, make_loader

    entry = _resolve(name)
    model = entry.build()
    loaded = load_for_eval(name, model, Path(checkpoint))
    config = data_config(loaded.train or loaded.deploy, entry.meta, request.overrides)
    dataset = open_dataset(spec, eval_transform(config))
    data = Subset(dataset, indices) if indices is not None else dataset
    loader = make_loader(data, request.batch, request.workers)
    images, _ = first_batch(make_loader(data, request.batch, 0))
    from devices.base import first_tensor

    with torch.inference_mode():
        outputs = first_tensor(loaded.deploy(images))
    classes = len(dataset.classes)
    if outputs.ndim != 2 or outputs.shape[1] != classes:
        got = outputs.shape[1] if outputs.ndim == 2 else tuple(outputs.shape)
        raise BenchError(f"model '{name}' predicts {got} classes but {spec} has {classes}")
    rel_err = check_forms_equal(loaded, images)
    eager = evaluate_eager(loaded.deploy, loader, eager_device, request.progress, desc=f"{name} eager")
    pte = None
    if request.device == "mobile":
        pte = evaluate_pte(loaded.deploy.cpu(), loader, request.batch, request.progress, desc=f"{name} .pte")
    result = ModelResult(name, Path(checkpoint), loaded.sha256, loaded.form, loaded.prefix_stripped,
                         {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()}, rel_err, eager,
                         eager_device, pte)
    return result, dataset


def evaluate_request(request: EvalRequest) -> EvalOutcome:
    """Run one `bench eval`: BenchError (exit 2) on bad data, checkpoints, class counts or options."""
    from bench.accuracy.data import dataset_fingerprint, open_dataset, parse_data_spec
    from bench.accuracy.metrics import mcnemar_exact

    if request.limit is not None and request.limit < 1:
        raise BenchError(f"--limit must be a positive number of images, got {request.limit}")
    if len(request.models) != len(request.checkpoints) or not 1 <= len(request.models) <= 2:
        raise BenchError("give one or two models and one checkpoint per model")
    spec = parse_data_spec(request.data)
    eager_device = _check_device(request.device)
    for name in request.models:
        _resolve(name)
    raw = open_dataset(spec)
    size = len(raw)
    limit = 0 if request.limit is None or request.limit >= size else request.limit
    fingerprint = dataset_fingerprint(spec, raw)
    # evenly spaced, not the first N: ImageFolder orders images by class, so a prefix would be a few classes only
    indices = [i * size // limit for i in range(limit)] if limit else None
    workers = min(request.workers, os.cpu_count() or 1)
    request = EvalRequest(**{**request.__dict__, "workers": workers})
    results = [_evaluate_model(m, Path(c), spec, request, indices, eager_device)[0]
               for m, c in zip(request.models, request.checkpoints)]
    paired = None
    if len(results) == 2:
        a, b = results
        if not (a.eager.labels == b.eager.labels).all():
            raise BenchError("the two evaluations saw different labels; the data changed during the run", code=3)
        paired = mcnemar_exact(a.eager.correct(1), b.eager.correct(1))
    return EvalOutcome(spec, fingerprint, size, limit, results, paired)
