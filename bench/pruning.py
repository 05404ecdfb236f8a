"""Criterion-based structural pruning to a target MACs ratio, through Torch-Pruning (DepGraph).

Torch-Pruning 1.6 builds a dependency graph of the model, groups every set of channels that
must be removed together (a conv's filters, the next conv's inputs, the BN between, residual
adds) and removes the least important groups, so the result is a physically smaller model.
Importance criteria: L1 / L2 filter magnitude, FPGM (distance to the geometric median), Taylor
(|weight x gradient| of a loss) and random.

Torch-Pruning takes a channel ratio, not a MACs target: `prune_to_macs` searches the channel
ratio (each trial prunes a fresh copy) until the MACs ratio counted by `bench.costs.count_module`
(conv + linear, batch 1) is within tolerance of the target.

Two things are kept out of the graph's reach:
- the classifier's outputs (the number of classes must not change);
- channel groups that pass through an op Torch-Pruning maps one-to-one although it changes the
  channel count: a channel-padding `F.pad` (option-A shortcuts of the CIFAR ResNets) or a module
  it cannot prune (HetConv2d, any layer holding its own parameters that it does not know).
  Those groups keep their width; the rest (e.g. the inner convs of each residual block) is pruned.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.costs import count_module
from bench.errors import BenchError

CRITERIA = ("l1", "l2", "fpgm", "taylor", "random")
SCOPES = ("local", "global")

# layers Torch-Pruning knows how to slice (anything else holding parameters is left whole)
_KNOWN_PARAM_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear, nn.modules.batchnorm._BatchNorm,
                       nn.LayerNorm, nn.GroupNorm, nn.PReLU, nn.Embedding)


def _torch_pruning():
    try:
        import torch_pruning as tp
    except ImportError:
        raise BenchError("pruning needs torch-pruning==1.6.1: pip install 'zoobench[prune]'") from None
    return tp


@dataclass
class PruneOutcome:
    """A pruned model and how close it came to the target."""

    model: nn.Module
    target_ratio: float
    parent_macs: int
    macs: int
    channel_ratio: float  # Torch-Pruning's per-layer channel ratio that produced it
    trials: int
    frozen: list[str]  # layers whose output channels were left whole (classifier, padded shortcuts, unknown layers)

    @property
    def macs_ratio(self) -> float:
        """Achieved MACs / parent MACs."""
        return self.macs / self.parent_macs

    @property
    def relative_error(self) -> float:
        """(achieved - target) / target."""
        return self.macs_ratio / self.target_ratio - 1


def make_importance(criterion: str):
    """The Torch-Pruning importance estimator for `criterion` (one of CRITERIA)."""
    tp = _torch_pruning()
    imp = tp.importance
    table = {
        "l1": lambda: imp.GroupMagnitudeImportance(p=1),
        "l2": lambda: imp.GroupMagnitudeImportance(p=2),
        "fpgm": lambda: imp.FPGMImportance(p=2),
        "taylor": lambda: imp.GroupTaylorImportance(),
        "random": lambda: imp.RandomImportance(),
    }
    if criterion not in table:
        raise BenchError(f"unknown criterion '{criterion}'; choose from {', '.join(CRITERIA)}")
    return table[criterion]()


def classifier_layer(model: nn.Module, example: torch.Tensor) -> str | None:
    """Name of the last conv/linear layer that runs (the one producing the class scores)."""
    last: list[str] = []
    hooks = [m.register_forward_hook(lambda *_a, n=n: last.append(n)) for n, m in model.named_modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    return last[-1] if last else None


def _foreign_modules(model: nn.Module) -> set[nn.Module]:
    """Layers Torch-Pruning cannot slice, with everything inside them."""
    from zoo.layers.hetconv import HetConv2d

    out: set[nn.Module] = set()
    for m in model.modules():
        own = any(True for _ in m.parameters(recurse=False))
        if isinstance(m, HetConv2d) or (own and not isinstance(m, _KNOWN_PARAM_LAYERS)):
            out.update(m.modules())
    return out


def _pads_channels(node) -> bool:
    grad_fn = getattr(node, "grad_fn", None)
    if grad_fn is None or "ConstantPadNd" not in type(grad_fn).__name__:
        return False
    pad = getattr(grad_fn, "_saved_pad", None)
    if pad is None:
        return True  # cannot tell which dimension: assume the worst
    pad = list(pad)
    # F.pad lists dims from the last backwards; on NCHW, entries 4-5 are the channel dim
    return len(pad) >= 6 and any(pad[4:6])


def frozen_layers(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Names of the layers whose output channels must not be pruned (see the module docstring)."""
    tp = _torch_pruning()
    model.eval()
    keep = [n for n in [classifier_layer(model, example)] if n]
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example)
    names = {m: n for n, m in model.named_modules()}
    foreign = _foreign_modules(model)
    ignored = [model.get_submodule(n) for n in keep]
    for group in graph.get_all_groups(ignored_layers=ignored, root_module_types=[nn.Conv2d, nn.Linear]):
        root = group[0].dep.target.module
        if any(_pads_channels(dep.target) or dep.target.module in foreign for dep, _ in group):
            keep.append(names[root])
    for m in foreign:  # never a root either
        if isinstance(m, (nn.Conv2d, nn.Linear)) and names[m] not in keep:
            keep.append(names[m])
    return keep


