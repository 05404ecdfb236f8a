"""The user's evaluation data: CIFAR python batches or an ImageFolder, via torchvision datasets.

A data spec is `KIND:DIR` with KIND one of `cifar10`, `cifar100` (the official python-batch
format: DIR is the `cifar-10-batches-py` / `cifar-100-python` folder or its parent; the test
split is read) or `imagefolder` (DIR/CLASS/IMAGE, classes sorted by name as torchvision does).

Preprocessing is timm's eval transform (`resolve_data_config` + `create_transform`) with the
model's own data config where it has one (timm models' `pretrained_cfg`), else defaults for the
zoo variant's dataset (CIFAR: 32 px, crop_pct 1, CIFAR-10 mean/std; ImageNet: timm's defaults).

The dataset fingerprint hashes the file list with sizes (and, for the CIFAR batch files,
their contents) and the image count, so a stored accuracy names exactly which data it was on.
"""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError

KINDS = ("cifar10", "cifar100", "imagefolder")
# torchvision's folder names and files of the official python-batch releases (test split only)
_CIFAR_LAYOUT = {
    "cifar10": dict(base="cifar-10-batches-py", test="test_batch", meta="batches.meta", key="label_names"),
    "cifar100": dict(base="cifar-100-python", test="test", meta="meta", key="fine_label_names"),
}
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class DataSpec:
    """A parsed `KIND:DIR` argument."""

    kind: str
    path: Path

    def __str__(self) -> str:
        return f"{self.kind}:{self.path}"


def parse_data_spec(text: str) -> DataSpec:
    """`cifar10:DIR` -> DataSpec; BenchError on an unknown kind or a missing folder."""
    kind, sep, folder = text.partition(":")
    if not sep or kind not in KINDS or not folder:
        raise BenchError(f"--data must be KIND:DIR with KIND one of {', '.join(KINDS)}, got '{text}'")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise BenchError(f"data folder '{path}' does not exist or is not a folder")
    return DataSpec(kind, path)


def _cifar_folder(spec: DataSpec) -> Path:
    """The folder that holds the batch files: DIR itself or DIR/<official folder name>."""
    layout = _CIFAR_LAYOUT[spec.kind]
    for folder in (spec.path, spec.path / layout["base"]):
        if (folder / layout["test"]).is_file():
            return folder
    raise BenchError(f"'{spec.path}' is not a {spec.kind} python-batch folder: no '{layout['test']}' file in it or "
                     f"in {layout['base']}/")


# What the official batch files (and numpy-array pickles in general) need, and nothing that runs code.
_SAFE_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                 ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                 ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"), ("builtins", "bytearray")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a data batch")
        return super().find_class(module, name)


def check_pickle_safe(path: Path) -> None:
    """BenchError unless `path` unpickles with plain data and numpy arrays only.

    torchvision reads CIFAR batches with `pickle.load`, which would run any code a crafted file
    names; this pass refuses such files before torchvision opens them.
    """
    try:
        with path.open("rb") as fh:
            _SafeUnpickler(fh, encoding="latin1").load()
    except Exception as exc:  # noqa: BLE001 - truncated, foreign or code-carrying: one user error
        raise BenchError(f"'{path}' is not a plain python-batch pickle ({type(exc).__name__}: {str(exc)[:120]})") \
            from None


def _cifar_dataset(spec: DataSpec, transform):
    """torchvision's CIFAR10/CIFAR100 reading the test batch of the user's folder.

    torchvision checks the official release's MD5 sums; a user's re-packed or subset batch
    files would fail that, so the subclass checks presence only (the fingerprint records
    which files they were).
    """
    from torchvision.datasets import CIFAR10, CIFAR100

    layout = _CIFAR_LAYOUT[spec.kind]
    folder = _cifar_folder(spec)
    if not (folder / layout["meta"]).is_file():
        raise BenchError(f"'{folder}' has no '{layout['meta']}' file (class names of the python-batch format)")
    for name in (layout["test"], layout["meta"]):
        check_pickle_safe(folder / name)
    base = CIFAR10 if spec.kind == "cifar10" else CIFAR100
    local = type(f"User{base.__name__}", (base,), dict(
        base_folder=folder.name, train_list=[], test_list=[[layout["test"], None]],
        meta=dict(filename=layout["meta"], key=layout["key"], md5=None)))
    try:
        return local(str(folder.parent), train=False, transform=transform, download=False)
    except Exception as exc:  # noqa: BLE001 - unpickling errors, missing keys, bad shapes: all one user error
        raise BenchError(f"'{folder}' is not a readable {spec.kind} python-batch folder "
                         f"({type(exc).__name__}: {str(exc)[:120]})") from None


def _imagefolder_dataset(spec: DataSpec, transform):
    from torchvision.datasets import ImageFolder

    try:
        return ImageFolder(str(spec.path), transform=transform)
    except (FileNotFoundError, OSError) as exc:
        raise BenchError(f"'{spec.path}' is not an ImageFolder (DIR/CLASS/IMAGE): {str(exc).splitlines()[0][:160]}") \
            from None


def open_dataset(spec: DataSpec, transform=None):
    """The torchvision dataset for `spec` (images as PIL, labels as int), or BenchError."""
    ds = _cifar_dataset(spec, transform) if spec.kind in _CIFAR_LAYOUT else _imagefolder_dataset(spec, transform)
    if len(ds) == 0:
        raise BenchError(f"data folder '{spec.path}' holds no images")
    return ds


def class_names(dataset) -> list[str]:
    """The dataset's class names in label order."""
    return list(dataset.classes)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def dataset_fingerprint(spec: DataSpec, dataset) -> str:
    """SHA-256 over the kind, the file list (relative path, size; CIFAR files: content hash) and the count."""
    h = hashlib.sha256()
    h.update(f"{spec.kind}\n".encode())
    if spec.kind in _CIFAR_LAYOUT:
        layout = _CIFAR_LAYOUT[spec.kind]
        folder = _cifar_folder(spec)
        for name in (layout["test"], layout["meta"]):
            path = folder / name
            h.update(f"{name}\t{path.stat().st_size}\t{_sha256_file(path)}\n".encode())
    else:
        root = spec.path
        for file, label in sorted(dataset.samples):
            h.update(f"{Path(file).relative_to(root).as_posix()}\t{Path(file).stat().st_size}\t{label}\n".encode())
    h.update(f"count={len(dataset)}\n".encode())
    return h.hexdigest()


def data_config(model, meta=None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """timm's eval data config for `model` (input_size, interpolation, mean, std, crop_pct, crop_mode).

    A model with a timm `pretrained_cfg` keeps its own; a zoo variant gets its dataset's
    defaults. `overrides` (keys as timm's args: mean, std, crop_pct, interpolation) win.
    """
    from timm.data import resolve_data_config

    own = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None)
    if own:
        cfg = dict(own)
    elif meta is not None and meta.dataset.startswith("cifar"):
        cfg = dict(input_size=tuple(meta.input_size), interpolation="bilinear", mean=CIFAR_MEAN, std=CIFAR_STD,
                   crop_pct=1.0, crop_mode="center")
    else:
        cfg = dict(input_size=tuple(meta.input_size) if meta is not None else (3, 224, 224))
    args = {k: v for k, v in (overrides or {}).items() if v is not None}
    return resolve_data_config(args=args, pretrained_cfg=cfg)


def eval_transform(config: dict[str, Any]):
    """timm's eval transform (resize, center crop, to tensor, normalize) for a data config."""
    from timm.data import create_transform

    return create_transform(**config, is_training=False)
