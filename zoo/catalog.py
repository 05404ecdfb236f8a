"""The zoo catalog: every code-defined variant's name, metadata and family module, committed.

`import zoo` must be cheap (`bench zoo list` should not import torch, timm or torchvision), but
the family modules define their variants next to the `nn.Module` code. So the registry is
filled from `zoo/catalog.json`, a generated copy of what the family modules register, and a
family module is imported only when one of its variants is built (see `ModelEntry.builder`).

The catalog is a cache, never a second source of truth: it records a fingerprint of the
code it was generated from (every `.py` file under `zoo/` plus the timm and torchvision
versions, since some metadata is read from those libraries). When the fingerprint does not
match, or ZOOBENCH_ZOO_FROM_SOURCE=1 is set, `import zoo` imports the family modules
instead, exactly as before, only slower. `tests/test_zoo_catalog.py` fails while the
catalog is stale; regenerate it with `bench zoo catalog --update` (`bench costs --update` does too).

Adding a family: write its module under zoo/ (discovered by name, see FAMILY_MODULES), then
regenerate the declared-costs table and this catalog with `bench costs --update`.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from zoo.meta import ModelMeta, Paper, Reported
from zoo.registry import all_entries, declare_variant, has_builder, unregister_model

CATALOG_PATH = Path(__file__).resolve().parent / "catalog.json"
FROM_SOURCE_ENV = "ZOOBENCH_ZOO_FROM_SOURCE"
CATALOG_FORMAT = 1
# Every module directly under zoo/ is a family module except this infrastructure. Discovered,
# not listed, so a new family is its module plus the regenerated tables (no list to edit). A family
# that needs another family's variants registered at import imports that module itself.
INFRASTRUCTURE_MODULES = frozenset({"catalog", "derived", "meta", "papers", "registry", "sources"})


def _discover_family_modules() -> tuple[str, ...]:
    names = sorted(info.name for info in pkgutil.iter_modules([str(Path(__file__).resolve().parent)])
                   if not info.ispkg and not info.name.startswith("_") and info.name not in INFRASTRUCTURE_MODULES)
    return tuple(f"zoo.{name}" for name in names)


FAMILY_MODULES = _discover_family_modules()
# Libraries whose installed version shows up in metadata (notes, torchvision weights meta).
METADATA_LIBRARIES = ("timm", "torchvision")


def fingerprint(root: Path = CATALOG_PATH.parent) -> str:
    """SHA-256 over the zoo's Python sources and the versions of METADATA_LIBRARIES."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for lib in METADATA_LIBRARIES:
        try:
            version = metadata.version(lib)
        except metadata.PackageNotFoundError:
            version = "absent"
        h.update(f"{lib}=={version}\0".encode())
    return h.hexdigest()


def meta_from_dict(data: dict[str, Any]) -> ModelMeta:
    """The ModelMeta that `ModelMeta.to_dict()` produced `data` from (JSON lists back to tuples)."""
    data = dict(data)
    data["paper"] = Paper(**data["paper"])
    data["reported"] = Reported(**data["reported"])
    data["also_reported"] = tuple(Reported(**r) for r in data.get("also_reported", ()))
    data["input_size"] = tuple(data["input_size"])
    data["tags"] = tuple(data["tags"])
    return ModelMeta(**data)


def generate() -> dict[str, Any]:
    """The catalog of what the family modules register (imports every family module)."""
    for module in FAMILY_MODULES:
        importlib.import_module(module)
    # a declared name no family registered any more is stale: drop it so it is not listed
    for entry in all_entries():
        if entry.module in FAMILY_MODULES and not has_builder(entry.name):
            unregister_model(entry.name)
    models = [{"name": e.name, "module": e.module, "meta": asdict(e.meta)}
              for e in all_entries() if e.module in FAMILY_MODULES]
    return {"format": CATALOG_FORMAT, "fingerprint": fingerprint(), "models": models}


def write(path: Path = CATALOG_PATH) -> Path:
    """Regenerate the catalog file (atomically); returns its path."""
    data = generate()
    # one model per line: a change to one variant is a one-line diff
    rows = ",\n".join(json.dumps(m, sort_keys=True) for m in data["models"])
    text = (f'{{"format": {data["format"]}, "fingerprint": "{data["fingerprint"]}", "models": [\n{rows}\n]}}\n')
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def load_current(path: Path = CATALOG_PATH) -> dict[str, Any] | None:
    """The catalog if it is readable and matches the code's fingerprint, else None."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != CATALOG_FORMAT or data.get("fingerprint") != fingerprint():
        return None
    return data


def register_families() -> str:
    """Fill the registry with every code-defined variant; returns how: "catalog" or "source"."""
    data = None if os.environ.get(FROM_SOURCE_ENV) == "1" else load_current()
    if data is None:
        for module in FAMILY_MODULES:
            importlib.import_module(module)
        return "source"
    for row in data["models"]:
        declare_variant(row["name"], row["module"], meta_from_dict(row["meta"]))
    return "catalog"

