"""Derived variants: models made by `bench prune` / `bench lowrank`, saved and re-registered.

A derived variant is stored as two files in the variants folder (`bench-out/variants/` under
the working directory, or the folder named by the ZOOBENCH_VARIANTS environment variable):
- NAME.json: the spec (parent model, method and settings, the layers whose widths changed,
  low-rank ranks, costs when created, the weights file name and its SHA-256);
- NAME-<hash>.pt: the state_dict, read back with torch.load(weights_only=True).

The spec is the commit point: the weights are written first under a fresh name, then the
spec replaces any old one atomically (os.replace), then old weights are removed. A command
that fails part-way leaves either the old variant or nothing, never half a variant.

Nothing is registered on `import zoo`: commands that take model names call
`load_saved_variants(folder)` (see `bench.model_args`). A spec that cannot be read is
skipped with a warning instead of breaking the command. This module imports torch only
where weights are read or written, so listing saved variants stays cheap.
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
from typing import TYPE_CHECKING, Any

from zoo.meta import ModelMeta, Reported
from zoo.papers import DEPGRAPH, LRPET
from zoo.registry import get_entry, has_builder, list_models, register_variant, unregister_model

if TYPE_CHECKING:
    import torch
    import torch.nn as nn

ENV_VAR = "ZOOBENCH_VARIANTS"
DEFAULT_DIR = Path("bench-out") / "variants"
SPEC_FORMAT = 1
KINDS = ("pruned", "lowrank")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$")



def _width_attrs_by_type() -> tuple[tuple[type, tuple[str, ...]], ...]:
    """Width attributes of the layer types a structural pruner resizes."""
    import torch.nn as nn

    return (
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
        try:
            spec = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:  # a missing required field
            raise ValueError(str(exc).replace("__init__() ", "")) from None
        for attr, kind in (("parent", str), ("method", dict), ("resized", dict), ("lowrank_ranks", dict),
                           ("costs", dict), ("weights", str), ("weights_sha256", str)):
            if not isinstance(getattr(spec, attr), kind):
                raise ValueError(f"field {attr!r} must be a {kind.__name__}")
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
    for cls, names in _width_attrs_by_type():
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
    import torch
    import torch.nn as nn

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
    import torch

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
    import torch

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


class SavedVariantBuilder:
    """Builder of a saved variant: rebuilds it from its spec and weights file on each call.

    A class rather than a closure so that it pickles: worker processes (`bench costs --jobs`)
    re-register the parent process's saved variants from these (`saved_variant_specs`).
    """

    def __init__(self, spec: DerivedSpec, folder: Path) -> None:
        self.spec, self.folder = spec, folder
        self.__name__ = spec.name

    def __call__(self, **overrides) -> nn.Module:
        if overrides:
            raise TypeError(f"derived variant '{self.spec.name}' takes no build overrides ({', '.join(overrides)})")
        return rebuild(self.spec, load_weights(self.spec, self.folder))


def register_spec(spec: DerivedSpec, folder: Path | None = None, replace: bool = False) -> None:
    """Register a saved variant; its builder rebuilds it from disk on each call."""
    folder = folder or variants_dir()
    meta = derived_meta(spec)
    if replace and spec.name in list_models(tag="derived"):
        unregister_model(spec.name)
    register_variant(spec.name, SavedVariantBuilder(spec, folder), meta)


def _registered_spec(name: str) -> tuple[DerivedSpec, Path] | None:
    """(spec, folder) of saved variant `name` if it is registered, else None."""
    if name not in list_models(tag="derived") or not has_builder(name):
        return None
    builder = get_entry(name).builder
    return (builder.spec, builder.folder) if isinstance(builder, SavedVariantBuilder) else None


def scan_saved_variants(folder: Path | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """Register every readable spec in `folder`: (names available from it, [(file or name, why skipped)]).

    Emits no warning (callers decide how to report the skipped ones). A spec whose parent is
    itself a derived variant is registered once that parent is. Loading the same folder twice
    is harmless: a variant already registered from the same spec is kept, a changed one replaced.
    """
    folder = Path(folder or variants_dir())
    if not folder.is_dir():
        return [], []
    pending: dict[str, DerivedSpec] = {}
    skipped: list[tuple[str, str]] = []
    for path in sorted(folder.glob("*.json")):
        try:
            spec = read_spec(path)
            if path.stem != spec.name:
                raise ValueError(f"file name does not match variant name {spec.name!r}")
            pending[spec.name] = spec
        except ValueError as exc:
            skipped.append((str(path), str(exc)))
    available: list[str] = []
    known = set(list_models())
    while pending:
        ready = [s for s in pending.values() if s.parent in known]
        if not ready:
            break
        for spec in ready:
            del pending[spec.name]
            current = _registered_spec(spec.name)
            if spec.name in known and current is None:
                skipped.append((spec.name, "name already registered"))
                continue
            if current is not None and current == (spec, folder):
                available.append(spec.name)
                continue
            try:
                register_spec(spec, folder, replace=True)
            except (ValueError, TypeError, AttributeError, KeyError) as exc:  # a spec is data: never fatal
                skipped.append((spec.name, f"cannot register: {exc}"))
                continue
            known.add(spec.name)
            available.append(spec.name)
    skipped += [(s.name, f"parent '{s.parent}' is not registered") for s in pending.values()]
    return available, skipped


def load_saved_variants(folder: Path | None = None) -> list[str]:
    """Register every readable spec in `folder` (see `scan_saved_variants`); warns once per skipped spec."""
    available, skipped = scan_saved_variants(folder)
    for what, why in skipped:
        warnings.warn(f"zoobench: skipping derived variant {what}: {why}", stacklevel=2)
    return available


def saved_variant_specs(names: list[str]) -> list[tuple[DerivedSpec, Path]]:
    """(spec, folder) of the saved variants among `names` and of their saved ancestors, parents first."""
    out: list[tuple[DerivedSpec, Path]] = []

    def add(name: str) -> None:
        found = _registered_spec(name)
        if found is None or found in out:
            return
        add(found[0].parent)
        out.append(found)

    for name in names:
        add(name)
    return out


def register_saved_specs(specs: list[tuple[DerivedSpec, Path]]) -> None:
    """Register `saved_variant_specs(...)` output in another process (parents first, replacing)."""
    for spec, folder in specs:
        register_spec(spec, folder, replace=True)
