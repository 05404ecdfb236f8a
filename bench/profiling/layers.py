"""What each layer of a model is and does: op kind, shapes, MACs and bytes moved (no timing).

A *layer* is a module that runs tensor ops itself: every called leaf module, every HetConv2d
(whatever submodules its impl has), and every container whose own forward runs ops between its
children (a residual add, a concat, a flatten). The model itself is always a layer, named
"(model)", so that anything not inside another layer still has a row.

- MACs: fvcore's counts, with the op handles of `bench.costs`, split by module; each module's
  own share (its total minus its children's) goes to its nearest layer, and HetConv layers use
  the paper's formula, exactly as `bench costs` does. So the layers' MACs add up to the
  model's `macs` at this batch (batch x the `bench costs` figure).
- Bytes moved, at the dtype that runs: every top-level torch op a layer calls (seen through a
  TorchFunctionMode) reads each distinct tensor argument once (weights included) and writes
  its outputs; an op whose output is a view of an input moves nothing, an in-place op reads
  and writes its tensor. Caches are ignored: this is the traffic a roofline floor assumes.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from zoo.layers.hetconv import HetConv2d

MODEL_ROW = "(model)"

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.Sigmoid, nn.GELU, nn.Tanh,
                nn.LeakyReLU, nn.PReLU, nn.Hardtanh, nn.ELU, nn.Mish)
_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_NORMS = (nn.BatchNorm2d, nn.BatchNorm1d, nn.LayerNorm, nn.GroupNorm)
_RESHAPES = (nn.Flatten, nn.Unflatten)
# op names (dunders stripped) -> kind, for layers known only by the ops they run
_OP_KINDS = {"add": "add", "iadd": "add", "add_": "add", "sub": "add", "cat": "concat", "concat": "concat",
             "stack": "concat", "mul": "mul", "imul": "mul", "mul_": "mul", "div": "mul", "mean": "pool",
             "adaptive_avg_pool2d": "pool", "max_pool2d": "pool", "avg_pool2d": "pool", "relu": "activation",
             "relu_": "activation", "hardswish": "activation", "sigmoid": "activation", "silu": "activation",
             "hardtanh": "activation", "conv2d": "conv", "linear": "linear", "matmul": "matmul",
             "flatten": "reshape", "view": "reshape", "reshape": "reshape", "transpose": "shuffle",
             "contiguous": "copy", "chunk": "split", "split": "split", "batch_norm": "batchnorm",
             "getitem": "slice", "pad": "pad", "dropout": "identity"}


@dataclass
class Layer:
    """One layer's static facts (per forward pass at the analysed batch)."""

    path: str  # what the table shows: the module path, or "(model)"
    kind: str
    module: str = ""  # the module path ("" = the model)
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None
    calls: int = 0
    macs: int = 0
    executed_macs: int = 0
    other_ops: int = 0
    bytes: int = 0
    ops: dict[str, int] = field(default_factory=dict)

    @property
    def flops(self) -> int:
        """2 x MACs (the convention of every FLOPs column)."""
        return 2 * self.macs


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def conv_kind(mod: nn.Conv2d) -> str:
    """'conv 3x3', 'conv 1x1', 'depthwise 3x3' or 'grouped 3x3 g4'."""
    k = "x".join(str(int(v)) for v in mod.kernel_size)
    if mod.groups > 1 and mod.groups == mod.in_channels:
        return f"depthwise {k}"
    if mod.groups > 1:
        return f"grouped {k} g{mod.groups}"
    return f"conv {k}"


def module_kind(mod: nn.Module) -> str | None:
    """The op kind a module's type says, or None when only its ops can say."""
    if isinstance(mod, HetConv2d):
        return f"hetconv {mod.kernel_size}x{mod.kernel_size} P{mod.part} {mod.impl}"
    if isinstance(mod, nn.Conv2d):
        return conv_kind(mod)
    for types, kind in ((nn.Linear, "linear"), (_NORMS, "batchnorm"), (_ACTIVATIONS, "activation"),
                        (_POOLS, "pool"), (_RESHAPES, "reshape"),
                        ((nn.Identity, nn.Dropout), "identity")):
        if isinstance(mod, types):
            return kind
    if "shuffle" in type(mod).__name__.lower():
        return "shuffle"
    return None


def ops_kind(ops: dict[str, int]) -> str:
    """A kind from the op names a layer ran ('add', 'concat', 'reshape+add', ...)."""
    kinds = sorted({_OP_KINDS.get(name, name) for name in ops})
    return "+".join(kinds) if kinds else "dispatch"


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _storage(t: torch.Tensor) -> int:
    try:
        return t.untyped_storage().data_ptr()
    except RuntimeError:  # tensors without storage (meta, some wrappers) alias nothing we can see
        return -id(t)


def op_name(func: Callable) -> str:
    """'add' for torch.add, Tensor.add and Tensor.__add__; 'iadd' for +=."""
    name = getattr(func, "__name__", str(func))
    return name[2:-2] if name.startswith("__") and name.endswith("__") else name


