"""Derived variants: models made by `bench prune` / `bench lowrank`, saved and re-registered.

A derived variant is stored as two files in the variants folder (`bench-out/variants/` under
the working directory, or the folder named by the ZOOBENCH_VARIANTS environment variable):
- NAME.json: the spec (parent model, method and settings, the layers whose widths changed,
  low-rank ranks, costs when created, the weights file name and its SHA-256);
- NAME-<hash>.pt: the state_dict, read back with torch.load(weights_only=True).

The spec is the commit point: the weights are written first under a fresh name, then the
spec replaces any old one atomically (os.replace), then old weights are removed. A command
that fails part-way leaves either the old variant or nothing, never half a variant.

Importing `zoo` registers every spec found (after the families, so parents exist); a spec
that cannot be read is skipped with a one-line warning instead of breaking the import.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from zoo.meta import ModelMeta, Reported
from zoo.papers import DEPGRAPH, LRPET
from zoo.registry import get_entry, list_models, register_variant, unregister_model

ENV_VAR = "ZOOBENCH_VARIANTS"
DEFAULT_DIR = Path("bench-out") / "variants"
SPEC_FORMAT = 1
KINDS = ("pruned", "lowrank")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$")

# width attributes of the layer types a structural pruner resizes
_WIDTH_ATTRS: tuple[tuple[type, tuple[str, ...]], ...] = (
    (nn.modules.conv._ConvNd, ("in_channels", "out_channels", "groups")),
    (nn.Linear, ("in_features", "out_features")),
    (nn.modules.batchnorm._BatchNorm, ("num_features",)),
    (nn.GroupNorm, ("num_groups", "num_channels")),
    (nn.LayerNorm, ("normalized_shape",)),
)


def variants_dir() -> Path:
    """The folder derived variants live in (ZOOBENCH_VARIANTS, else bench-out/variants)."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_DIR)


@dataclass
class DerivedSpec:
    """Everything needed to rebuild a derived variant from its parent and a state_dict."""

    name: str
    parent: str
    kind: str  # pruned | lowrank
    method: dict[str, Any]  # e.g. criterion, macs_ratio, round_to, scope, seed, checkpoint / rank_ratio, energy
    resized: dict[str, dict[str, Any]] = field(default_factory=dict)  # layer -> width attributes that changed
    lowrank_ranks: dict[str, int] = field(default_factory=dict)  # factorised conv -> rank
    costs: dict[str, int] = field(default_factory=dict)  # macs, params, parent_macs, parent_params at creation
    weights: str = ""  # file name of the state_dict, next to the spec
    weights_sha256: str = ""
    created: str = ""
    format: int = SPEC_FORMAT

    def to_json(self) -> str:
        """The spec as indented JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DerivedSpec":
        """Parse and validate a spec dict; ValueError with the reason when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.get("format") != SPEC_FORMAT:
            raise ValueError(f"unsupported spec format {data.get('format')!r}")
        known = set(cls.__dataclass_fields__)
        spec = cls(**{k: v for k, v in data.items() if k in known})
        if not NAME_PATTERN.match(str(spec.name)):
            raise ValueError(f"invalid variant name {spec.name!r}")
        if spec.kind not in KINDS:
            raise ValueError(f"unknown kind {spec.kind!r}")
        if not spec.weights or "/" in spec.weights or "\\" in spec.weights:
            raise ValueError("missing or invalid weights file name")
        return spec

    def describe(self) -> str:
        """One line saying how the variant was made."""
        settings = ", ".join(f"{k}={v}" for k, v in sorted(self.method.items()) if v is not None)
        return f"{self.kind} from {self.parent} ({settings}) by zoobench"


# --------------------------------------------------------------------------- structure
def width_attrs(module: nn.Module) -> dict[str, Any] | None:
    """The width attributes of a resizable layer, or None for other modules."""
    for cls, names in _WIDTH_ATTRS:
        if isinstance(module, cls):
            return {n: list(v) if isinstance(v, tuple) else v for n, v in ((n, getattr(module, n)) for n in names)}
    return None


def structure_diff(reference: nn.Module, model: nn.Module) -> dict[str, dict[str, Any]]:
    """Layers of `model` whose width attributes differ from the same-named layers of `reference`."""
    ref = dict(reference.named_modules())
    out = {}
    for name, mod in model.named_modules():
        attrs = width_attrs(mod)
        if attrs is not None and (name not in ref or width_attrs(ref[name]) != attrs):
            out[name] = attrs
    return out


def apply_structure(model: nn.Module, resized: dict[str, dict[str, Any]], state: dict[str, torch.Tensor]) -> None:
    """Resize `model`'s layers to `resized` and its tensors to `state`'s shapes, then load `state` strictly."""
    for name, attrs in resized.items():
        mod = model.get_submodule(name)
        for attr, value in attrs.items():
            setattr(mod, attr, tuple(value) if isinstance(value, list) else value)
    for key, tensor in state.items():
        owner, _, attr = key.rpartition(".")
        mod = model.get_submodule(owner)
        if attr in mod._parameters and mod._parameters[attr] is not None:
            if mod._parameters[attr].shape != tensor.shape:
                mod._parameters[attr] = nn.Parameter(torch.empty_like(tensor))
        elif attr in mod._buffers and mod._buffers[attr] is not None and mod._buffers[attr].shape != tensor.shape:
            mod._buffers[attr] = torch.empty_like(tensor)
    model.load_state_dict(state, strict=True)


def rebuild(spec: DerivedSpec, state: dict[str, torch.Tensor]) -> nn.Module:
    """The derived model: parent rebuilt, factorised and resized as the spec says, weights loaded."""
    from zoo.lowrank import factorize_model

    model = get_entry(spec.parent).build()
    if spec.lowrank_ranks:
        factorize_model(model, ranks=dict(spec.lowrank_ranks), init="random")
    apply_structure(model, spec.resized, state)
    return model.eval()


