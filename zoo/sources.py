"""Model sources: models from outside the zoo, registered as variants under their spec.

A spec names a model the zoo does not define:
- `timm:NAME` (fnmatch wildcards allowed: `timm:efficientnet_b*`), any `timm.list_models()` name;
- `torchvision:NAME` or `tv:NAME`, any torchvision classification builder;
- `PATH.py:NAME[?key=value&...]`, an `nn.Module` class or factory function in a Python file
  (values are parsed as Python literals where they can be, else kept as strings). Loading the
  file RUNS ITS CODE, as pytest does with test files;
- `PATH.pt2`, a `torch.export.ExportedProgram` saved with `torch.export.save` (no pickle).

`resolve_source(spec, ...)` registers each model it names as a zoo variant whose name is the
spec itself (so results, costs and reports treat it like a zoo model) and records where it came
from (`source_of(name)`: library and version, or file path and SHA-256). Nothing is downloaded.
Errors are `SourceError` with a one-line message.
"""
from __future__ import annotations

import ast
import difflib
import fnmatch
import hashlib
import importlib.util
import inspect
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from zoo.meta import ModelMeta, Paper, Reported
from zoo.registry import _REGISTRY, register_variant

if TYPE_CHECKING:
    import torch.nn as nn

LIBRARY_PREFIXES = {"timm:": "timm", "torchvision:": "torchvision", "tv:": "torchvision"}
USER_FAMILY = "user"
USER_REPORTED = "user-reported (--top1)"


class SourceError(ValueError):
    """A model source that cannot be used; str() is one line."""


