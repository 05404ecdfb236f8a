"""Checkpoints for `bench eval`: safe loading, one-line mismatch reports, train -> deploy form.

Checkpoints are read with `torch.load(weights_only=True)` only: no pickled code runs, and a
file that needs more is refused as not a weights file. A `{'state_dict': ...}` or
`{'model': ...}` wrapper and a DataParallel `module.` prefix are accepted (the prefix is
stripped and the report says so). A checkpoint may be in the model's train form or already
in its deploy form (re-parameterised, BN folded); a train-form model is converted and the two
forms are checked to give the same outputs on the first evaluation batch.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from bench.errors import BenchError

PREFIX = "module."
# deploy form vs train form on the first batch: max |deploy - train| / max |train| (fp32 folding)
EQUIVALENCE_TOLERANCE = 1e-4
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "state_dict_ema")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], bool]:
    """(state_dict, prefix_stripped) from a checkpoint file; BenchError for missing/corrupt/non-weight files."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"checkpoint '{path}' not found")
    try:
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated, corrupt or code-carrying files are the same user error
        # torch's own message suggests weights_only=False, which we never do: name the cause instead
        raise BenchError(f"checkpoint '{path}' is corrupt or not a weights file (torch.load with weights_only=True "
                         f"failed: {type(exc).__name__})") from None
    if isinstance(obj, dict):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BenchError(f"checkpoint '{path}' holds no state_dict of tensors")
    stripped = all(k.startswith(PREFIX) for k in obj)
    if stripped:
        obj = {k[len(PREFIX):]: v for k, v in obj.items()}
    return obj, stripped


def mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Missing, unexpected and wrongly shaped keys of `state` against `model` (all empty: it fits)."""
    own = model.state_dict()
    return dict(
        missing=[k for k in own if k not in state],
        unexpected=[k for k in state if k not in own],
        shape=[f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
               if k in state and tuple(state[k].shape) != tuple(own[k].shape)])


def mismatch_text(diff: dict[str, list[str]], stripped: bool) -> str:
    """One line: counts and the first few keys of each kind of mismatch, and whether a prefix was stripped."""
    parts = []
    for label, items in diff.items():
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:3])}{more}")
    text = "; ".join(parts)
    if stripped:
        text += f" ('{PREFIX}' prefix stripped from every key)"
    return text


@dataclass
class LoadedModel:
    """A model with the user's weights: its train form (None if the checkpoint was deploy form) and deploy form."""

    train: nn.Module | None
    deploy: nn.Module
    sha256: str
    form: str  # "train" or "deploy": the form the checkpoint was in
    prefix_stripped: bool


def load_for_eval(model_name: str, model: nn.Module, path: Path) -> LoadedModel:
    """Load checkpoint `path` into `model` (train form) or, failing that, into its deploy form.

    A checkpoint that fits neither raises BenchError with the train-form mismatch in one line
    (typically: a checkpoint of another architecture).
    """
    from zoo.layers.reparam import deploy_form

    state, stripped = read_state_dict(path)
    digest = sha256_file(path)
    diff = mismatch(model, state)
    if not any(diff.values()):
        model.load_state_dict(state, strict=True)
        model.eval()
        return LoadedModel(model, deploy_form(model), digest, "train", stripped)
    deploy = deploy_form(model)
    if not any(mismatch(deploy, state).values()):
        deploy.load_state_dict(state, strict=True)
        return LoadedModel(None, deploy.eval(), digest, "deploy", stripped)
    raise BenchError(f"checkpoint '{path}' does not fit model '{model_name}' (another architecture or class "
                     f"count?): {mismatch_text(diff, stripped)}")


def check_forms_equal(loaded: LoadedModel, batch: torch.Tensor) -> float:
    """Relative max difference of deploy vs train outputs on `batch`; BenchError beyond the tolerance.

    Returns 0.0 without running anything when the checkpoint was already in deploy form. A
    difference is our transform's fault, not the user's: exit status 3 (internal error).
    """
    from devices.base import first_tensor, relative_error

    if loaded.train is None:
        return 0.0
    with torch.inference_mode():
        ref = first_tensor(loaded.train(batch))
        out = first_tensor(loaded.deploy(batch))
    err = relative_error(out, ref)
    if not err <= EQUIVALENCE_TOLERANCE:
        raise BenchError(f"deploy form differs from the train form on the first batch (relative error {err:.2e} > "
                         f"{EQUIVALENCE_TOLERANCE:g}); not evaluated", code=3)
    return err