# --------------------------------------------------------------------------- files
def spec_path(name: str, folder: Path | None = None) -> Path:
    """Where variant `name`'s spec lives."""
    return (folder or variants_dir()) / f"{name}.json"


def read_spec(path: Path) -> DerivedSpec:
    """Read and validate a spec file (ValueError with the reason)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"unreadable spec: {exc}") from None
    return DerivedSpec.from_dict(data)


def load_weights(spec: DerivedSpec, folder: Path) -> dict[str, torch.Tensor]:
    """The variant's state_dict, checked against the SHA-256 in its spec."""
    path = folder / spec.weights
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"weights file {path} unreadable: {exc.strerror}") from None
    if hashlib.sha256(data).hexdigest() != spec.weights_sha256:
        raise ValueError(f"weights file {path} does not match its spec (SHA-256 differs)")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def save_variant(spec: DerivedSpec, model: nn.Module, folder: Path | None = None, overwrite: bool = False) -> Path:
    """Write `model`'s state_dict and `spec` atomically; returns the spec path.

    Fills spec.weights, weights_sha256 and created. FileExistsError if the variant exists and
    not `overwrite`. On any failure the folder is left as it was.
    """
    folder = folder or variants_dir()
    folder.mkdir(parents=True, exist_ok=True)
    final = spec_path(spec.name, folder)
    old = read_spec(final) if final.exists() and overwrite else None
    if final.exists() and not overwrite:
        raise FileExistsError(f"variant '{spec.name}' already exists in {folder}")
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    spec.weights, spec.weights_sha256 = f"{spec.name}-{digest[:12]}.pt", digest
    spec.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    weights = folder / spec.weights
    tmp_w = folder / f".{spec.weights}.tmp-{os.getpid()}"
    tmp_s = folder / f".{final.name}.tmp-{os.getpid()}"
    new_weights_file = not weights.exists()
    try:
        _fsync_write(tmp_w, data)
        os.replace(tmp_w, weights)
        _fsync_write(tmp_s, spec.to_json().encode())
        os.replace(tmp_s, final)  # the commit point
    except BaseException:
        for p in (tmp_w, tmp_s):
            p.unlink(missing_ok=True)
        if new_weights_file and not (old and old.weights == spec.weights):
            weights.unlink(missing_ok=True)
        raise
    if old and old.weights != spec.weights:
        (folder / old.weights).unlink(missing_ok=True)
    return final


def delete_variant(name: str, folder: Path | None = None) -> None:
    """Remove a saved variant (spec first, so it disappears atomically) and unregister it."""
    folder = folder or variants_dir()
    path = spec_path(name, folder)
    spec = read_spec(path) if path.exists() else None
    path.unlink(missing_ok=True)
    if spec:
        (folder / spec.weights).unlink(missing_ok=True)
    if name in list_models(tag="derived"):
        unregister_model(name)


# --------------------------------------------------------------------------- registry
def derived_meta(spec: DerivedSpec) -> ModelMeta:
    """Registry metadata of a derived variant (dataset, input and deploy transform from its parent)."""
    parent = get_entry(spec.parent).meta
    label = spec.method.get("criterion") or ("energy" if spec.method.get("energy") else "rank")
    return ModelMeta(
        family=spec.kind, paper=DEPGRAPH if spec.kind == "pruned" else LRPET, dataset=parent.dataset,
        input_size=parent.input_size, num_classes=parent.num_classes, deploy=parent.deploy,
        reported=Reported(note="derived variant: no reported numbers (weights random or user-given)"),
        tags=("derived", spec.kind, str(label)) + tuple(t for t in parent.tags if t in ("cifar", "imagenet")),
        notes=spec.describe(), parent=spec.parent)


def register_spec(spec: DerivedSpec, folder: Path | None = None, replace: bool = False) -> None:
    """Register a saved variant; its builder rebuilds it from disk on each call."""
    folder = folder or variants_dir()
    meta = derived_meta(spec)

    def build(**overrides) -> nn.Module:
        if overrides:
            raise TypeError(f"derived variant '{spec.name}' takes no build overrides ({', '.join(overrides)})")
        return rebuild(spec, load_weights(spec, folder))

    build.__name__ = spec.name
    if replace and spec.name in list_models(tag="derived"):
        unregister_model(spec.name)
    register_variant(spec.name, build, meta)


def load_saved_variants(folder: Path | None = None) -> list[str]:
    """Register every readable spec in `folder`; warns (one line each) and skips the others.

    A spec whose parent is itself a derived variant is registered once that parent is.
    """
    folder = folder or variants_dir()
    if not folder.is_dir():
        return []
    pending: dict[str, DerivedSpec] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            spec = read_spec(path)
            if path.stem != spec.name:
                raise ValueError(f"file name does not match variant name {spec.name!r}")
            pending[spec.name] = spec
        except ValueError as exc:
            warnings.warn(f"zoobench: skipping derived variant {path}: {exc}", stacklevel=2)
    registered: list[str] = []
    known = set(list_models())
    while pending:
        ready = [s for s in pending.values() if s.parent in known]
        if not ready:
            break
        for spec in ready:
            del pending[spec.name]
            if spec.name in known:
                warnings.warn(f"zoobench: skipping derived variant {spec.name}: name already registered", stacklevel=2)
                continue
            register_spec(spec, folder)
            known.add(spec.name)
            registered.append(spec.name)
    for spec in pending.values():
        warnings.warn(f"zoobench: skipping derived variant {spec.name}: parent '{spec.parent}' is not registered",
                      stacklevel=2)
    return registered


load_saved_variants()