@dataclass(frozen=True)
class SourceInfo:
    """Where a user model comes from: enough to rebuild it and to tell two versions apart."""

    kind: str  # timm | torchvision | file | exported
    spec: str
    library_version: str | None = None
    path: str | None = None
    sha256: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    user_top1: float | None = None
    user_dataset: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (stored with each result)."""
        return asdict(self)

    def text(self) -> str:
        """One line: library and version, or file and hash."""
        if self.library_version:
            return f"{self.kind} {self.library_version}"
        return f"{self.path} sha256:{(self.sha256 or '')[:16]}"


_SOURCES: dict[str, SourceInfo] = {}  # registered variant name -> its source


def is_source_spec(spec: str) -> bool:
    """True when `spec` names a model source rather than a zoo name or wildcard."""
    s = spec.strip()
    return s.startswith(tuple(LIBRARY_PREFIXES)) or s.endswith(".pt2") or ".py:" in s


def source_of(name: str) -> SourceInfo | None:
    """The source a registered user model came from (None for zoo variants)."""
    return _SOURCES.get(name)


def parse_input_size(text: str | tuple | list | None) -> tuple[int, int, int] | None:
    """`3x224x224` (or a 3-tuple) -> (C, H, W); SourceError when malformed."""
    if text is None or text == "":
        return None
    if isinstance(text, (tuple, list)):
        parts = list(text)
    else:
        parts = str(text).lower().replace("×", "x").split("x")
    try:
        size = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise SourceError(f"malformed input size '{text}'; expected CxHxW, e.g. 3x224x224") from None
    if len(size) != 3 or min(size) < 1:
        raise SourceError(f"malformed input size '{text}'; expected CxHxW with three positive integers, "
                          "e.g. 3x224x224")
    return size  # type: ignore[return-value]


def resolve_source(spec: str, *, input_size: tuple[int, int, int] | str | None = None,
                   top1: float | None = None, dataset: str | None = None) -> list[str]:
    """Register the model(s) `spec` names as variants (once per process); returns their names.

    `input_size` overrides the library's configuration and is required for files; `top1`
    (with `dataset`) attaches a user-reported accuracy, labelled as such.
    """
    spec = spec.strip()
    size = parse_input_size(input_size)
    for prefix, lib in LIBRARY_PREFIXES.items():
        if spec.startswith(prefix):
            name = spec[len(prefix):]
            if not name:
                raise SourceError(f"'{spec}' names no model; expected {prefix}NAME")
            short = "tv:" if lib == "torchvision" else "timm:"
            names = _timm_names(name) if lib == "timm" else _torchvision_names(name)
            out = []
            for n in names:
                var = short + n
                if var not in _REGISTRY:
                    (_register_timm if lib == "timm" else _register_torchvision)(var, n, size, top1, dataset)
                out.append(var)
            return out
    if spec.endswith(".pt2"):
        if spec not in _REGISTRY:
            _register_exported(spec, size, top1, dataset)
        return [spec]
    if ".py:" in spec:
        if spec not in _REGISTRY:
            _register_file(spec, size, top1, dataset)
        return [spec]
    raise SourceError(f"'{spec}' is not a model source (timm:NAME, tv:NAME, PATH.py:NAME, PATH.pt2)")


def _meta(family: str, title: str, size: tuple[int, int, int], num_classes: int, top1, dataset,
          notes: str, fallback: Reported | None = None, deploy: str = "fold_bn",
          default_dataset: str = "unknown") -> ModelMeta:
    ds = dataset or default_dataset
    reported = fallback or Reported()
    if top1 is not None:  # the user's number replaces the library's, and says whose it is
        reported = Reported(top1=float(top1), source=USER_REPORTED, note=f"dataset: {ds}")
    return ModelMeta(family=family, paper=Paper(title=title, year=0), dataset=ds, input_size=size,
                     num_classes=num_classes, deploy=deploy, reported=reported,
                     tags=("user",), notes=notes)


def _close(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


# -- timm ---------------------------------------------------------------------------------
def _timm_names(pattern: str) -> list[str]:
    import timm

    if any(ch in pattern for ch in "*?["):
        hits = timm.list_models(pattern)
        if not hits:
            raise SourceError(f"pattern 'timm:{pattern}' matches no timm model")
        return hits
    if not timm.is_model(pattern):
        raise SourceError(f"unknown timm model '{pattern}'{_close(pattern, timm.list_models())}")
    return [pattern]


def _register_timm(var: str, name: str, size, top1, dataset) -> None:
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    lib_size = tuple(cfg.input_size) if cfg is not None and cfg.input_size else None
    size = size or lib_size or (3, 224, 224)
    classes = int(cfg.num_classes) if cfg is not None and cfg.num_classes else 1000

    def build(**kw) -> "nn.Module":
        return timm.create_model(name, pretrained=False, **kw)

    build.__name__ = var
    meta = _meta("timm", f"timm {name}", size, classes, top1, dataset,
                 notes=f"definition: timm {timm.__version__}", deploy="reparameterize", default_dataset="imagenet")
    register_variant(var, build, meta)
    _SOURCES[var] = SourceInfo("timm", var, library_version=timm.__version__, user_top1=top1, user_dataset=dataset)


# -- torchvision ----------------------------------------------------------------------------
def _torchvision_names(pattern: str) -> list[str]:
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)  # classification builders only
    if any(ch in pattern for ch in "*?["):
        hits = [n for n in known if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise SourceError(f"pattern 'tv:{pattern}' matches no torchvision classification model")
        return hits
    if pattern not in known:
        raise SourceError(f"unknown torchvision classification model '{pattern}'{_close(pattern, known)}")
    return [pattern]


def _register_torchvision(var: str, name: str, size, top1, dataset) -> None:
    import torchvision

    from zoo.external import torchvision_reported

    try:
        lib_reported = torchvision_reported(name)
    except Exception:  # noqa: BLE001 - a builder without weights metadata has no reported numbers
        lib_reported = None

    def build(**kw) -> "nn.Module":
        return torchvision.models.get_model(name, weights=None, **kw)

    build.__name__ = var
    # torchvision's classification models take any input >= their minimum; 224 is their training size
    meta = _meta("torchvision", f"torchvision {name}", size or (3, 224, 224), 1000, top1, dataset,
                 notes=f"definition: torchvision {torchvision.__version__}", fallback=lib_reported,
                 default_dataset="imagenet")
    register_variant(var, build, meta)
    _SOURCES[var] = SourceInfo("torchvision", var, library_version=torchvision.__version__, user_top1=top1,
                               user_dataset=dataset)


# -- files ----------------------------------------------------------------------------------
def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _parse_kwargs(query: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        if not eq or not key.isidentifier():
            raise SourceError(f"malformed model argument '{part}'; expected key=value (PATH.py:NAME?k=v&k2=v2)")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def _import_file(path: Path, digest: str):
    # keyed by content: an edited file is imported afresh, an unchanged one once
    mod_name = f"zoobench_user_{path.stem}_{digest[:12]}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise SourceError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - the user's code may raise anything, SystemExit included
        del sys.modules[mod_name]
        first = (str(exc).strip().splitlines() or [""])[0]
        raise SourceError(f"importing {path} failed: {type(exc).__name__}: {first}") from None
    return module


def _builder_in(module, path: Path, name: str, kwargs: dict[str, Any]) -> Callable[[], "nn.Module"]:
    import torch.nn as nn

    obj = getattr(module, name, None)
    if obj is None:
        found = sorted(k for k, v in vars(module).items() if not k.startswith("_") and (
            (inspect.isclass(v) and issubclass(v, nn.Module)) or inspect.isfunction(v))
            and getattr(v, "__module__", None) == module.__name__)
        hint = f"; it defines {', '.join(found)}" if found else ""
        raise SourceError(f"{path} has no '{name}'{hint}")
    if not (inspect.isclass(obj) and issubclass(obj, nn.Module)) and not inspect.isfunction(obj):
        raise SourceError(f"'{name}' in {path} is neither an nn.Module class nor a factory function")
    try:
        inspect.signature(obj).bind(**kwargs)
    except TypeError as exc:
        raise SourceError(f"'{name}' in {path} cannot be called with {kwargs or 'no arguments'}: {exc} "
                          "(pass them as PATH.py:NAME?key=value&...)") from None
    except ValueError:  # no signature available: find out by calling
        pass

    def build(**kw) -> nn.Module:
        model = obj(**{**kwargs, **kw})
        if not isinstance(model, nn.Module):
            raise SourceError(f"'{name}' in {path} returned {type(model).__name__}, not an nn.Module")
        return model

    return build


def _check_output(var: str, model: "nn.Module", size) -> None:
    import torch

    try:
        with torch.inference_mode():
            out = model.eval()(torch.randn(1, *size, generator=torch.Generator().manual_seed(0)))
    except Exception as exc:  # noqa: BLE001 - the user's forward may raise anything
        first = (str(exc).strip().splitlines() or [""])[0]
        raise SourceError(f"{var}: forward on a 1x{'x'.join(map(str, size))} input failed: "
                          f"{type(exc).__name__}: {first}"[:300]) from None
    if not isinstance(out, torch.Tensor):
        raise SourceError(f"{var}: the model's output is a {type(out).__name__}, not a tensor")


def _register_file(spec: str, size, top1, dataset) -> None:
    file_part, _, rest = spec.partition(".py:")
    path = Path(file_part + ".py")
    name, _, query = rest.partition("?")
    if not path.is_file():
        raise SourceError(f"model file {path} not found")
    if not name.isidentifier():
        raise SourceError(f"'{spec}': '{name}' is not a Python name; expected PATH.py:NAME")
    kwargs = _parse_kwargs(query)
    path = path.resolve()
    digest = file_sha256(path)
    build = _builder_in(_import_file(path, digest), path, name, kwargs)
    if size is None:
        raise SourceError(f"{spec}: give the input size with --input-size CxHxW (e.g. 3x32x32); "
                          "a model file has no configuration to read it from")
    try:
        model = build()
    except SourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's constructor may raise anything
        first = (str(exc).strip().splitlines() or [""])[0]
        raise SourceError(f"building '{name}' from {path} failed: {type(exc).__name__}: {first}"[:300]) from None
    _check_output(spec, model, size)
    build.__name__ = spec
    meta = _meta(USER_FAMILY, f"{path.name}:{name}", size, 0, top1, dataset,
                 notes=f"file {path} sha256 {digest}", deploy="reparameterize")
    register_variant(spec, build, meta)
    _SOURCES[spec] = SourceInfo("file", spec, path=str(path), sha256=digest, kwargs=kwargs, user_top1=top1,
                                user_dataset=dataset)


# -- exported programs ------------------------------------------------------------------------
def _exported_model_class():
    import torch.nn as nn

    class ExportedModel(nn.Module):
        """An ExportedProgram's module; its graph is fixed, so train()/eval() only set the flag
        (the exported module refuses eval())."""

        def __init__(self, program: nn.Module) -> None:
            super().__init__()
            self.program = program

        def train(self, mode: bool = True) -> "ExportedModel":  # type: ignore[override]
            self.training = mode
            return self

        def forward(self, x):
            return self.program(x)

    return ExportedModel


def exported_batch_ok(name: str, batch: int) -> str | None:
    """None if exported model `name` accepts `batch` images, else why not (one line)."""
    import torch

    info = _SOURCES.get(name)
    if info is None or info.kind != "exported":
        return None
    entry = _REGISTRY[name]
    model = entry.build()
    try:
        with torch.inference_mode():
            model(torch.zeros(batch, *entry.meta.input_size))
    except Exception as exc:  # noqa: BLE001 - a shape guard raises AssertionError or RuntimeError
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"{name} does not accept batch {batch} (its exported shapes: {first})"[:300]
    return None


def _register_exported(spec: str, size, top1, dataset) -> None:
    import torch

    path = Path(spec)
    if not path.is_file():
        raise SourceError(f"exported program {path} not found")
    path = path.resolve()
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file
        first = (str(exc).strip().splitlines() or [""])[0]
        raise SourceError(f"cannot load {path} with torch.export.load: {type(exc).__name__}: {first}"[:300]) from None
    user_inputs = list(program.graph_signature.user_inputs)
    if len(user_inputs) != 1:
        raise SourceError(f"{path} takes {len(user_inputs)} inputs; only single-tensor models are supported")
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == user_inputs[0])
    shape = node.meta["val"].shape
    if size is None:
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:]):
            raise SourceError(f"{path}: its input shape {tuple(shape)} is not NxCxHxW with fixed C, H, W; "
                              "give --input-size CxHxW")
        size = tuple(int(d) for d in shape[1:])
    digest = file_sha256(path)
    wrapper = _exported_model_class()

    def build(**kw) -> "torch.nn.Module":
        return wrapper(torch.export.load(str(path)).module())

    build.__name__ = spec
    meta = _meta(USER_FAMILY, path.name, size, 0, top1, dataset, notes=f"file {path} sha256 {digest}",
                 deploy="none")
    register_variant(spec, build, meta)
    _SOURCES[spec] = SourceInfo("exported", spec, path=str(path), sha256=digest, user_top1=top1,
                                user_dataset=dataset)


def unregister_source(name: str) -> None:
    """Forget a registered user model (tests; a notebook replacing a file)."""
    from zoo.registry import unregister_model

    unregister_model(name)
    _SOURCES.pop(name, None)


def register_module(name: str, model: "nn.Module", input_size: tuple[int, int, int] | str, *,
                    top1: float | None = None, dataset: str | None = None) -> str:
    """Register an in-memory `nn.Module` (the Python API) as user variant `name`; returns the name.

    Its source records the class and the file defining it (with that file's SHA-256 where it
    exists). Registering the same name again replaces the earlier module.
    """
    import copy

    size = parse_input_size(input_size)
    if size is None:
        raise SourceError(f"{name}: an nn.Module needs an input size (or an example tensor)")
    if name in _REGISTRY and name not in _SOURCES:
        raise SourceError(f"'{name}' is a zoo model; give your module another name")
    unregister_source(name)
    cls = type(model)
    try:
        file = inspect.getsourcefile(cls)
    except TypeError:  # a built-in class: no file to hash
        file = None
    digest = file_sha256(Path(file)) if file and Path(file).is_file() else None
    frozen = copy.deepcopy(model)  # later edits of the caller's object do not change what is measured

    def build(**kw) -> "nn.Module":
        return copy.deepcopy(frozen)

    build.__name__ = name
    meta = _meta(USER_FAMILY, f"{cls.__module__}.{cls.__qualname__}", size, 0, top1, dataset,
                 notes=f"in-memory module {cls.__module__}.{cls.__qualname__}", deploy="reparameterize")
    register_variant(name, build, meta)
    _SOURCES[name] = SourceInfo("module", f"{cls.__module__}.{cls.__qualname__}", path=file, sha256=digest,
                                user_top1=top1, user_dataset=dataset)
    return name
