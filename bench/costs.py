"""Cost counting: MACs, params and activations of a zoo variant's deploy form.

Counting convention (printed in every header by `bench costs`):
- One multiply-add = one MAC; a column that says FLOPs means 2 * MACs.
- `macs`: conv + linear + matmul (the papers' scope), counted by fvcore on the deploy form
  (BN folded) at batch 1. HetConv layers are counted by the paper's operator formula
  H*W*N*(M*K^2/P + M - M/P): the structural zeros an implementation may execute are not MACs.
- `executed_macs`: the same scope as the deploy form's kernels execute them (structural zeros
  included), i.e. the work the chosen HetConv impl really does.
- `other_ops`: BN that could not be folded, elementwise ops (activations, adds, SE scaling) and
  pooling, one per output (elementwise) or input (pooling) element. Not MACs.
- `params`: parameters of the deploy form, HetConv structural zeros excluded.
- `activations`: output elements of conv, linear and HetConv layers (a HetConv layer counts
  its output once, whatever its impl), a proxy for memory traffic.
- Ops fvcore has no formula for are listed in `unsupported_ops`, never counted as zero silently.
"""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn

from zoo.layers.hetconv import HetConv2d
from zoo.layers.reparam import deploy_form
from zoo.registry import get_entry

CONVENTION = (
    "1 MAC = one multiply-add (FLOPs = 2 x MACs); macs = conv+linear+matmul on the deploy form "
    "(BN folded), batch 1, HetConv by the paper's formula; other_ops = BN/elementwise/pooling"
)

# fvcore operator names whose counts are multiply-adds
MAC_OPERATORS = frozenset({"conv", "linear", "addmm", "matmul", "bmm", "mm", "einsum", "baddbmm"})
_ELEMENTWISE = ("aten::relu", "aten::relu_", "aten::add", "aten::add_", "aten::mul", "aten::mul_", "aten::sub",
                "aten::div", "aten::sigmoid", "aten::sigmoid_", "aten::hardswish", "aten::hardswish_",
                "aten::hardsigmoid", "aten::hardsigmoid_", "aten::silu", "aten::silu_", "aten::gelu",
                "aten::clamp", "aten::clamp_", "aten::hardtanh", "aten::hardtanh_", "aten::relu6", "aten::tanh")
_POOLING = ("aten::max_pool2d", "aten::avg_pool2d", "aten::adaptive_avg_pool2d", "aten::mean",
            "aten::adaptive_max_pool2d")


@dataclass
class ModelCosts:
    """Costs of one variant's deploy form at batch 1."""

    name: str
    family: str
    input_size: tuple[int, int, int]
    macs: int
    executed_macs: int
    other_ops: int
    params: int
    activations: int
    unsupported_ops: dict[str, int] = field(default_factory=dict)
    impl: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _out_numel(inputs, outputs) -> int:
    from fvcore.nn.jit_handles import get_shape
    return _numel(get_shape(outputs[0]))


def _in_numel(inputs, outputs) -> int:
    from fvcore.nn.jit_handles import get_shape
    return _numel(get_shape(inputs[0]))


_ACTIVATION_LAYERS = (nn.Conv2d, nn.Linear, HetConv2d)


class _LayerOutputRecorder:
    """Forward hooks that record, during the one forward pass fvcore traces, the output H, W of
    every HetConv2d (by module name) and the output elements of conv / linear / HetConv layers
    (the activation count)."""

    def __init__(self, model: nn.Module) -> None:
        self.sizes: dict[str, tuple[int, int]] = {}
        self.activations = 0
        self._hooks = [mod.register_forward_hook(self._hook(name))
                       for name, mod in model.named_modules() if isinstance(mod, _ACTIVATION_LAYERS)]

    def _hook(self, name: str):
        # HetConv2d runs functional convs, so its output is counted once however many it runs
        def hook(mod, _inputs, out) -> None:
            if isinstance(mod, HetConv2d):
                self.sizes[name] = (int(out.shape[-2]), int(out.shape[-1]))
            self.activations += int(out.numel())
        return hook

    def remove(self) -> None:
        """Detach the hooks."""
        for h in self._hooks:
            h.remove()


