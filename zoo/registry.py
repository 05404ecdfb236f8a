"""Registry of zoo variants keyed by builder function name (timm style).

A builder is a plain function returning an `nn.Module`; `register_model(meta)` records it
under its own name with frozen `ModelMeta`. Registering a name twice is an error, so two
families can never silently shadow each other.

Names and metadata can also be *declared* before their builder exists (`declare_variant`,
used by `zoo.catalog` so that `import zoo` needs neither torch nor timm): a declared entry
records the module whose import registers its builder, and the first build imports it.
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from zoo.meta import ModelMeta

if TYPE_CHECKING:  # torch is imported by builders only: listing names must not pay for it
    import torch.nn as nn


class UnknownModelError(KeyError):
    """Raised for a model name that is not registered; str() is a one-line message."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class ModelEntry:
    """A registered variant: its name, metadata and the module that registers its builder."""

    name: str
    meta: ModelMeta
    module: str

    @property
    def builder(self) -> Callable[..., "nn.Module"]:
        """The builder; a declared entry's module is imported on first use (it registers the builder)."""
        if self.name not in _BUILDERS:
            importlib.import_module(self.module)
            if self.name not in _BUILDERS:
                raise RuntimeError(f"importing {self.module} did not register model '{self.name}' "
                                   "(stale zoo catalog? run `bench zoo catalog --update`)")
        return _BUILDERS[self.name]

    def build(self, **overrides) -> "nn.Module":
        """Build the model in its train form (random weights)."""
        return self.builder(**overrides)


_REGISTRY: dict[str, ModelEntry] = {}
_BUILDERS: dict[str, Callable[..., "nn.Module"]] = {}  # name -> builder, for entries whose module is imported


def register_model(meta: ModelMeta) -> Callable[[Callable[..., "nn.Module"]], Callable[..., "nn.Module"]]:
    """Decorator: register `fn` under `fn.__name__` with `meta`. Duplicates raise ValueError."""

    def decorate(fn: Callable[..., "nn.Module"]) -> Callable[..., "nn.Module"]:
        register_variant(fn.__name__, fn, meta)
        return fn

    return decorate


def register_variant(name: str, builder: Callable[..., "nn.Module"], meta: ModelMeta) -> None:
    """Register `builder` under an explicit `name` (for variant tables). Duplicates raise ValueError.

    A name declared by the same module (`declare_variant`) gets its builder attached; the
    metadata the code gives wins over the declared copy.
    """
    module = getattr(builder, "__module__", None) or ""
    old = _REGISTRY.get(name)
    if old is not None and (name in _BUILDERS or old.module != module):
        raise ValueError(f"model '{name}' is already registered")
    _REGISTRY[name] = ModelEntry(name=name, meta=meta, module=module)
    _BUILDERS[name] = builder


def declare_variant(name: str, module: str, meta: ModelMeta) -> None:
    """Record `name` and its metadata before its builder: importing `module` registers the builder."""
    if name in _REGISTRY:
        raise ValueError(f"model '{name}' is already registered")
    _REGISTRY[name] = ModelEntry(name=name, meta=meta, module=module)


def all_entries() -> list[ModelEntry]:
    """Every registered entry, in registration order."""
    return list(_REGISTRY.values())


def has_builder(name: str) -> bool:
    """Whether `name`'s builder is registered (False for a declared entry whose module is not imported)."""
    return name in _BUILDERS


def unregister_model(name: str) -> None:
    """Remove a variant (used for derived variants that are deleted, and by tests)."""
    _REGISTRY.pop(name, None)
    _BUILDERS.pop(name, None)


def natural_key(name: str) -> list:
    """Sort key that orders 'p2' before 'p16' (numbers compared as numbers)."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def _as_patterns(patterns: str | Iterable[str] | None) -> list[str]:
    if patterns is None:
        return []
    if isinstance(patterns, str):
        return [p for p in patterns.split(",") if p]
    return list(patterns)


def list_models(
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    family: str | None = None,
    tag: str | None = None,
) -> list[str]:
    """Names of registered variants, naturally sorted.

    `include`/`exclude` are fnmatch wildcards (a list, or a comma-separated string); `family`
    and `tag` filter on metadata (family also accepts wildcards).
    """
    names = list(_REGISTRY)
    inc = _as_patterns(include)
    if inc:
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in inc)]
    exc = _as_patterns(exclude)
    if exc:
        names = [n for n in names if not any(fnmatch.fnmatchcase(n, p) for p in exc)]
    if family:
        names = [n for n in names if fnmatch.fnmatchcase(_REGISTRY[n].meta.family, family)]
    if tag:
        names = [n for n in names if tag in _REGISTRY[n].meta.tags]
    return sorted(names, key=natural_key)


def get_entry(name: str) -> ModelEntry:
    """The registry entry for `name`, or UnknownModelError with close matches."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `bench zoo list`"
        raise UnknownModelError(f"unknown model '{name}'{hint}") from None


def get_model(name: str, **overrides) -> "nn.Module":
    """Build variant `name` (train form, random weights); overrides go to the builder."""
    return get_entry(name).build(**overrides)


def get_meta(name: str) -> ModelMeta:
    """Metadata of variant `name`."""
    return get_entry(name).meta


def resolve_patterns(patterns: str | Iterable[str]) -> list[str]:
    """Expand wildcards to names; a pattern matching nothing raises UnknownModelError."""
    out: list[str] = []
    for pat in _as_patterns(patterns):
        if any(ch in pat for ch in "*?["):
            hits = list_models(include=pat)
            if not hits:
                raise UnknownModelError(f"pattern '{pat}' matches no model; see `bench zoo list`")
        else:
            hits = [get_entry(pat).name]
        out.extend(h for h in hits if h not in out)
    return out