def _loss_gradients(model: nn.Module, example: torch.Tensor, num_classes: int, seed: int) -> dict[str, torch.Tensor]:
    """Parameter gradients of a cross-entropy loss on a seeded synthetic batch (for Taylor importance)."""
    gen = torch.Generator().manual_seed(seed)
    batch = torch.randn((4,) + tuple(example.shape[1:]), generator=gen)
    labels = torch.randint(0, num_classes, (4,), generator=gen)
    model.eval()  # running BN statistics: a synthetic batch must not move them
    model.zero_grad(set_to_none=True)
    out = model(batch)
    F.cross_entropy(out.reshape(out.shape[0], -1)[:, :num_classes], labels).backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def _prune_copy(model: nn.Module, example: torch.Tensor, criterion: str, channel_ratio: float, frozen: list[str],
                round_to: int | None, grads: dict[str, torch.Tensor], seed: int, global_scope: bool) -> nn.Module:
    tp = _torch_pruning()
    m = copy.deepcopy(model).eval()
    for n, p in m.named_parameters():
        if n in grads:
            p.grad = grads[n].clone()
    torch.manual_seed(seed)  # random importance: the same draw for every trial
    pruner = tp.pruner.BasePruner(
        m, example, importance=make_importance(criterion), pruning_ratio=channel_ratio,
        ignored_layers=[m.get_submodule(n) for n in frozen], round_to=round_to, global_pruning=global_scope)
    pruner.step()
    m.zero_grad(set_to_none=True)
    return m


class _RatioSearch:
    """Root finding for MACs(channel ratio) = target by false position (Illinois variant).

    MACs fall roughly with the square of the kept channel share, so the first guess is
    1 - sqrt(target); later guesses interpolate inside the bracket, which takes 2-4 prunings
    where bisection takes 6-15. The bracket starts at ratio 0 (MACs ratio 1) and 1 (taken as 0).
    """

    MAX_CHANNEL_RATIO = 0.99  # Torch-Pruning needs at least one channel per layer

    def __init__(self, target: float) -> None:
        self.target = target
        self.lo, self.f_lo = 0.0, 1.0 - target
        self.hi, self.f_hi = 1.0, -target
        self.side = 0
        self.guess = 1.0 - target ** 0.5

    def next_ratio(self) -> float:
        """The channel ratio to try next."""
        return min(self.guess, self.MAX_CHANNEL_RATIO)

    def update(self, ratio: float, macs_ratio: float) -> bool:
        """Record a trial; False when the bracket is too narrow to go on."""
        f = macs_ratio - self.target
        if f > 0:  # not pruned enough: the root lies above `ratio`
            self.lo, self.f_lo = ratio, f
            if self.side == 1:
                self.f_hi /= 2  # Illinois: keep the stale end from pinning the interpolation
            self.side = 1
        else:
            self.hi, self.f_hi = ratio, f
            if self.side == -1:
                self.f_lo /= 2
            self.side = -1
        if self.hi - self.lo < 1e-4 or self.lo >= self.MAX_CHANNEL_RATIO:
            return False
        guess = self.hi - self.f_hi * (self.hi - self.lo) / (self.f_hi - self.f_lo)
        margin = 1e-3 * (self.hi - self.lo)
        # MACs are a step function of channel counts: stay strictly inside the bracket
        self.guess = guess if self.lo + margin < guess < self.hi - margin else (self.lo + self.hi) / 2
        return True