def flop_analysis(model: nn.Module, example: torch.Tensor):
    """fvcore's FlopCountAnalysis of `model` on `example` with this module's op handles (elementwise
    ops per output element, pooling per input element) and its warnings off; nothing is traced until
    a count is asked for. `bench profile` splits the same counts per layer, so they add up to these."""
    from fvcore.nn import FlopCountAnalysis

    flops = FlopCountAnalysis(model, example)
    for op in _ELEMENTWISE:
        flops.set_op_handle(op, _out_numel)
    for op in _POOLING:
        flops.set_op_handle(op, _in_numel)
    return flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)


def count_module(model: nn.Module, example: torch.Tensor) -> dict[str, Any]:
    """Count costs of `model` (already in its deploy form) on `example` (batch 1).

    Returns a dict with macs, executed_macs, other_ops, params, activations, unsupported_ops.
    """
    model.eval()
    recorder = _LayerOutputRecorder(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flops = flop_analysis(model, example)
        try:
            by_op = flops.by_operator()  # the single traced forward pass; the hooks fire in it
        finally:
            recorder.remove()
        by_mod_op = flops.by_module_and_operator()
        unsupported = dict(flops.unsupported_ops())

    executed = sum(v for k, v in by_op.items() if k in MAC_OPERATORS)
    other = sum(v for k, v in by_op.items() if k not in MAC_OPERATORS)
    macs, params = executed, 0
    het_sizes, activations = recorder.sizes, recorder.activations
    het_names = set()
    for name, mod in model.named_modules():
        if isinstance(mod, HetConv2d):
            het_names.add(name)
            ran = sum(v for k, v in by_mod_op.get(name, {}).items() if k in MAC_OPERATORS)
            h, w = het_sizes.get(name, (0, 0))
            macs += mod.paper_macs(h, w) * example.shape[0] - ran
            params += mod.paper_params()
    for name, p in model.named_parameters():
        if name.rpartition(".")[0] not in het_names:
            params += p.numel()
    return dict(macs=int(macs), executed_macs=int(executed), other_ops=int(other), params=int(params),
                activations=activations, unsupported_ops=dict(sorted(Counter(unsupported).items())))


def example_input(name: str, batch: int = 1) -> torch.Tensor:
    """A random input of the variant's input size (seeded, so counts are reproducible)."""
    c, h, w = get_entry(name).meta.input_size
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, c, h, w, generator=gen)


def _costs_worker_init(saved_specs: list | None = None) -> None:
    # the CLI's warning filters do not reach spawned workers; fvcore's jit deprecation noise says nothing
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import zoo  # noqa: F401 - registers every family in the worker
    from zoo.derived import register_saved_specs

    register_saved_specs(saved_specs or [])  # the parent's saved variants: `import zoo` loads none

    torch.set_num_threads(1)  # one process per core


def _costs_row(args: tuple[str, str | None]) -> dict[str, Any]:
    return model_costs(*args).to_dict()


def many_model_costs(names: list[str], impl: str | None = None, jobs: int = 1,
                     on_done: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """`model_costs(...).to_dict()` for every name, in order, over `jobs` worker processes.

    Counting is dominated by the traced forward pass, which one core runs as fast as two for
    batch 1, so one single-threaded process per core is the fastest way through a whole zoo.
    """
    from zoo.sources import source_of

    # user models are registered in this process only (a spawned worker would not know them)
    if jobs <= 1 or len(names) < 4 or any(source_of(n) for n in names):
        rows = []
        for n in names:
            rows.append(model_costs(n, impl).to_dict())
            if on_done:
                on_done()
        return rows
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from zoo.derived import saved_variant_specs

    # spawn, not fork: a forked child of a process that already ran OpenMP work can hang
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_costs_worker_init,
                             initargs=(saved_variant_specs(names),)) as pool:
        futures = [pool.submit(_costs_row, (n, impl)) for n in names]
        for f in futures:
            f.add_done_callback(lambda _f: on_done() if on_done else None)
        return [f.result() for f in futures]


def model_costs(name: str, impl: str | None = None) -> ModelCosts:
    """Costs of registered variant `name` in its deploy form (HetConv impl `impl` if given)."""
    entry = get_entry(name)
    model = deploy_form(entry.build(), impl=impl, inplace=True)
    counts = count_module(model, example_input(name))
    impls = sorted({m.impl for m in model.modules() if isinstance(m, HetConv2d)})
    return ModelCosts(name=name, family=entry.meta.family, input_size=tuple(entry.meta.input_size),
                      impl=",".join(impls) or None, **counts)
