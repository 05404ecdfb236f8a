"""The evaluation loop: per-image top-k predictions of a model (eager) or its ExecuTorch .pte.

Both loops see the same images in the same order (a DataLoader without shuffling over the
same dataset), so per-image correctness can be paired: eager vs .pte (the export's drift) or
model A vs model B (McNemar).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.nn as nn

from bench.accuracy.metrics import Proportion, clopper_pearson, topk_correct
from bench.errors import BenchError

TOP_K = 5


@dataclass
class Predictions:
    """Per-image labels and top-k predicted classes (best first), with the loop's wall time."""

    labels: np.ndarray
    topk: np.ndarray
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Images evaluated."""
        return int(self.labels.size)

    def correct(self, k: int = 1) -> np.ndarray:
        """Per image: label among the top `k`."""
        return topk_correct(self.topk, self.labels, k)

    def top(self, k: int) -> Proportion:
        """Top-k accuracy with its exact interval (k is capped at the number of classes predicted)."""
        return clopper_pearson(int(self.correct(min(k, self.topk.shape[1])).sum()), self.n)

    @property
    def images_per_s(self) -> float:
        """Throughput of the whole loop (data loading included)."""
        return self.n / self.seconds if self.seconds > 0 else float("nan")


def make_loader(dataset, batch: int, workers: int = 0):
    """An unshuffled DataLoader (the order pairs images across models and targets)."""
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=workers, drop_last=False)


def first_batch(loader) -> tuple[torch.Tensor, torch.Tensor]:
    """The loader's first (images, labels); BenchError when an image cannot be decoded."""
    try:
        return next(iter(loader))
    except (OSError, ValueError, RuntimeError) as exc:
        raise BenchError(f"cannot read the evaluation images: {type(exc).__name__}: {str(exc)[:160]}") from None


def _collect(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], forward: Callable[[torch.Tensor], torch.Tensor],
             total: int, desc: str, progress: bool) -> Predictions:
    from tqdm import tqdm

    labels, topk = [], []
    bar = tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False)
    t0 = time.perf_counter()
    try:
        for images, target in batches:
            logits = forward(images)
            k = min(TOP_K, logits.shape[1])
            topk.append(torch.topk(logits.float(), k, dim=1).indices.cpu().numpy())
            labels.append(target.numpy())
            bar.update(len(target))
    except (OSError, ValueError) as exc:  # an undecodable image part-way through
        raise BenchError(f"cannot read the evaluation images: {type(exc).__name__}: {str(exc)[:160]}") from None
    finally:
        bar.close()
    return Predictions(np.concatenate(labels), np.concatenate(topk), time.perf_counter() - t0)


def evaluate_eager(model: nn.Module, loader, device: str = "cpu", progress: bool = False,
                   desc: str = "eager") -> Predictions:
    """Top-k predictions of `model` (deploy form, eval mode) on every image of `loader`."""
    from devices.base import first_tensor

    model = model.eval().to(device)

    def forward(images: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return first_tensor(model(images.to(device, non_blocking=True)))

    preds = _collect(loader, forward, len(loader.dataset), desc, progress)
    preds.info.update(device=device, torch=torch.__version__)
    return preds


def evaluate_pte(model: nn.Module, loader, batch: int, progress: bool = False, desc: str = "mobile .pte") -> Predictions:
    """Export `model` to an XNNPACK .pte (static batch `batch`) and predict through the ExecuTorch runtime.

    The last, smaller batch is padded with zeros to the exported shape and the padding's
    outputs dropped (images are independent in eval mode).
    """
    from devices.base import UnsupportedCell, first_tensor
    from devices.mobile import MobileDevice, executorch_version, export_pte, load_pte_method

    ok, reason = MobileDevice().available()
    if not ok:
        raise BenchError(f"--device mobile: {reason}")
    images0, _ = first_batch(loader)
    example = torch.zeros((batch,) + tuple(images0.shape[1:]), dtype=torch.float32)
    t0 = time.perf_counter()
    try:
        pte = export_pte(model.eval().float(), example)
    except UnsupportedCell as exc:
        raise BenchError(f"--device mobile: cannot export the model: {exc}") from None
    export_s = time.perf_counter() - t0
    program, method = load_pte_method(pte)

    def forward(images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        x = images.float().contiguous()
        if n < batch:
            x = torch.cat([x, x.new_zeros((batch - n,) + tuple(x.shape[1:]))])
        return first_tensor(method.execute([x]))[:n]

    preds = _collect(loader, forward, len(loader.dataset), desc, progress)
    del program
    preds.info.update(executorch=executorch_version(), backend="xnnpack", runtime="executorch python runtime on host",
                      pte_bytes=len(pte), export_s=round(export_s, 3), pte_batch=batch)
    return preds