def prune_to_macs(model: nn.Module, example: torch.Tensor, criterion: str, macs_ratio: float,
                  round_to: int | None = None, scope: str = "local", tolerance: float = 0.01, max_trials: int = 18,
                  seed: int = 0) -> PruneOutcome:
    """Prune a copy of `model` with `criterion` until its MACs are `macs_ratio` x the original's.

    scope="local": every prunable layer loses the same share of channels, so the widths follow
    from the ratio alone and the criterion only picks which channels go. scope="global":
    channels are ranked across layers, so the widths (and the latency) depend on the weights.
    Searches Torch-Pruning's channel ratio; stops at a relative error within `tolerance` or after
    `max_trials` prunings, returning the closest model found (check `relative_error`). The
    input model is not modified. Taylor importance uses gradients on a seeded synthetic batch.
    """
    if scope not in SCOPES:
        raise BenchError(f"unknown scope '{scope}'; choose from {', '.join(SCOPES)}")
    if not 0 < macs_ratio < 1:
        raise BenchError(f"--macs-ratio must be in (0, 1), got {macs_ratio}")
    make_importance(criterion)  # validates the name before any work
    model = model.eval()
    with torch.no_grad():
        out_shape = tuple(model(example).shape)
    parent_macs = count_module(model, example)["macs"]
    frozen = frozen_layers(model, example)
    grads = _loss_gradients(model, example, out_shape[-1], seed) if criterion == "taylor" else {}
    search = _RatioSearch(macs_ratio)
    best: PruneOutcome | None = None
    for trial in range(1, max_trials + 1):
        ratio = search.next_ratio()
        pruned = _prune_copy(model, example, criterion, ratio, frozen, round_to, grads, seed, scope == "global")
        macs = count_module(pruned, example)["macs"]
        cand = PruneOutcome(pruned, macs_ratio, parent_macs, macs, ratio, trial, frozen)
        if best is None or abs(cand.relative_error) < abs(best.relative_error):
            best = cand
        best.trials = trial
        if abs(best.relative_error) <= tolerance or not search.update(ratio, cand.macs_ratio):
            break
    assert best is not None
    with torch.no_grad():
        got = tuple(best.model(example).shape)
    if got != out_shape:
        raise BenchError(f"pruning changed the output shape from {out_shape} to {got}")
    return best


def load_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Load a state_dict (or {'state_dict': ...}) from `path` into `model`, strictly.

    Uses torch.load(weights_only=True): no pickled code runs. Any mismatch raises BenchError
    with one line naming the first differences.
    """
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"checkpoint '{path}' not found")
    try:
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        # torch's own message suggests weights_only=False, which we never do: name the cause instead
        raise BenchError(f"checkpoint '{path}' cannot be read safely as weights (not a torch.save file of tensors: "
                         f"{type(exc).__name__})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BenchError(f"checkpoint '{path}' holds no state_dict of tensors")
    if obj and all(k.startswith("module.") for k in obj):  # saved from DataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    problem = state_dict_mismatch(model, obj)
    if problem:
        raise BenchError(f"checkpoint '{path}' does not match the model: {problem}")
    model.load_state_dict(obj, strict=True)


def state_dict_mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str:
    """'' if `state` fits `model` exactly, else a short description of the first differences."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
        if items:
            more = f" (+{len(items) - 2} more)" if len(items) > 2 else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:2])}{more}")
    return "; ".join(parts)