def op_bytes(name: str, args: tuple, kwargs: dict, out: Any) -> int:
    """Bytes one top-level op moves: distinct tensor inputs read once, outputs written; views 0."""
    inputs = {id(t): t for t in _tensors((args, kwargs))}
    outputs = _tensors(out)
    if not outputs:
        return 0
    in_storages = {_storage(t) for t in inputs.values()}
    inplace = (name.endswith("_") or name.startswith("i") and name[1:] in _OP_KINDS
               or kwargs.get("inplace") is True or any(a is True for a in args))
    moved = 0
    wrote_any = False
    for o in outputs:
        if _storage(o) in in_storages and not (inplace and id(o) in inputs):
            continue  # a view (or a no-op .contiguous()) of an input: no traffic
        moved += _nbytes(o)
        wrote_any = True
    return moved + sum(_nbytes(t) for t in inputs.values()) if wrote_any else 0


class _OpRecorder(TorchFunctionMode):
    """Charges each top-level torch op (name, bytes) to the innermost module running."""

    def __init__(self, stack: list[str]) -> None:
        super().__init__()
        self.stack = stack
        self.ops: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.bytes: dict[str, int] = defaultdict(int)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.stack and _tensors(out):
            name = op_name(func)
            if name not in ("__get__", "size", "dim", "numel"):
                where = self.stack[-1]
                self.ops[where][name] += 1
                self.bytes[where] += op_bytes(name, args, kwargs, out)
        return out


def _first_shape(obj: Any) -> tuple[int, ...] | None:
    ts = _tensors(obj)
    return tuple(int(s) for s in ts[0].shape) if ts else None


def trace_ops(model: nn.Module, run: Callable[[], Any]):
    """Run `run()` once with every module hooked: returns (ops by module, bytes by module,
    calls by module, (in_shape, out_shape) of each module's first call)."""
    stack: list[str] = []
    calls: dict[str, int] = defaultdict(int)
    shapes: dict[str, list] = {}
    hooks = []
    for path, mod in model.named_modules():
        def pre(_m, inputs, path=path):
            stack.append(path)
            calls[path] += 1  # a dict keeps first-call order: the table lists layers as they run
            shapes.setdefault(path, [_first_shape(inputs), None])

        def post(_m, _inputs, out, path=path):
            stack.pop()
            if shapes[path][1] is None:
                shapes[path][1] = _first_shape(out)

        hooks += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    recorder = _OpRecorder(stack)
    try:
        with recorder:
            run()
    finally:
        for h in hooks:
            h.remove()
    return recorder.ops, recorder.bytes, calls, shapes


def layer_paths(model: nn.Module, ops: dict[str, dict[str, int]], calls: dict[str, int]) -> list[str]:
    """Paths of the layers (module docstring), in module order; "" is the model."""
    het = [p for p, m in model.named_modules() if isinstance(m, HetConv2d)]
    out = []
    for path, mod in model.named_modules():
        if path == "":
            out.append(path)
            continue
        if calls.get(path, 0) == 0 or any(path.startswith(h + ".") for h in het):
            continue
        leaf = not any(True for _ in mod.children())
        if leaf or isinstance(mod, HetConv2d) or ops.get(path):
            out.append(path)
    return out


def owner(path: str, layers: set[str]) -> str:
    """The nearest layer at or above module `path` (the model at the latest)."""
    p = path
    while p and p not in layers:
        p = _parent(p)
    return p


def analyse(model: nn.Module, run: Callable[[], Any], example: torch.Tensor) -> list[Layer]:
    """Layers of `model` (deploy form) with kinds, shapes, MACs and bytes.

    `run` performs one forward pass of `model` as it will be timed (its dtype and layout), for
    shapes and bytes; `example` is the fp32 input fvcore counts MACs on (same batch).
    """
    from bench.costs import MAC_OPERATORS, flop_analysis

    ops, nbytes, calls, shapes = trace_ops(model, run)
    paths = sorted(layer_paths(model, ops, calls), key=list(calls).index)
    layers = {p: Layer(path=p or MODEL_ROW, kind="", module=p) for p in paths}
    modules = dict(model.named_modules())
    children = {p: [c for c in modules if c and _parent(c) == p] for p in modules}
    for path in modules:
        lay = layers[owner(path, set(layers))]
        for name, n in ops.get(path, {}).items():
            lay.ops[name] = lay.ops.get(name, 0) + n
        lay.bytes += nbytes.get(path, 0)
    flops = flop_analysis(model, example)
    by_mod = flops.by_module_and_operator()
    for path in modules:
        own: dict[str, int] = dict(by_mod.get(path, {}))
        for c in children[path]:
            for k, v in by_mod.get(c, {}).items():
                own[k] = own.get(k, 0) - v
        lay = layers[owner(path, set(layers))]
        lay.executed_macs += sum(v for k, v in own.items() if k in MAC_OPERATORS)
        lay.other_ops += sum(v for k, v in own.items() if k not in MAC_OPERATORS)
    for path, lay in layers.items():
        mod = modules[path]
        lay.calls = calls.get(path, 0)
        lay.in_shape, lay.out_shape = (tuple(shapes[path]) if path in shapes else (None, None))
        lay.macs = lay.executed_macs
        if isinstance(mod, HetConv2d) and lay.out_shape:
            # the paper's formula, as `bench costs`: structural zeros an impl executes are not MACs
            lay.macs = mod.paper_macs(lay.out_shape[-2], lay.out_shape[-1]) * lay.out_shape[0] * lay.calls
        lay.kind = (module_kind(mod) if path else None) or ops_kind(lay.ops)
        if not path:  # the model's row also holds the Python between its layers (graph code, hooks)
            lay.kind = "dispatch" if lay.kind == "dispatch" else f"{lay.kind}+dispatch"
    return list(layers.values())
